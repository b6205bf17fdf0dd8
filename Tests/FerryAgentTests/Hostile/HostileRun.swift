import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryTesting
import FerryWorkspace
import Foundation

/// One whole run for the hostile-input suite: a scripted model over real HTTP, a real repository, the real
/// bubblewrap sandbox (unless the config says otherwise), the real store.
struct HostileRun: Sendable {
    var result: RunResult
    var events: [RunEvent]
    var trace: String
    var requests: [JSONValue]
    var store: SQLiteRunStore
    var repo: String

    static let secret = "fake-secret-for-hostile-tests-not-a-key"

    /// A buggy `calc.add` and a unittest suite that fails on it.
    static let calcFiles = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
    ]

    static func run(
        files: [String: String] = calcFiles, script: [FakeStep], task: String = "add() returns the wrong sum; fix it",
        testCommand: String? = "python3 -m unittest", limits: AgentLimits = AgentLimits(repairRounds: 0),
        retry: RetryPolicy = RetryPolicy(maxAttempts: 1, baseDelay: 0.01),
        hostEnvironment: [String: String]? = nil,
        configure: @Sendable (inout FerryConfig) -> Void = { _ in }
    ) async throws -> HostileRun {
        let repo = try await FixtureRepo.make(files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-hostile-\(UUID().uuidString.prefix(8))"
        ).path
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = testCommand
        config.limits = limits
        config.firstAttempt = .off
        // The index and its repo map are not what these runs test; without them the time limits measure the loop.
        config.repoMapTokens = 0
        configure(&config)
        let store = try SQLiteRunStore(path: config.storePath)
        let frozen = config
        return try await FakeModelServer.with(.openai, script: script) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(profile: profile, apiKey: secret, client: client, retry: retry)
            var makeRunner: AgentRunner.RunnerFactory?
            if let hostEnvironment {
                makeRunner = { (policy: SandboxPolicy) throws -> any CommandRunner in
                    try BubblewrapRunner(policy: policy, hostEnvironment: hostEnvironment)
                }
            }
            let runner = AgentRunner(
                model: model, store: store, config: frozen, secrets: [secret], makeRunner: makeRunner)
            let result: RunResult
            do {
                result = try await runner.run(RunRequest(task: task, repo: repo))
            } catch {
                try await client.shutdown()
                throw error
            }
            try await client.shutdown()
            let events = try await store.events(of: result.record.id)
            let trace =
                (try? String(contentsOfFile: result.record.runDirectory + "/trace.jsonl", encoding: .utf8)) ?? ""
            return HostileRun(
                result: result, events: events, trace: trace, requests: server.requests, store: store, repo: repo)
        }
    }

    /// The output of each `tool.result` event, in order.
    var toolOutputs: [String] {
        events.filter { $0.type == "tool.result" }.map { $0.data["output"]?.stringValue ?? "" }
    }

    /// Every file a finished run wrote, and its commit message: what must never hold a secret.
    func everythingWritten() async throws -> String {
        let directory = result.record.runDirectory
        var text = ""
        for name in ["summary.md", "result.json", "change.patch", "trace.jsonl"] {
            text += (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
        }
        if let commit = result.record.commitSHA {
            text += try await Git(repo).run("log", "-1", "--format=%B", commit)
            text += try await Git(repo).run("show", commit)
        }
        if let stored = try await store.run(result.record.id) {
            text += "\(stored)"
        }
        for event in try await store.events(of: result.record.id) { text += event.jsonLine }
        return text
    }
}
