import FerryAgent
import FerryCore
import FerryServer
import FerryStore
import FerryTesting
import Foundation
import Testing

/// A project's own `.ferry/config.toml`, read by the worker at the task's base: it sets the test command, may only
/// tighten the sandbox and the limits, and a broken one fails the task with a reason that names it.
@Suite struct WorkerConfigTests {
    static func server() async throws -> (TeamServer, Tenant) {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-wcfg-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        _ = try await server.bootstrap()
        return (server, try #require(try await server.store.tenant(named: "default")))
    }

    @Test(arguments: [40, 2]) func theRepositorysConfigAppliesWithinTheServersLimits(serverSteps: Int) async throws {
        var files = ServerAPITests.files
        files[".ferry/config.toml"] = """
            [project]
            test_command = "python3 -m unittest"

            [limits]
            max_steps = 1000

            [sandbox]
            mode = "none"
            """
        let repo = try await FixtureRepo.make(files)
        let (server, tenant) = try await Self.server()
        // No test command on the project: only the repository's file names one.
        let project = try await server.store.createProject(
            Project(
                id: "prj_cfg", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                testCommand: nil,
                createdAt: Date()))
        var config = FerryConfig(dataDirectory: server.dataDirectory + "/runs")
        config.firstAttempt = .off
        config.limits.maxSteps = serverSteps
        let frozen = config
        try await FakeModelServer.with(
            .openai, script: ServerAPITests.script + [.call("read_file", ["path": "calc.py"])]
        ) { fake in
            let (task, _) = try await server.store.createTask(
                NewTask(projectID: project.id, task: "add() is wrong; fix it"), tenantID: tenant.id, now: Date())
            let (worker, client) = fakeWorker(fake, server: server, config: frozen)
            let claimed = try #require(try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy()))
            await worker.execute(claimed)
            try await client.shutdown()
            let done = try #require(try await server.store.task(id: task.id))
            // With the server's 2 steps against the file's 1000, the run stops at the limit after two calls.
            #expect(done.state == (serverSteps == 2 ? .limit : .verified), "\(done)")
            #expect(fake.remainingSteps == (serverSteps == 2 ? 2 : 1))
            let events = try await server.runStore.events(of: try #require(done.runID))
            let warnings = events.compactMap { event -> String? in
                if case .configWarning(let message) = event.event { return message.message }
                return nil
            }
            #expect(
                warnings.contains { $0.contains("calc:.ferry/config.toml at main") && $0.contains("mode") },
                "\(warnings)")
        }
    }

    @Test func aBrokenRepositoryConfigFailsTheTaskAndSaysWhere() async throws {
        var files = ServerAPITests.files
        files[".ferry/config.toml"] = "[project]\ntest_command = 5\n"
        let repo = try await FixtureRepo.make(files)
        let (server, tenant) = try await Self.server()
        let project = try await server.store.createProject(
            Project(
                id: "prj_bad", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                testCommand: nil,
                createdAt: Date()))
        try await FakeModelServer.with(.openai, script: []) { fake in
            let (task, _) = try await server.store.createTask(
                NewTask(projectID: project.id, task: "fix it"), tenantID: tenant.id, now: Date())
            let (worker, client) = fakeWorker(
                fake, server: server, config: FerryConfig(dataDirectory: server.dataDirectory + "/runs"))
            await worker.execute(
                try #require(try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy())))
            try await client.shutdown()
            let done = try #require(try await server.store.task(id: task.id))
            #expect(
                done.state == .failed && done.reason?.contains("calc:.ferry/config.toml at main") == true, "\(done)")
            #expect(fake.requests.isEmpty)
        }
    }
}
