import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryServerStore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// The accuracy watch on a real repository's history: a commit that fixed a bug with its test becomes an instance
/// (checked by running the tests without and with it), the project's model runs it in the sandbox, and the report
/// joins the tenant's evals; a later run that fails what the earlier resolved names the regression.
@Suite(.serialized) struct AccuracyWatchTests {
    /// A project whose history has one fix with its test (after a base commit).
    static func repository() async throws -> String {
        let repo = try await FixtureRepo.make([
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ])
        for (path, text) in [
            ("calc.py", "def add(a, b):\n    return a + b\n"),
            (
                "tests/test_calc.py",
                "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
            ),
        ] {
            try text.write(toFile: repo + "/" + path, atomically: true, encoding: .utf8)
        }
        try await Git(repo).run("add", "-A")
        try await Git(repo).run(
            "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "add() subtracted instead of adding")
        return repo
    }

    static let fix: [FakeStep] = [
        .call("read_file", ["path": "calc.py"]),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
        .call("finish", ["summary": "add() adds."]),
    ]

    @Test func aWatchRunsTheProjectsRecentHistoryAndNamesARegression() async throws {
        let repo = try await Self.repository()
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-watch-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        var config = FerryConfig(dataDirectory: data + "/runs")
        config.firstAttempt = .off
        let frozen = config
        let wrong: [FakeStep] =
            [.call("finish", ["summary": "nothing to change"])]
            + Array(repeating: .call("finish", ["summary": "no"]), count: 3)
        try await FakeModelServer.with(.openai, script: Self.fix + wrong) { fake in
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let profile = ModelProfile(
                name: "fake", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
            let watch = AccuracyWatch(
                store: server.store, runStore: server.runStore, dataDirectory: data, policy: server.policy,
                config: frozen,
                makeModel: { _ in
                    ModelFactory.make(profile: profile, apiKey: nil, client: client, retry: RetryPolicy(maxAttempts: 1))
                })
            try await server.serving { port in
                let api = ServerAPITests.Client(port: port)
                let made = try await api.send(
                    .POST, "/v1/projects", key: admin,
                    body: [
                        "name": "calc", "repo": .string(repo), "base": "main",
                        "test_command": "python3 -m pytest -rA -q -p no:cacheprovider",
                    ])
                let project = try #require(made.json["id"]?.stringValue, "\(made.body)")
                #expect(
                    try await api.send(.PUT, "/v1/projects/\(project)/watch", key: admin, body: ["monthly_usd": -1])
                        .status == 400)
                #expect(
                    try await api.send(
                        .PUT, "/v1/projects/\(project)/watch", key: admin, body: ["monthly_usd": 5, "model": "a>a"]
                    ).status == 400)
                let set = try await api.send(
                    .PUT, "/v1/projects/\(project)/watch", key: admin,
                    body: ["monthly_usd": 5, "every_hours": 24, "max_instances": 5, "since_days": 3650])
                #expect(set.status == 200, "\(set.body)")

                // The first run: the fix is resolved.
                #expect(try await watch.runOnce(now: Date()))
                let first = try await api.send(.GET, "/v1/projects/\(project)/watch", key: admin).json
                #expect(first["last_error"] == .null, "\(first)")
                let evals = try await server.store.evals(
                    tenantID: try #require(try await server.store.tenant(named: "default")).id)
                let report = try #require(evals.first.flatMap { JSONValue.parse($0.report) })
                #expect(evals.first?.name == "watch: calc")
                #expect(
                    report["metrics"]?["resolved"] == 1 && report["metrics"]?["total"] == 1,
                    "\(report["metrics"] ?? .null)")
                #expect(report["watch"]?["mined"] == 1)
                // Not due again before its time.
                #expect(try await watch.runOnce(now: Date()) == false)

                // A later run, now with a cascade, whose profiles both fail it: a regression, named.
                let cascade = try await api.send(
                    .PUT, "/v1/projects/\(project)/watch", key: admin,
                    body: [
                        "monthly_usd": 5, "every_hours": 24, "max_instances": 5, "since_days": 3650,
                        "model": "first>second",
                    ])
                #expect(cascade.status == 200, "\(cascade.body)")
                #expect(try await watch.runOnce(now: Date().addingTimeInterval(25 * 3600)))
                let again = try await server.store.evals(tenantID: try await evalsTenant(server))
                let latest = try #require(again.max { $0.at < $1.at })
                #expect(latest.name == "watch: calc (1 regression)", "\(again.map(\.name))")
                let latestReport = JSONValue.parse(latest.report)
                // Both profiles ran: the first's change was not proved, so the second continued.
                #expect(latestReport?["watch"]?["profile"] == "first>second")
                #expect(
                    latestReport?["instances"]?.arrayFirst?["stages"] == 2, "\(latestReport?["instances"] ?? .null)")
                let regressions = latestReport?["watch"]?["regressions"]
                #expect(
                    regressions == .array([.string(report["instances"]?.arrayFirstID ?? "?")]),
                    "\(regressions ?? .null)")
                // The dashboard's accuracy page lists both.
                let shown = try await api.send(.GET, "/v1/evals", key: admin).body
                #expect(shown.contains("watch: calc (1 regression)"))
                // The accuracy page draws the project's watch as one line and names what regressed.
                let login = try await DashboardTests.send(.POST, api.base + "/login", form: "key=\(admin)")
                let cookie = String(try #require(login.cookie).split(separator: ";")[0])
                let page = try await DashboardTests.send(.GET, api.base + "/evals", cookie: cookie).body
                #expect(
                    page.contains("regressed: repo-") && page.contains("<td>watch: calc (fake)</td>"),
                    "\(page.prefix(4000))")
                // Each instance's trace is one click away: the eval's page links the run the server recorded.
                let runID = try #require(report["instances"]?.arrayFirst?["run_id"]?.stringValue)
                let evalPage = try await DashboardTests.send(
                    .GET, api.base + "/evals/\(try #require(evals.first?.id))", cookie: cookie
                ).body
                let link = try #require(evals.first.map { "/evals/\($0.id)/runs/\(runID)" })
                #expect(evalPage.contains(link) && evalPage.contains("watch: calc"), "\(evalPage.prefix(3000))")
                let tracePage = try await DashboardTests.send(.GET, api.base + link, cookie: cookie)
                #expect(tracePage.status == 200)
                #expect(
                    tracePage.body.contains("run finished") && tracePage.body.contains("edit_file"),
                    "\(tracePage.body.prefix(3000))")
                // Another tenant's admin sees neither the eval nor the run.
                let other = try await server.store.createTenant(name: "other")
                let outsider = try await server.store.createKey(tenantID: other.id, role: .admin).key
                let theirLogin = try await DashboardTests.send(.POST, api.base + "/login", form: "key=\(outsider)")
                let theirs = String(try #require(theirLogin.cookie).split(separator: ";")[0])
                #expect(try await DashboardTests.send(.GET, api.base + link, cookie: theirs).status == 404)
                #expect(
                    try await DashboardTests.send(
                        .GET, api.base + "/evals/\(try #require(evals.first?.id))", cookie: theirs
                    ).status == 404)
                // Even a stored copy of the watch's own report (as an import made before imports dropped `watch`
                // could be) opens nothing for another tenant: the run is bound to a project of the viewer's.
                let copied = try await server.store.addEval(
                    tenantID: other.id, name: "copy", report: latest.report, at: Date())
                let copiedRun = try #require(
                    JSONValue.parse(latest.report)?["instances"]?.arrayFirst?["run_id"]?.stringValue)
                #expect(
                    try await DashboardTests.send(
                        .GET, api.base + "/evals/\(copied)/runs/\(copiedRun)", cookie: theirs
                    ).status == 404)
                // An imported report cannot pass for the watch's: `watch` is dropped, so the same run id opens
                // nothing through it (an import could otherwise name another tenant's run).
                let forged = try await api.send(
                    .POST, "/v1/evals?name=forged", key: admin, body: try #require(JSONValue.parse(latest.report)))
                #expect(forged.status == 201, "\(forged.body)")
                let forgedID = try #require(forged.json["id"]?.stringValue)
                #expect(
                    try await DashboardTests.send(.GET, api.base + "/evals/\(forgedID)/runs/\(runID)", cookie: cookie)
                        .status == 404)
                #expect(
                    try await DashboardTests.send(.GET, api.base + "/evals/\(forgedID)", cookie: cookie).body
                        .contains("/runs/") == false)
                let audit = try await api.send(.GET, "/v1/audit?action=watch.run", key: admin).json
                #expect(audit["data"].map(Self.count) == 2)
            }
            try await client.shutdown()
        }
    }

    static func count(_ value: JSONValue) -> Int {
        if case .array(let items) = value { return items.count }
        return -1
    }

    func evalsTenant(_ server: TeamServer) async throws -> String {
        try #require(try await server.store.tenant(named: "default")).id
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }

    /// The first item's `instance_id`, for an array of instance results.
    var arrayFirstID: String? {
        if case .array(let items) = self { return items.first?["instance_id"]?.stringValue }
        return nil
    }
}
