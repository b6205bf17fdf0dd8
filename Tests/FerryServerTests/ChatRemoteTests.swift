import FerryAgent
import FerryCore
import FerryServer
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// `ferry chat --server URL --project NAME` in a real terminal: `/run` goes to the team server's queue (a worker
/// runs it), `/diff` shows its change, `/apply` brings it onto the developer's clone (whose history lacks the
/// server's commit, so its diff is applied and committed), `/undo` takes it back.
@Suite struct ChatRemoteTests {
    @Test func runGoesToTheServerAndItsDiffIsAppliedToTheClone() async throws {
        let binary = CrashTests.packageRoot + "/.build/debug/ferry"
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"),
            "install tmux (scripts/setup.sh --test-clients)")
        let origin = try await FixtureRepo.make(CalcFixture.files)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-chat-remote-\(UUID().uuidString.prefix(8))"
        ).path
        let clone = home + "/clone"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        _ = try await Git(home).run("clone", "--quiet", origin, clone)
        let server = try TeamServer(dataDirectory: home + "/server", policy: .tests(data: home + "/server"))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        _ = try await server.store.createProject(
            Project(
                id: "prj_calc", tenantID: tenant.id, name: "calc", repo: origin, base: "main", model: nil,
                testCommand: "python3 -m unittest", createdAt: Date()))
        let (_, member) = try await server.store.createKey(tenantID: tenant.id, role: .member)
        var config = FerryConfig(dataDirectory: home + "/server/runs")
        config.firstAttempt = .off
        let frozen = config

        try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
            try fake.writeConfig(configHome: home + "/config")
            let (worker, client) = fakeWorker(
                fake, server: server, config: frozen, policy: QueuePolicy(leaseSeconds: 30), pollSeconds: 0.2)
            try await server.serving(workers: [worker]) { port in
                let terminal = TmuxTerminal()
                defer { terminal.kill() }
                try await terminal.start(
                    "env XDG_CONFIG_HOME=\(home)/config XDG_DATA_HOME=\(home)/data FERRY_API_KEY=\(member) \(binary) chat "
                        + "--repo \(clone) --model fake --server http://127.0.0.1:\(port) --project calc; sleep 30")
                try await terminal.wait(for: "/run goes to http://127.0.0.1:\(port)")
                try await terminal.type("/run add() returns the wrong sum; fix it")
                // A whole run on the server (clone, baseline, model, tests): a loaded machine has taken over a minute.
                try await terminal.wait(for: ": verified", seconds: 180)
                try await terminal.type("/diff")
                try await terminal.wait(for: "+    return a + b")
                try await terminal.type("/apply")
                try await terminal.wait(for: "/undo takes it back")
                #expect(try String(contentsOfFile: clone + "/calc.py", encoding: .utf8).contains("a + b"))
                let log = try await Git(clone).run("log", "--format=%s", "-1")
                #expect(log.contains("add() returns the wrong sum"), "\(log)")
                try await terminal.type("/undo")
                try await terminal.wait(for: "took back")
                #expect(try String(contentsOfFile: clone + "/calc.py", encoding: .utf8).contains("a - b"))
                // The task is the team's: on the server, made by the member's key.
                let tasks = try await server.store.tasks(
                    tenantID: tenant.id, filter: TaskFilter(), limit: 10, after: nil)
                #expect(tasks.count == 1 && tasks.first?.state.apiName == "verified")
                try await terminal.type("/quit")
                try await terminal.wait(for: "resume with ferry chat")
            }
            try await client.shutdown()
        }
    }
}
