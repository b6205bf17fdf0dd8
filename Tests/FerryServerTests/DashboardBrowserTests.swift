import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

/// The dashboard in a real headless Chromium (Tests/browser/dashboard.py through selenium): sign in, a task a
/// scripted model resolves with its trace arriving live, its diff, a cancelled task, the spend page moving, sign out.
/// `scripts/setup.sh --browser` (run by `make test`) installs Chromium, its driver and selenium.
@Suite struct DashboardBrowserTests {
    static let python =
        (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/browser-venv/bin/python"
    static let script = CrashTests.packageRoot + "/Tests/browser/dashboard.py"

    /// The model: slow enough (a second a call) to watch the trace grow; a task that says "hangs" never gets an answer.
    static let responder: @Sendable (JSONValue) -> FakeStep = { body in
        guard case .array(let messages)? = body["messages"] else { return .status(400) }
        if messages.contains(where: { $0["role"] == "user" && ($0["content"]?.stringValue ?? "").contains("hangs") }) {
            return .delay(seconds: 120, then: FakeReply(text: "too late"))
        }
        let call: FakeToolCall
        switch messages.filter({ $0["role"] == "tool" }).count {
        case 0: call = FakeToolCall(name: "read_file", arguments: #"{"path": "calc.py"}"#)
        case 1:
            call = FakeToolCall(
                name: "edit_file", arguments: #"{"path": "calc.py", "old": "return a - b", "new": "return a + b"}"#)
        default: call = FakeToolCall(name: "finish", arguments: #"{"summary": "add() subtracted; it now adds."}"#)
        }
        return .delay(seconds: 1, then: FakeReply(toolCalls: [call]))
    }

    @Test func signInWatchATaskLiveOpenItsDiffCancelAnotherAndSeeSpendMove() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python)
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
            "run scripts/setup.sh --browser (make test does) to install Chromium, chromium-driver and selenium")
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-browser-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        let tenant = try #require(try await server.store.tenant(named: "default"))
        _ = try await server.store.createProject(
            Project(
                id: "prj_calc", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                testCommand: "python3 -m unittest", createdAt: Date()))
        var config = FerryConfig(dataDirectory: data + "/runs")
        config.firstAttempt = .off
        let frozen = config
        let screenshots = ProcessInfo.processInfo.environment["FERRY_SCREENSHOTS"]
        try await FakeModelServer.with(.openai, responder: Self.responder) { fake in
            let (worker, client) = fakeWorker(
                fake, server: server, config: frozen, policy: QueuePolicy(leaseSeconds: 30), pollSeconds: 0.2)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.run(port: 0, workers: [worker], signals: [], pages: try await server.dashboard()) {
                        continuation.yield($0)
                    }
                }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let (status, output) = try await ChildProcess.run(
                    Self.python,
                    [
                        Self.script,
                        "--url", "http://127.0.0.1:\(port)", "--key", admin, "--project", "calc",
                    ] + (screenshots.map { ["--screenshots", $0] } ?? []))
                #expect(status == 0, "\(output)")
                #expect(output.contains("ok: signed in"), "\(output)")
                group.cancelAll()
            }
            try await client.shutdown()
        }
    }
}
