import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryServer
import FerryTesting
import Foundation
import Testing

/// A worker process killed with SIGKILL mid-run, on PostgreSQL: its lease runs out, another worker rescues the task
/// and finishes it, and the task, its events and its spend are there once.
@Suite struct CrashTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A server on a fresh PostgreSQL database, its default tenant, the calculator fixture and a folder for the rest.
    struct Setup {
        var url: String
        var root: String
        var repo: String
        var server: TeamServer
        var tenant: Tenant
    }

    /// The setup for the scope of `body`: the server's database client runs as a child of it.
    static func withSetup<T: Sendable>(_ label: String, _ body: @Sendable (Setup) async throws -> T) async throws -> T {
        let url = try await PostgresCluster.freshDatabase()
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-\(label)-\(UUID().uuidString.prefix(8))"
        ).path
        return try await TeamServer.withPostgres(
            url: url, dataDirectory: root + "/server", policy: .tests(data: root + "/server")
        ) { server in
            _ = try await server.bootstrap()
            let tenant = try #require(try await server.store.tenant(named: "default"))
            return try await body(Setup(url: url, root: root, repo: repo, server: server, tenant: tenant))
        }
    }

    /// `ferry worker` (the debug binary) on the setup's database, its output in `<root>/worker.log`.
    static func launchWorker(_ setup: Setup, arguments: [String], environment extra: [String: String] = [:])
        async throws -> (process: BackgroundProcess, log: String)
    {
        let binary = packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the ferry binary first")
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = setup.root + "/config"
        environment["XDG_DATA_HOME"] = setup.root + "/data"
        let log = setup.root + "/worker.log"
        let worker = try await BackgroundProcess.start(
            binary,
            ["worker", "--database", setup.url, "--project-root", FileManager.default.temporaryDirectory.path]
                + arguments, environment: environment.merging(extra) { $1 }, stdout: .file(log), stderr: .output)
        return (worker, log)
    }

    @Test func aKilledWorkersTaskIsRescuedAndFinishedOnceByAnother() async throws {
        try await Self.withSetup("crash") { setup in
            let (server, tenant, repo, root) = (setup.server, setup.tenant, setup.repo, setup.root)
            let project = try await server.store.createProject(
                Project(
                    id: "prj_crash", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: "fake",
                    testCommand: "python3 -m unittest", createdAt: Date()))

            // The first attempt's model call never answers; the rescued attempt gets the fix.
            let script: [FakeStep] = [.delay(seconds: 60, then: FakeReply(text: "too late"))] + ServerAPITests.script
            try await FakeModelServer.with(.openai, script: script) { fake in
                try fake.writeConfig(configHome: root + "/config")
                let (task, _) = try await server.store.createTask(
                    NewTask(projectID: project.id, task: "add() returns the wrong sum; fix it"), tenantID: tenant.id,
                    now: Date())

                let (worker, log) = try await Self.launchWorker(setup, arguments: ["--lease-seconds", "3"])

                // Wait until the worker's run exists and its model call is hanging, then kill it outright.
                var running: ServerTask?
                for _ in 0..<200 {
                    running = try await server.store.task(id: task.id)
                    if running?.state == .running, running?.runID != nil, !fake.requests.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let workerLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                let first = try #require(running, "the worker never started the task: \(workerLog)")
                #expect(first.attempt == 1 && first.runID != nil)
                worker.signal(SIGKILL)
                await worker.wait()

                // Another worker on this machine rescues the task once the lease has run out, and finishes it.
                var workerConfig = FerryConfig(dataDirectory: root + "/data2")
                workerConfig.firstAttempt = .off
                let (rescuer, client) = fakeWorker(
                    fake, server: server, config: workerConfig, id: "rescuer",
                    policy: QueuePolicy(leaseSeconds: 3, backoffBaseSeconds: 0.2), pollSeconds: 0.2)
                let loop = Task { await rescuer.run() }
                var done: ServerTask?
                // Up to 90 s: a loaded machine once took more than 30.
                for _ in 0..<900 {
                    done = try await server.store.task(id: task.id)
                    if done?.state.isTerminal == true { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                loop.cancel()
                _ = await loop.value
                try await client.shutdown()

                let finished = try #require(done)
                #expect(finished.state == .verified, "\(finished)")
                #expect(finished.attempt == 2 && finished.errors.count == 1)
                #expect(finished.errors.first?.contains("attempt 1 lost") == true)
                #expect(finished.diff?.contains("+    return a + b") == true)
                // Spend: only the rescued attempt's three calls (the killed one never got an answer), once each.
                #expect(abs(finished.costUSD - 3 * 0.000072) < 1e-9)
                // Both attempts' runs are recorded; the finished one's events end with run.finished, once.
                let events = try await server.runStore.events(of: try #require(finished.runID))
                #expect(events.filter { $0.type == "run.finished" }.count == 1)
                #expect(events.map(\.seq) == Array(1...events.count))
                #expect(finished.runID != first.runID)
                // The killed attempt's run is closed by the rescuer, not left "running".
                let firstRun = try #require(first.runID)
                let lost = try #require(try await server.runStore.run(firstRun))
                #expect(
                    lost.status == .interrupted && lost.reason.contains("attempt 1 of task \(task.id) was lost"),
                    "\(lost.reason)")
            }
        }
    }

    /// `ferry worker` (the real binary, on PostgreSQL) runs a task, delivers its webhook signed with the key the API
    /// server sealed it under (`$FERRY_SERVER_SECRET`, shared) through the operator's egress rule, and stops cleanly
    /// on SIGTERM.
    @Test func aWorkerProcessSignsWebhooksWithTheServersKeyAndStopsOnSIGTERM() async throws {
        try await Self.withSetup("worker") { setup in
            let (server, tenant, repo, root) = (setup.server, setup.tenant, setup.repo, setup.root)
            let key = try String(contentsOfFile: root + "/server/secret.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await WebhookTests.withReceiver(failFirst: 0) { hook, receiver in
                let secret = Webhooks.newSecret()
                let project = try await server.store.createProject(
                    Project(
                        id: "prj_worker", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: "fake",
                        testCommand: "python3 -m unittest", createdAt: Date(), webhookURL: hook,
                        webhookSecret: try server.secrets.seal(secret)))
                try await FakeModelServer.with(.openai, script: ServerAPITests.script) { fake in
                    try fake.writeConfig(configHome: root + "/config")
                    let (task, _) = try await server.store.createTask(
                        NewTask(projectID: project.id, task: "add() returns the wrong sum; fix it"),
                        tenantID: tenant.id, now: Date())
                    let (worker, log) = try await Self.launchWorker(
                        setup, arguments: ["--allow-host", "127.0.0.1"], environment: ["FERRY_SERVER_SECRET": key])
                    defer { worker.signal(SIGKILL) }

                    var calls: [WebhookTests.Receiver.Call] = []
                    for _ in 0..<600 where calls.isEmpty {
                        calls = receiver.calls.withLock { $0 }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    let output = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
                    let call = try #require(calls.first, "no webhook came: \(output())")
                    #expect(try await server.store.task(id: task.id)?.state == .verified)
                    #expect(call.body.contains(task.id))
                    #expect(
                        call.signature == Webhooks.signature(call.body, secret: secret), "signed with the plain secret")

                    worker.signal(SIGTERM)
                    let exit = await worker.wait()
                    #expect(exit == .exited(0), "\(exit): \(output())")
                    #expect(output().contains("ferry worker: stopped"), "\(output())")
                }
            }
        }
    }
}
