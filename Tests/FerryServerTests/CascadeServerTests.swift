import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

/// A task whose model is a cascade runs its stages on a worker, each with its own profile's model, under the task's
/// one budget; the task reports every stage and links the run whose change it hands back.
@Suite struct CascadeServerTests {
    @Test func aCascadedTaskRunsItsSecondProfileOnlyAfterAnUnprovedChange() async throws {
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-cascade-server-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        var config = FerryConfig(dataDirectory: data + "/runs")
        config.firstAttempt = .off
        config.limits = AgentLimits(maxSteps: 20, repairRounds: 1)
        let frozen = config
        let wrong: [FakeStep] =
            [
                .call("read_file", ["path": "calc.py"]),
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a * b"]),
            ] + Array(repeating: .call("finish", ["summary": "multiplies"]), count: 4)
        try await FakeModelServer.with(.openai, script: wrong) { cheap in
            try await FakeModelServer.with(.openai, script: ServerAPITests.script) { strong in
                let fakes = ["cheap": (cheap, "small-model"), "strong": (strong, "gpt-4.1-mini")]
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                let worker = Worker(
                    id: "w", store: server.store, runStore: server.runStore, config: frozen,
                    policy: QueuePolicy(leaseSeconds: 30), pollSeconds: 0.2, projects: server.policy
                ) { name in
                    let (fake, model) = try #require(fakes[name ?? ""], "profile \(name ?? "nil")")
                    let profile = ModelProfile(
                        name: name ?? "", provider: .openai, baseURL: fake.baseURL, model: model, apiKeyEnv: "")
                    return ModelFactory.make(
                        profile: profile, apiKey: nil, client: client, retry: RetryPolicy(maxAttempts: 1))
                }
                try await server.serving(workers: [worker]) { port in
                    let api = ServerAPITests.Client(port: port)
                    _ = try await api.send(
                        .POST, "/v1/projects", key: admin,
                        body: [
                            "name": "calc", "repo": .string(repo), "base": "main",
                            "test_command": "python3 -m unittest",
                        ])
                    let created = try await api.send(
                        .POST, "/v1/tasks", key: admin,
                        body: [
                            "project": "calc", "task": "add() returns the wrong sum; fix it", "model": "cheap>strong",
                        ])
                    let id = try #require(created.json["id"]?.stringValue, "\(created.body)")
                    var task = JSONValue.null
                    for _ in 0..<600 {
                        task = try await api.send(.GET, "/v1/tasks/\(id)", key: admin).json
                        if ["verified", "unverified", "failed", "limit"].contains(task["status"]?.stringValue ?? "") {
                            break
                        }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    #expect(task["status"] == "verified", "\(task)")
                    #expect(task["model"] == "cheap>strong")
                    let reason = task["reason"]?.stringValue ?? ""
                    #expect(reason.contains("cascade: cheap failed") && reason.contains("strong verified"), "\(reason)")
                    #expect(reason.contains("the change is strong's"))
                    #expect(strong.requests.first?.jsonString.contains("What earlier attempts found") == true)
                    // The task links the run whose change it hands back (the strong stage's).
                    let run = try #require(task["run_id"]?.stringValue)
                    #expect(try await server.runStore.run(run)?.model == "gpt-4.1-mini")
                }
                try await client.shutdown()
            }
        }
    }
}
