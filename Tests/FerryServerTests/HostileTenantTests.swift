import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import FerryWorkspace
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The team server against a hostile tenant (docs/SECURITY.md, "The team server"), over real HTTP on both stores:
/// tenant B, with an admin key of its own, tries every way found to reach tenant A's code, the server's files and
/// the machine's network, and to take the server down. Each case asserts the exact answer. The `mcp` and `openai`
/// SDKs run their share from Tests/assist/hostile_clients.py.
@Suite struct HostileTenantTests {
    struct Raw {
        var status: Int
        var body: String
        var location: String?
        var json: JSONValue { JSONValue.parse(body) ?? .null }
    }

    /// Any request, with the body and headers as given (no redirects followed).
    static func raw(
        _ method: HTTPMethod, _ url: String, key: String? = nil, body: String? = nil, headers: [String: String] = [:],
        contentType: String? = "application/json"
    ) async throws -> Raw {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await DashboardTests.http.execute(request, timeout: .seconds(60))
        return Raw(
            status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 22)),
            location: response.headers.first(name: "Location"))
    }

    static func project(_ fields: [String: JSONValue]) -> String { JSONValue.object(fields).jsonString }

    @Test(arguments: QueueTests.Kind.allCases)
    func aHostileTenantReachesNothingOfAnotherTenantsOrTheServers(kind: QueueTests.Kind) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: AssistServerTests.python),
            "run scripts/setup.sh --test-clients (make test does)")
        let fm = FileManager.default
        let base = fm.temporaryDirectory.appendingPathComponent("ferry-hostile-\(UUID().uuidString.prefix(8))").path
        let roots = base + "/repos"
        let data = base + "/data"
        try fm.createDirectory(atPath: roots, withIntermediateDirectories: true)
        // A's repository, with a secret only it holds; B's own; a symlink in the roots to A's, one to /etc.
        let secret = "SECRET_A_\(UUID().uuidString.prefix(12))"
        var filesA = CalcFixture.files
        filesA["config.py"] = "API_TOKEN = '\(secret)'\n"
        let repoA = roots + "/a"
        try fm.moveItem(atPath: try await FixtureRepo.make(filesA), toPath: repoA)
        let repoB = roots + "/b"
        try fm.moveItem(atPath: try await FixtureRepo.make(CalcFixture.files), toPath: repoB)
        try fm.createSymbolicLink(atPath: roots + "/link-to-a", withDestinationPath: repoA)
        try fm.createSymbolicLink(atPath: roots + "/link-to-etc", withDestinationPath: "/etc")
        // The operator names the roots (and, here, the base folder, which holds the data directory: the data
        // directory stays protected even so). Only 127.0.0.2 is allowed beyond public addresses.
        let policy = ServerPolicy.server(projectRoots: [roots, base], allowHosts: ["127.0.0.2"], dataDirectory: data)
        try await ServerAPITests.withServer(kind, data: data, policy: policy) { server in
            let keyA = try #require(try await server.bootstrap())
            let tenantB = try await server.store.createTenant(name: "b")
            let keyB = try await server.store.createKey(tenantID: tenantB.id, role: .admin).key

            try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
                let models = ModelPool.answering(with: fake, runs: data + "/runs")
                try await server.serving(models: models) { port in
                    let url = "http://127.0.0.1:\(port)"
                    func create(_ key: String, _ fields: [String: JSONValue]) async throws -> Raw {
                        try await Self.raw(.POST, url + "/v1/projects", key: key, body: Self.project(fields))
                    }
                    let madeA = try await create(keyA, ["name": "calc", "repo": .string(repoA), "base": "main"])
                    #expect(madeA.status == 201, "\(madeA.body)")
                    let madeB = try await create(keyB, ["name": "mine", "repo": .string(repoB), "base": "main"])
                    #expect(madeB.status == 201, "\(madeB.body)")

                    // 1. Paths: the server's own files, the machine's, A's repository by path, file://, "..", symlinks.
                    let refusedPaths: [(String, Int, String)] = [
                        (data, 422, "Ferry's own data"), (data + "/admin.key", 422, "Ferry's own data"),
                        (base, 422, "Ferry's own data"),
                        ("/etc", 422, "project roots"), ("/etc/shadow", 422, "project roots"),
                        ("/", 422, "project roots"),
                        (repoA, 409, "another tenant's"), (roots + "/b/../a", 409, "another tenant's"),
                        (roots + "/link-to-a", 409, "another tenant's"), (roots + "/link-to-etc", 422, "project roots"),
                        (repoA + "/calc.py", 422, "not a folder"), (roots, 409, "another tenant's"),
                        ("file://" + repoA, 422, "git URL"), ("file:///etc", 422, "git URL"),
                        ("repos/a", 422, "absolute path"),
                        ("ext::sh -c touch% " + base + "/pwned", 422, "git URL"),
                        ("--upload-pack=touch " + base + "/pwned", 422, "'-'"),
                        (roots + "/missing", 422, "not a folder"),
                    ]
                    for (index, (repo, status, words)) in refusedPaths.enumerated() {
                        let reply = try await create(keyB, ["name": .string("x\(index)"), "repo": .string(repo)])
                        #expect(
                            reply.status == status && reply.body.contains(words),
                            "\(repo): \(reply.status) \(reply.body)")
                        #expect(!reply.body.contains(secret))
                    }
                    #expect(!fm.fileExists(atPath: base + "/pwned"))
                    // The dashboard's project form follows the same rules.
                    let login = try await DashboardTests.send(.POST, url + "/login", form: "key=\(keyB)")
                    let cookie = String(try #require(login.cookie).split(separator: ";")[0])
                    let admin = try await DashboardTests.send(.GET, url + "/admin", cookie: cookie)
                    let form =
                        "csrf=\(DashboardTests.csrf(admin.body))&name=viaform&repo="
                        + (data.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
                    let viaForm = try await DashboardTests.send(
                        .POST, url + "/admin/projects", cookie: cookie, form: form)
                    #expect(
                        viaForm.status == 422 && viaForm.body.contains("Ferry"), "\(viaForm.status) \(viaForm.body)")
                    let formA =
                        "csrf=\(DashboardTests.csrf(admin.body))&name=viaform&repo="
                        + (repoA.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
                    #expect(
                        try await DashboardTests.send(.POST, url + "/admin/projects", cookie: cookie, form: formA)
                            .status
                            == 409)
                    #expect(try await server.store.projects(tenantID: tenantB.id).map(\.name) == ["mine"])

                    // 3. The server writes nothing where a tenant points it: B's answers index B's code in the data
                    // directory, never in the repository.
                    let python = AssistServerTests.python
                    let (status, output) = try await ChildProcess.run(
                        python,
                        [
                            CrashTests.packageRoot + "/Tests/assist/hostile_clients.py", "--url", url, "--key", keyB,
                            "--own", "mine",
                            "--victim", "calc", "--victim-secret", secret,
                        ])
                    #expect(status == 0, "\(output)")
                    #expect(output.contains("ok: all"), "\(output)")
                    let projectB = try #require(try await server.store.project("mine", tenantID: tenantB.id))
                    #expect(fm.fileExists(atPath: data + "/index/\(projectB.id).sqlite"))
                    #expect(
                        !fm.fileExists(atPath: repoB + "/.ferry/index.sqlite")
                            && !fm.fileExists(atPath: repoB + "/.git/ferry"))
                    #expect(!fm.fileExists(atPath: roots + "/missing/.ferry"))

                    // 2. Numbers from outside: refused where they enter; the pages that show them stay up.
                    let evals: [(String, Int)] = [
                        (#"{"metrics": {"resolve_rate": 0.5, "resolved": 1e300, "total": 2}}"#, 400),
                        (#"{"metrics": {"resolve_rate": 2, "resolved": 1, "total": 2}}"#, 400),
                        (#"{"metrics": {"resolve_rate": 0.5, "resolved": 1.5, "total": 2}}"#, 400),
                        (#"{"metrics": {"resolve_rate": 0.5, "resolved": -1, "total": 2}}"#, 400),
                        (
                            #"{"metrics": {"resolve_rate": 0.5, "resolved": 1, "total": 2, "usd_per_resolved": 1e308}}"#,
                            400
                        ),
                        (#"{"metrics": {"resolve_rate": 0.5, "resolved": 1, "total": 2}}"#, 201),
                    ]
                    for (body, expected) in evals {
                        let reply = try await Self.raw(.POST, url + "/v1/evals", key: keyB, body: body)
                        #expect(reply.status == expected, "\(body): \(reply.status) \(reply.body)")
                    }
                    // A report stored before the check (straight into the store) still renders.
                    _ = try await server.store.addEval(
                        tenantID: tenantB.id, name: "old",
                        report: #"{"metrics": {"resolve_rate": 1e300, "resolved": 1e300, "total": -5}}"#, at: Date())
                    #expect(try await DashboardTests.send(.GET, url + "/evals", cookie: cookie).status == 200)
                    for (path, body) in [
                        ("/v1/tasks", #"{"project": "mine", "task": "t", "max_cost": 1e300}"#),
                        ("/v1/tasks", #"{"project": "mine", "task": "t", "max_attempts": 1e308}"#),
                        ("/v1/tasks", #"{"project": "mine", "task": "t", "priority": -1e308}"#),
                    ] {
                        #expect(try await Self.raw(.POST, url + path, key: keyB, body: body).status == 400, "\(body)")
                    }
                    #expect(
                        try await Self.raw(
                            .PUT, url + "/v1/budgets/tenant", key: keyB, body: #"{"monthly_usd": 1e300}"#
                        )
                        .status == 400)
                    #expect(try await Self.raw(.GET, url + "/v1/tasks?limit=1e308", key: keyB).status == 400)
                    #expect(try await Self.raw(.GET, url + "/v1/tasks?limit=-1", key: keyB).status == 400)

                    // 4. The server's network: webhooks and git URLs to loopback, private, link-local, metadata and
                    // reserved addresses, in every spelling, are refused when the project is made.
                    let inside = [
                        "http://127.0.0.1:\(port)/hook", "http://localhost:22/", "http://0.0.0.0/",
                        "http://2130706433/",
                        "http://0x7f.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                        "http://169.254.169.254/latest/meta-data",
                        "http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/",
                        "http://[fd00::1]/",
                        "http://[fe80::1]/", "http://224.0.0.1/", "http://nowhere.invalid/",
                    ]
                    for (index, target) in inside.enumerated() {
                        let hook = try await create(
                            keyB,
                            [
                                "name": .string("h\(index)"), "repo": .string(repoB + "/../b"),
                                "webhook_url": .string(target),
                            ])
                        #expect([400, 409, 422].contains(hook.status), "\(target): \(hook.status) \(hook.body)")
                        let git = try await create(
                            keyB, ["name": .string("g\(index)"), "repo": .string(target + "x.git")])
                        #expect(git.status == 422, "\(target): \(git.status) \(git.body)")
                        #expect(!git.body.contains("Connection refused") && !git.body.contains("fatal:"))
                    }
                    #expect(try await server.store.projects(tenantID: tenantB.id).map(\.name) == ["mine"])

                    // 5. Data at rest: owner-only folders and files; the webhook's secret is not in the database.
                    let hooked = try await create(
                        keyB,
                        [
                            "name": "hooked", "repo": "https://127.0.0.2/acme/shop.git",
                            "webhook_url": "http://127.0.0.2:9/hook",
                        ])
                    #expect(hooked.status == 201, "\(hooked.body)")
                    let hookSecret = try #require(hooked.json["webhook_secret"]?.stringValue)
                    let stored = try #require(try await server.store.project("hooked", tenantID: tenantB.id))
                    #expect(stored.webhookSecret?.hasPrefix("fsec1:") == true && stored.webhookSecret != hookSecret)
                    #expect(try server.secrets.open(stored.webhookSecret ?? "") == hookSecret)
                    func mode(_ path: String) throws -> Int {
                        (try fm.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
                    }
                    #expect(try mode(data) == 0o700)
                    #expect(try mode(data + "/secret.key") == 0o600 && (try mode(data + "/metrics.token")) == 0o600)
                    #expect(try mode(data + "/index") == 0o700)
                    if kind == .sqlite {
                        for name in ["server.sqlite", "runs.sqlite"] {
                            #expect(try mode(data + "/" + name) == 0o600, "\(name)")
                        }
                        for name in try fm.contentsOfDirectory(atPath: data) where name.hasPrefix("server.sqlite") {
                            let bytes = try #require(fm.contents(atPath: data + "/" + name))
                            #expect(bytes.range(of: Data(hookSecret.utf8)) == nil, "\(name) holds the webhook secret")
                        }
                    }

                    // 6. Smaller holes.
                    let big = String(repeating: "x", count: 2 << 20)
                    #expect(try await Self.raw(.POST, url + "/v1/tasks", key: keyB, body: big).status == 413)
                    #expect(
                        try await Self.raw(
                            .POST, url + "/login", body: "key=" + big, contentType: "application/x-www-form-urlencoded"
                        ).status == 413)
                    let tabbed = try await DashboardTests.send(
                        .POST, url + "/login", form: "key=\(keyB)&next=%2F%09%2Fevil.example")
                    #expect(
                        tabbed.status == 303 && tabbed.location == "/tasks", "\(String(describing: tabbed.location))")
                    let option = try await create(
                        keyB, ["name": "opt", "repo": .string(repoB), "base": "--output=/tmp/x"])
                    #expect(option.status == 400)
                    let taskOption = try await Self.raw(
                        .POST, url + "/v1/tasks", key: keyB,
                        body: #"{"project": "mine", "task": "t", "base": "--output=/tmp/x"}"#)
                    #expect(taskOption.status == 400)
                    #expect(try await Self.raw(.GET, url + "/metrics").status == 401)
                    #expect(try await Self.raw(.GET, url + "/metrics", key: keyA).status == 401)
                    #expect(try await Self.raw(.GET, url + "/metrics", key: server.metricsToken).status == 200)
                    let textPlain = try await Self.raw(
                        .POST, url + "/v1/projects", key: keyB, body: #"{"name":"t","repo":"/x"}"#,
                        contentType: "text/plain")
                    #expect(textPlain.status == 415)
                    // MCP sessions: a tenant holds at most 50; a new one past that closes its least recently used session
                    // (its next request is a 404, so its client starts again), never another tenant's.
                    let initialize =
                        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
                    let mcpHeaders = ["Accept": "application/json, text/event-stream"]
                    func open(_ key: String) async throws -> String? {
                        var request = HTTPClientRequest(url: url + "/mcp")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(key)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        for (name, value) in mcpHeaders { request.headers.add(name: name, value: value) }
                        request.body = .bytes(ByteBuffer(string: initialize))
                        let response = try await DashboardTests.http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        return response.status == .ok ? response.headers.first(name: "Mcp-Session-Id") : nil
                    }
                    func ping(_ key: String, _ session: String) async throws -> Int {
                        try await Self.raw(
                            .POST, url + "/mcp", key: key, body: #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
                            headers: mcpHeaders.merging([
                                "Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-03-26",
                            ]) {
                                $1
                            }
                        ).status
                    }
                    // A body over /mcp's limit: 413, as a JSON-RPC error like the transport's own.
                    let hugeRPC = try await Self.raw(
                        .POST, url + "/mcp", key: keyB, body: big + big + big, headers: mcpHeaders)
                    #expect(
                        hugeRPC.status == 413
                            && hugeRPC.json["error"]?["message"]?.stringValue?.contains("4 MB") == true,
                        "\(hugeRPC.body)")
                    let sessionA = try #require(try await open(keyA))
                    var sessionsB: [String] = []
                    for _ in 0..<51 { sessionsB.append(try #require(try await open(keyB))) }
                    #expect(try await ping(keyB, sessionsB[0]) == 404)
                    #expect(try await ping(keyB, sessionsB[50]) == 200)
                    #expect(try await ping(keyA, sessionA) == 200)
                    // An error names no server path: B's repository gone, its question says so without where.
                    try fm.removeItem(atPath: repoB)
                    let gone = try await Self.raw(
                        .POST, url + "/v1/chat/completions", key: keyB,
                        body: #"{"model":"mine","messages":[{"role":"user","content":"where is add?"}]}"#)
                    #expect(
                        gone.status == 500 && gone.body.contains("not a folder inside the project roots"),
                        "\(gone.body)")
                    #expect(!gone.body.contains(base), "\(gone.body)")

                    // Held: A's objects by id with B's key.
                    let tenantA = try #require(try await server.store.tenant(named: "default"))
                    let projectA = try #require(try await server.store.project("calc", tenantID: tenantA.id))
                    #expect(try await Self.raw(.GET, url + "/v1/projects/\(projectA.id)", key: keyB).status == 404)
                    let taskA = try await Self.raw(
                        .POST, url + "/v1/tasks", key: keyA, body: #"{"project": "calc", "task": "t"}"#)
                    let taskID = try #require(taskA.json["id"]?.stringValue, "\(taskA.body)")
                    for path in ["", "/diff", "/events", "/deliveries"] {
                        #expect(
                            try await Self.raw(.GET, url + "/v1/tasks/\(taskID)\(path)", key: keyB).status == 404,
                            "\(path)"
                        )
                    }
                    #expect(try await Self.raw(.POST, url + "/v1/tasks/\(taskID)/cancel", key: keyB).status == 404)
                    #expect(try await Self.raw(.GET, url + "/healthz").status == 200)
                }
                await models.shutdown()
            }
        }
    }
}
