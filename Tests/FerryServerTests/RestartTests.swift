import FerryCore
import FerrySandbox
import FerryServer
import FerryStore
import FerryTesting
import Foundation
import Testing

/// `ferry serve` (the real binary, embedded store) stopped mid-run — politely with SIGTERM, or killed with SIGKILL —
/// and started again on the same data directory loses nothing: the task finishes on a second attempt, the first
/// attempt's run is closed as interrupted, the spend is counted once, and the project, keys and audit log are there.
@Suite(.serialized) struct RestartTests {
    final class ServeProcess {
        let process: BackgroundProcess
        let log: String

        init(binary: String, port: Int, root: String, name: String) async throws {
            log = root + "/\(name).log"
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_CONFIG_HOME"] = root + "/config"
            environment["XDG_DATA_HOME"] = root + "/data"
            process = try await BackgroundProcess.start(
                binary,
                [
                    "serve", "--port", "\(port)", "--workers", "1", "--lease-seconds", "3", "--project-root",
                    FileManager.default.temporaryDirectory.path,
                ], environment: environment, stdout: .file(log), stderr: .output)
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// Exited by itself with status 0, no crash report written.
        var endedCleanly: Bool {
            process.exit == .exited(0) && !output.contains("Fatal error") && !output.contains("crashed")
        }

        /// Sends `signal` and waits (without blocking a thread) for the process to end.
        func stop(_ signal: Int32) async throws -> Bool {
            process.signal(signal)
            if await process.wait(upTo: .seconds(30)) != nil { return true }
            process.signal(SIGKILL)
            return false
        }
    }

    static func waitForHealth(_ client: ServerAPITests.Client, _ serve: ServeProcess) async throws {
        for _ in 0..<300 {
            if (try? await client.send(.GET, "/healthz", key: nil).status) == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the server never answered: \(serve.output)")
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func aServerStoppedMidRunAndStartedAgainLosesNothing(signal: Int32) async throws {
        let binary = CrashTests.packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the ferry binary first")
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-restart-\(UUID().uuidString.prefix(8))"
        ).path
        // The first attempt's model call never answers; the attempt after the restart gets the fix.
        let script: [FakeStep] = [.delay(seconds: 60, then: FakeReply(text: "too late"))] + ServerAPITests.script
        try await FakeModelServer.with(.openai, script: script) { fake in
            try fake.writeConfig(configHome: root + "/config")
            let port = unusedLocalPort()
            let client = ServerAPITests.Client(port: port)
            let first = try await ServeProcess(binary: binary, port: port, root: root, name: "first")
            try await Self.waitForHealth(client, first)
            let keyPath = root + "/data/ferry/server/admin.key"
            let admin = try String(contentsOfFile: keyPath, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            let project = try await client.send(
                .POST, "/v1/projects", key: admin,
                body: ["name": "calc", "repo": .string(repo), "model": "fake", "test_command": "python3 -m unittest"])
            #expect(project.status == 201, "\(project.body)")
            let created = try await client.send(
                .POST, "/v1/tasks", key: admin, body: ["project": "calc", "task": "add() is wrong; fix it"])
            let id = try #require(created.json["id"]?.stringValue, "\(created.body)")

            // Mid-run: the run exists and its model call is hanging.
            var running = JSONValue.null
            for _ in 0..<200 {
                running = try await client.send(.GET, "/v1/tasks/\(id)", key: admin).json
                if running["status"] == "running", running["run_id"]?.stringValue != nil, !fake.requests.isEmpty {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let firstRun = try #require(running["run_id"]?.stringValue, "never started: \(running) \(first.output)")
            #expect(try await first.stop(signal), "the server did not stop on signal \(signal): \(first.output)")
            if signal == SIGTERM { #expect(first.endedCleanly, "\(first.output)") }

            let second = try await ServeProcess(binary: binary, port: port, root: root, name: "second")
            defer { second.process.signal(SIGKILL) }
            try await Self.waitForHealth(client, second)
            var task = JSONValue.null
            for _ in 0..<300 {
                // A pooled connection to the first server may be reset once.
                task = (try? await client.send(.GET, "/v1/tasks/\(id)", key: admin).json) ?? .null
                if let status = task["status"]?.stringValue, !["queued", "running"].contains(status) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(task["status"] == "verified" && task["attempt"] == 2, "\(task) \(second.output)")
            let errors = task["errors"]?.arrayItems?.compactMap(\.stringValue) ?? []
            #expect(errors.count == 1, "\(errors)")
            #expect(
                errors.first?.contains(signal == SIGTERM ? "handed back: its worker shut down" : "attempt 1 lost")
                    == true, "\(errors)")
            #expect(try await client.send(.GET, "/v1/tasks/\(id)/diff", key: admin).body.contains("+    return a + b"))
            // Spend: the second attempt's three calls, once; the first attempt never got an answer.
            #expect(abs((task["cost_usd"]?.doubleValue ?? 0) - 3 * 0.000072) < 1e-9)
            // The key, the project and the audit log outlived the restart; no second admin key was made.
            #expect(!second.output.contains("created tenant"))
            #expect(
                try String(contentsOfFile: keyPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    == admin)
            let audit = try await client.send(.GET, "/v1/audit", key: admin).json["data"]?.arrayItems ?? []
            #expect(audit.compactMap { $0["action"]?.stringValue }.sorted() == ["project.create", "task.create"])
            // The first attempt's run is closed as interrupted (by its own worker on SIGTERM, by the restarted
            // server's reconcile on SIGKILL); the second ran to the end, its events whole and in order.
            let runs = try SQLiteRunStore(path: root + "/data/ferry/server/runs.sqlite")
            let lost = try #require(try await runs.run(firstRun))
            #expect(lost.status == .interrupted, "\(lost.status) \(lost.reason)")
            let finalRun = try #require(task["run_id"]?.stringValue)
            #expect(finalRun != firstRun)
            let events = try await runs.events(of: finalRun)
            #expect(
                events.filter { $0.type == "run.finished" }.count == 1 && events.map(\.seq) == Array(1...events.count))
            // A server that has run a task stops cleanly too (it once crashed dropping its model's HTTP client).
            #expect(try await second.stop(SIGTERM) && second.endedCleanly, "\(second.output)")
        }
    }
}
