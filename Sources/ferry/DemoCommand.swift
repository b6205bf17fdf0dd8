import ArgumentParser
import FerryAgent
import FerryCore
import FerryModels
import FerryWorkspace
import Foundation

/// `make demo`: copies the bundled example to a temporary repository and runs a real task on it, offline, with the
/// embedded local model (installed on first use). `--scripted` swaps the model for an in-process `ScriptedModel`
/// that replays a fixed conversation, to show the flow in a second.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run Ferry end to end on the bundled example repository.")

    @Option(help: "The example repository to copy.") var example = "examples/cart"
    @Option(help: "bubblewrap (default) or none.") var sandbox: FerryConfig.SandboxMode?
    @Flag(help: "Print a JSONL event stream.") var json = false
    @Flag(help: "Replay a fixed conversation instead of running the local model.") var scripted = false
    @Option(help: "Tool protocol for the local model: native or text.") var toolProtocol: ModelProfile.ToolProtocol?

    func run() async throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: example + "/TASK.md") else {
            throw FerryError(.usage, "\(example) is not an example (no TASK.md); run from the Ferry checkout")
        }
        let directory = fm.temporaryDirectory.appendingPathComponent("ferry-demo-\(UUID().uuidString.prefix(8))").path
        try fm.copyItem(atPath: example, toPath: directory)
        let task = String(decoding: fm.contents(atPath: directory + "/TASK.md")!, as: UTF8.self)
        try fm.removeItem(atPath: directory + "/TASK.md")
        try await Git.initialize(directory)

        var loaded = try ConfigLoader.load(repo: directory)
        if let sandbox { loaded.sandbox = sandbox }
        let config = loaded
        print("Demo repository: \(directory)")
        print("Task: \(task.trimmingCharacters(in: .whitespacesAndNewlines))")
        let result: RunResult
        if scripted {
            print("Model: a SCRIPTED model replaying a fixed conversation (not a real model).")
            print("       Sandbox, git, tests and store are real.\n")
            fflush(nil)
            let profile = ModelProfile(
                name: "demo", provider: .openai, model: "scripted-demo", apiKeyEnv: "",
                price: Price(input: 0.40, output: 1.60, cachedInput: 0.10))
            // The script is a tool-loop conversation; the whole-file attempt would spend its first replies.
            var scriptedConfig = config
            scriptedConfig.firstAttempt = .off
            result = try await Session.run(
                task: task, repo: directory, base: nil, model: ScriptedModel(profile: profile, replies: Self.script),
                apiKey: nil, config: scriptedConfig, keepWorktree: false, json: json)
        } else {
            var profile = config.profiles["local"]!
            if let toolProtocol { profile.toolProtocol = toolProtocol }
            print("Model: \(profile.model) on llama.cpp, offline (\(profile.toolProtocol.rawValue) tool protocol).")
            print(
                "       First use installs it: 1.1 GB and llama.cpp's prebuilt server from PyPI (a build if that cannot run here).\n"
            )
            fflush(nil)
            result = try await Session.run(
                task: task, repo: directory, base: nil, profile: profile, apiKey: nil, config: config,
                keepWorktree: false, json: json, installModel: true)
        }
        if !json {
            print("Diff:\n\(result.diff.isEmpty ? "(none)\n" : result.diff)")
            print("Trace: \(result.record.runDirectory)/trace.jsonl")
        }
        throw ExitCode(result.status.exitCode)
    }

    static let script: [ModelReply] = [
        ScriptedModel.call("search", ["pattern": "def total|discount"], text: "Let me find the discount logic."),
        ScriptedModel.call("read_file", ["path": "cart.py"]),
        ScriptedModel.call(
            "shell", ["command": "python3 -m unittest -v 2>&1 | tail -15"], text: "Reproduce with the tests."),
        ScriptedModel.call(
            "edit_file",
            ["path": "cart.py", "old": "    if item_count(items) > 10:", "new": "    if item_count(items) >= 10:"],
            text: "The comparison excludes exactly 10 items; make it inclusive."),
        ScriptedModel.call("shell", ["command": "python3 -m unittest -v 2>&1 | tail -8"]),
        ScriptedModel.call(
            "finish",
            [
                "summary":
                    "The bulk discount used `> 10`, so a cart of exactly 10 items paid full price. Changed it to `>= 10` in cart.total, as the docstring says."
            ]),
    ]
}
