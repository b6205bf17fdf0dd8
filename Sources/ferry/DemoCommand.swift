import ArgumentParser
import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import Foundation

/// `make demo`: copies the bundled example to a temporary repository and runs a real task on it.
///
/// Until the embedded local model lands, the model is a scripted fake OpenAI server that replays a fixed
/// conversation. Everything else is real: the worktree and branch, the bubblewrap sandbox, the project's own
/// tests before and after, the commit, the store and the trace.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run Ferry end to end on the bundled example repository.")

    @Option(help: "The example repository to copy.") var example = "examples/cart"
    @Option(help: "bubblewrap (default) or none.") var sandbox: FerryConfig.SandboxMode?
    @Flag(help: "Print a JSONL event stream.") var json = false

    func run() async throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: example + "/TASK.md") else {
            throw FerryError(.usage, "\(example) is not an example (no TASK.md); run from the Ferry checkout")
        }
        let directory = fm.temporaryDirectory.appendingPathComponent("ferry-demo-\(UUID().uuidString.prefix(8))").path
        try fm.copyItem(atPath: example, toPath: directory)
        let task = String(decoding: fm.contents(atPath: directory + "/TASK.md")!, as: UTF8.self)
        try fm.removeItem(atPath: directory + "/TASK.md")
        try await FixtureRepo.initialize(directory)

        var loaded = try ConfigLoader.load(repo: directory)
        if let sandbox { loaded.sandbox = sandbox }
        let config = loaded
        print("Demo repository: \(directory)")
        print("Task: \(task.trimmingCharacters(in: .whitespacesAndNewlines))")
        print("Model: a SCRIPTED fake OpenAI-compatible server replaying a fixed conversation (not a real model yet;")
        print("       the embedded local model replaces it once it lands). Sandbox, git, tests and store are real.\n")

        let result = try await FakeModelServer.with(.openai, script: Self.script) { server in
            let profile = ModelProfile(
                name: "demo", provider: .openai, baseURL: server.baseURL, model: "scripted-demo", apiKeyEnv: "",
                price: Price(input: 0.40, output: 1.60, cachedInput: 0.10))
            return try await Session.run(
                task: task, repo: directory, base: nil, profile: profile, apiKey: nil, config: config,
                keepWorktree: false, json: json)
        }
        if !json {
            print("Diff:\n\(result.diff)")
            print("(priced as if it were gpt-4.1-mini, to show the accounting)")
        }
        throw ExitCode(result.status.exitCode)
    }

    static let script: [FakeStep] = [
        .call("search", ["pattern": "def total|discount"], text: "Let me find the discount logic."),
        .call("read_file", ["path": "cart.py"]),
        .call("shell", ["command": "python3 -m unittest -v 2>&1 | tail -15"], text: "Reproduce with the tests."),
        .call(
            "edit_file", ["path": "cart.py", "old": "    if item_count(items) > 10:", "new": "    if item_count(items) >= 10:"],
            text: "The comparison excludes exactly 10 items; make it inclusive."),
        .call("shell", ["command": "python3 -m unittest -v 2>&1 | tail -8"]),
        .call("finish", ["summary": "The bulk discount used `> 10`, so a cart of exactly 10 items paid full price. Changed it to `>= 10` in cart.total, as the docstring says."]),
    ]
}
