import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryDashboard
import FerrySandbox
import FerryTesting
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// A real OpenID Connect provider (pyop, Tests/oidc/provider.py, over https with its own certificate), started for
/// the test, that the dashboard signs people in through.
final class IdentityProvider: Sendable {
    static let python =
        (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/oidc-venv/bin/python"
    let process: BackgroundProcess
    let port: Int
    let caFile: String
    /// Trusts the provider's certificate; follows no redirects (each hop is the test's to check).
    let http: HTTPClient
    var issuer: String { "https://127.0.0.1:\(port)" }

    private init(process: BackgroundProcess, port: Int, caFile: String) throws {
        self.process = process
        self.port = port
        self.caFile = caFile
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Starts the provider and waits (without holding a thread: the pool has two) until it says where it listens.
    static func start(directory: String) async throws -> IdentityProvider {
        try #require(
            FileManager.default.isExecutableFile(atPath: python), "run scripts/setup.sh --test-clients (make test does)"
        )
        let script = CrashTests.packageRoot + "/Tests/oidc/provider.py"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let out = directory + "/provider.out"
        let log = directory + "/provider.log"
        let process = try await BackgroundProcess.start(
            python, [script, "--tls-dir", directory + "/tls"], stdout: .file(out), stderr: .file(log))
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(120) {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: #/listening (\d+)\n/#), let port = Int(match.output.1) {
                return try IdentityProvider(process: process, port: port, caFile: directory + "/tls/cert.pem")
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await process.stop()
        throw FerryError(
            .usage, "the provider did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// SIGTERM, then SIGKILL if it is still there after two seconds: a provider left running outlives the suite.
    func stop() async {
        await process.stop(grace: .seconds(2))
        try? await http.shutdown()
    }

    /// A test control of the provider's (groups, key rotation, the next token's audience or lifetime).
    @discardableResult
    func control(_ path: String, _ body: JSONValue) async throws -> String {
        var request = HTTPClientRequest(url: issuer + "/_test/" + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body.jsonString))
        let response = try await http.execute(request, timeout: .seconds(60))
        return String(buffer: try await response.body.collect(upTo: 1 << 16))
    }

    func settings() -> OIDCSettings {
        var settings = OIDCSettings(issuer: issuer, clientID: "ferry", clientSecret: "ferry-secret")
        settings.adminGroups = ["ferry-admins"]
        settings.memberGroups = ["engineering"]
        settings.caFile = caFile
        return settings
    }
}

@Suite struct SignInTests {
    struct Hop {
        var status: Int
        var location: String?
        var cookies: [String]
        var body: String
    }

    static func send(
        _ http: HTTPClient, _ method: HTTPMethod, _ url: String, cookie: String? = nil, form: String? = nil
    ) async throws -> Hop {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        return Hop(
            status: Int(response.status.code), location: response.headers.first(name: "Location"),
            cookies: response.headers["Set-Cookie"].map { String($0.split(separator: ";")[0]) },
            body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// The browser's part of a sign-in, hop by hop: Ferry sends it to the provider, the person signs in there, the
    /// provider sends it back to Ferry's callback. Returns Ferry's last answer. `keepCookie: false` drops the
    /// cookie that ties the sign-in to this browser (what a login-CSRF attack looks like).
    static func signIn(
        _ idp: IdentityProvider, ferry: String, user: String, password: String, keepCookie: Bool = true,
        next: String = "/spend", state: ((String) -> String)? = nil
    ) async throws -> Hop {
        let start = try await send(
            idp.http, .GET,
            ferry + "/login/sso/default?next="
                + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        #expect(start.status == 303, "\(start.body)")
        let authorize = try #require(start.location)
        #expect(authorize.hasPrefix(idp.issuer + "/authorization?"))
        #expect(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="))
        let sso = try #require(start.cookies.first { $0.hasPrefix("ferry_sso=") })
        let form = try await send(idp.http, .GET, authorize)
        #expect(form.status == 200, "\(form.body)")
        let id = try #require(form.body.firstMatch(of: #/name="form" value="([0-9a-f]+)"/#)?.output.1)
        let back = try await send(
            idp.http, .POST, idp.issuer + "/authorization/login",
            form: "form=\(id)&username=\(user)&password=\(password)")
        #expect(back.status == 302, "\(back.body)")
        var callback = try #require(back.location)
        #expect(callback.hasPrefix(ferry + "/login/callback?"))
        if let state, let original = callback.firstMatch(of: #/state=([^&]+)/#)?.output.1 {
            callback = callback.replacingOccurrences(of: String(original), with: state(String(original)))
        }
        return try await send(idp.http, .GET, callback, cookie: keepCookie ? sso : nil)
    }

    static func session(_ hop: Hop) -> String? { hop.cookies.first { $0.hasPrefix("ferry_session=") && $0.count > 20 } }

    @Test func peopleSignInThroughTheProviderWithTheRoleTheirGroupsGive() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-signin-\(UUID().uuidString.prefix(8))"
        ).path
        let idp = try await IdentityProvider.start(directory: root)
        do {
            try await Self.run(idp, root: root)
        } catch {
            await idp.stop()
            throw error
        }
        await idp.stop()
    }

    /// The same sign-in in a real Chromium (Tests/browser/sso.py): the button, the provider's form, back signed in.
    @Test func aPersonSignsInThroughTheProviderInARealBrowser() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: DashboardBrowserTests.python)
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
            "run scripts/setup.sh --browser (make test does) to install Chromium, chromium-driver and selenium")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-sso-browser-\(UUID().uuidString.prefix(8))"
        ).path
        let idp = try await IdentityProvider.start(directory: root)
        do {
            try await Self.serving(idp, root: root) { ferry, _, _ in
                let (status, output) = try await ChildProcess.run(
                    DashboardBrowserTests.python,
                    [
                        CrashTests.packageRoot + "/Tests/browser/sso.py", "--url", ferry, "--user", "grace",
                        "--password", "grace-pw", "--name", "Grace Hopper",
                    ])
                #expect(
                    status == 0 && output.contains("ok: signed in through the provider as Grace Hopper"), "\(output)")
                #expect(output.contains("ok: signed out"), "\(output)")
            }
        } catch {
            await idp.stop()
            throw error
        }
        await idp.stop()
    }

    /// A server with the dashboard signing in through `idp` (for the tenant `default`), while `body` runs with its
    /// address, the server and the tenant.
    static func serving(
        _ idp: IdentityProvider, root: String, _ body: @Sendable (String, TeamServer, Tenant) async throws -> Void
    ) async throws {
        let server = try TeamServer(dataDirectory: root + "/server", policy: .tests(data: root + "/server"))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let dashboard = try await Dashboard(
            store: server.store, runStore: server.runStore, policy: server.policy, secrets: server.secrets,
            providers: [try OIDCProvider(tenant: "default", settings: idp.settings())])
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.run(port: 0, workers: [], signals: [], pages: dashboard) { continuation.yield($0) }
            }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            let ferry = "http://127.0.0.1:\(try #require(await iterator.next()))"
            try await idp.control("redirect", ["uri": .string(ferry + "/login/callback")])
            try await body(ferry, server, tenant)
        }
    }

    static func run(_ idp: IdentityProvider, root: String) async throws {
        try await serving(idp, root: root) { ferry, server, tenant in
            let http = idp.http

            // The sign-in page offers the provider.
            let login = try await send(http, .GET, ferry + "/login")
            #expect(login.body.contains("Sign in with your company account (default)"))

            // Ada, in engineering, signs in: she is created as a member and lands where she was going.
            let ada = try await signIn(idp, ferry: ferry, user: "ada", password: "ada-pw")
            #expect(ada.status == 303 && ada.location == "/spend", "\(ada.body)")
            let adaCookie = try #require(session(ada))
            let spend = try await send(http, .GET, ferry + "/spend", cookie: adaCookie)
            #expect(spend.status == 200 && spend.body.contains("Ada Lovelace") && spend.body.contains(">member<"))
            let people = try await server.store.people(tenantID: tenant.id)
            let person = try #require(people.first { $0.email == "ada@example.com" })
            #expect(person.kind == .person && person.role == .member && person.externalID != nil)
            #expect(try await send(http, .GET, ferry + "/admin", cookie: adaCookie).status == 403)

            // Her groups change at the provider: at her next sign-in she is an admin.
            try await idp.control("groups", ["user": "ada", "groups": ["engineering", "ferry-admins"]])
            let again = try await signIn(idp, ferry: ferry, user: "ada", password: "ada-pw")
            let adminCookie = try #require(session(again))
            #expect(try await server.store.person(person.id, tenantID: tenant.id)?.role == .admin)
            #expect(try await send(http, .GET, ferry + "/admin", cookie: adminCookie).status == 200)
            #expect(try await server.store.people(tenantID: tenant.id).count == people.count, "the same person")

            // Someone in no group that maps to a role is refused.
            let nobody = try await signIn(idp, ferry: ferry, user: "nobody", password: "nobody-pw")
            #expect(nobody.status == 403 && nobody.body.contains("in no group that may use Ferry"), "\(nobody.body)")
            #expect(session(nobody) == nil)

            // A token for another application is refused; so is an expired one.
            try await idp.control("next", ["audience": "wiki"])
            let foreign = try await signIn(idp, ferry: ferry, user: "grace", password: "grace-pw")
            #expect(foreign.status == 403 && foreign.body.contains("for another application"), "\(foreign.body)")
            try await idp.control("next", ["lifetime": -600])
            let expired = try await signIn(idp, ferry: ferry, user: "grace", password: "grace-pw")
            #expect(expired.status == 403 && expired.body.contains("expired"), "\(expired.body)")
            #expect(
                try await server.store.person(externalID: nil, email: "grace@example.com", tenantID: tenant.id) == nil)

            // The provider rotates its signing key: the new key is fetched and the token accepted.
            let kid = try await idp.control("rotate", [:])
            #expect(kid.count == 16)
            let grace = try await signIn(idp, ferry: ferry, user: "grace", password: "grace-pw")
            #expect(
                grace.status == 303 && session(grace) != nil,
                "\(grace.body.firstMatch(of: #/Sign-in refused[^<]*/#)?.output ?? "")")
            #expect(
                try await server.store.person(externalID: nil, email: "grace@example.com", tenantID: tenant.id)?.role
                    == .admin)

            // A callback without the browser's cookie (login CSRF), or with a forged state, signs no one in.
            let csrf = try await signIn(idp, ferry: ferry, user: "ada", password: "ada-pw", keepCookie: false)
            #expect(csrf.status == 400 && session(csrf) == nil && csrf.body.contains("did not start in this browser"))
            let forged = try await signIn(idp, ferry: ferry, user: "ada", password: "ada-pw") { _ in "forged" }
            #expect(forged.status == 400 && session(forged) == nil)

            // Deactivated: her session ends at once and she cannot sign in again.
            _ = try await server.store.updatePerson(
                person.id, tenantID: tenant.id, PersonChange(active: false), now: Date())
            let after = try await send(http, .GET, ferry + "/spend", cookie: adminCookie)
            #expect(after.status == 303 && after.location?.hasPrefix("/login") == true)
            let refused = try await signIn(idp, ferry: ferry, user: "ada", password: "ada-pw")
            #expect(refused.status == 403 && refused.body.contains("deactivated"), "\(refused.body)")

            // Every sign-in is in the audit trail, through the sign-in surface, by the person.
            let trail = try await server.store.auditLog(
                tenantID: tenant.id, filter: AuditFilter(surface: .signin), limit: 100)
            #expect(trail.filter { $0.action == "session.create" }.count == 3)
            #expect(trail.contains { $0.action == "person.create" && $0.personID == person.id })
            #expect(trail.contains { $0.action == "person.update" && $0.detail.contains("role admin") })
            #expect(try await ServerAPI.checkChain(server.store, tenantID: tenant.id).report.intact)
        }
    }
}

/// The id token's rules and the group mapping, pure: each rule refuses alone.
@Suite struct SignInRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let good = SignInRules.Claims(
        issuer: "https://idp.example.com", audience: ["ferry"], authorizedParty: nil,
        expires: now.addingTimeInterval(300), issuedAt: now, nonce: "n1")

    static func refusal(_ claims: SignInRules.Claims) -> String? {
        do {
            try SignInRules.check(claims, issuer: "https://idp.example.com", clientID: "ferry", nonce: "n1", now: now)
            return nil
        } catch { return error.description }
    }

    @Test func eachRuleRefusesAlone() {
        #expect(Self.refusal(Self.good) == nil)
        var claims = Self.good
        claims.issuer = "https://evil.example.com"
        #expect(Self.refusal(claims)?.contains("issued by https://evil.example.com") == true)
        claims = Self.good
        claims.audience = ["wiki"]
        #expect(Self.refusal(claims)?.contains("another application") == true)
        claims.audience = ["wiki", "ferry"]
        #expect(Self.refusal(claims)?.contains("(azp)") == true, "several audiences need azp = ferry")
        claims.authorizedParty = "ferry"
        #expect(Self.refusal(claims) == nil)
        claims = Self.good
        claims.authorizedParty = "wiki"
        #expect(Self.refusal(claims)?.contains("(azp)") == true)
        claims = Self.good
        claims.expires = Self.now.addingTimeInterval(-30)
        #expect(Self.refusal(claims) == nil, "within the clock skew")
        claims.expires = Self.now.addingTimeInterval(-61)
        #expect(Self.refusal(claims)?.contains("expired") == true)
        claims = Self.good
        claims.issuedAt = Self.now.addingTimeInterval(120)
        #expect(Self.refusal(claims)?.contains("in the future") == true)
        claims = Self.good
        claims.nonce = "n2"
        #expect(Self.refusal(claims)?.contains("nonce") == true)
        claims.nonce = nil
        #expect(Self.refusal(claims)?.contains("nonce") == true)
    }

    @Test func theHighestRoleTheGroupsGiveWins() {
        var settings = OIDCSettings(issuer: "https://idp.example.com", clientID: "ferry")
        settings.adminGroups = ["ops"]
        settings.memberGroups = ["eng"]
        settings.viewerGroups = ["all"]
        #expect(SignInRules.role(groups: ["all", "eng", "ops"], settings: settings) == .admin)
        #expect(SignInRules.role(groups: ["all", "eng"], settings: settings) == .member)
        #expect(SignInRules.role(groups: ["all"], settings: settings) == .viewer)
        #expect(SignInRules.role(groups: ["sales"], settings: settings) == nil)
        settings.defaultRole = "viewer"
        #expect(SignInRules.role(groups: [], settings: settings) == .viewer)
        let (verifier, challenge) = SignInRules.pkce()
        #expect(verifier.count == 43 && challenge.count == 43)
        #expect(verifier.allSatisfy { $0.isLetter || $0.isNumber || "-_".contains($0) })
    }
}

/// `ferry login` (the real binary) signs the command line in through the browser: the device authorization grant,
/// with the person signing in at the identity provider and allowing the code on the dashboard.
@Suite struct DeviceLoginTests {
    @Test func ferryLoginGetsAPersonalKeyAllowedInTheBrowser() async throws {
        let binary = CrashTests.packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the ferry binary first")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-device-\(UUID().uuidString.prefix(8))"
        ).path
        let idp = try await IdentityProvider.start(directory: root)
        do {
            try await SignInTests.serving(idp, root: root) { ferry, server, tenant in
                let environment = ["XDG_CONFIG_HOME": root + "/config", "XDG_DATA_HOME": root + "/data"]
                // Allowed: the CLI gets Ada's key.
                let (login, output) = try await Self.launch(
                    binary, ferry: ferry, name: "test-laptop", environment: environment)
                let code = try await Self.code(output)
                #expect(try await Self.decide(idp, ferry: ferry, code: code, decision: "approve").contains("Allowed."))
                let (status, text) = try await Self.finish(login, output)
                #expect(status == 0 && text.contains("Signed in to \(ferry) as Ada Lovelace (member)"), "\(text)")
                let file = root + "/config/ferry/credentials.json"
                let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
                #expect(mode == 0o600)
                let saved = try #require(JSONValue.parse(try String(contentsOfFile: file, encoding: .utf8)))
                let key = try #require(saved["servers"]?[ferry]?["key"]?.stringValue)
                let me = try await ServerAPITests.Client(port: Int(ferry.split(separator: ":").last!)!)
                    .send(.GET, "/v1/me", key: key)
                #expect(me.json["person"]?["name"] == "Ada Lovelace" && me.json["role"] == "member", "\(me.body)")
                let keys = try await server.store.keys(tenantID: tenant.id)
                let issued = try #require(keys.first { $0.name == "ferry login" })
                // `ferry mcp --server` uses the same key: run_task through the real MCP SDK lands in the team's queue
                // as Ada's task.
                let repo = try await FixtureRepo.make(ServerAPITests.files)
                _ = try await server.store.createProject(
                    Project(
                        id: "prj_calc", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                        testCommand: nil, createdAt: Date()))
                let (mcpStatus, mcpOutput) = try await ChildProcess.run(
                    AssistServerTests.python,
                    [
                        CrashTests.packageRoot + "/Tests/assist/mcp_remote.py", binary, "mcp", "--repo", repo,
                        "--server", ferry, "--project", "calc",
                    ], environment: environment.merging(["FERRY_API_KEY": ""]) { $1 })
                #expect(mcpStatus == 0, "\(mcpOutput)")
                let started = try #require(
                    JSONValue.parse(String(mcpOutput.split(separator: "\n").last { $0.hasPrefix("{") } ?? "")))
                let taskID = try #require(started["id"]?.stringValue)
                let queued = try #require(try await server.store.task(taskID, tenantID: tenant.id))
                #expect(queued.personID == me.json["person"]?["id"]?.stringValue && queued.createdBy == issued.id)
                #expect(issued.expiresAt.map { $0.timeIntervalSinceNow > 89 * 86_400 } == true)
                // Refused: the CLI says so and keeps no key.
                let (again, againOutput) = try await Self.launch(
                    binary, ferry: ferry, name: "stolen", environment: environment)
                let second = try await Self.code(againOutput)
                #expect(try await Self.decide(idp, ferry: ferry, code: second, decision: "deny").contains("Refused."))
                let (refusedStatus, refusedText) = try await Self.finish(again, againOutput)
                #expect(refusedStatus == 2 && refusedText.contains("refused in the browser"), "\(refusedText)")
                // A used code cannot be allowed again.
                let reused = try await Self.decide(idp, ferry: ferry, code: code, decision: "approve")
                #expect(reused.contains("No such code is waiting"))
                let trail = try await server.store.auditLog(tenantID: tenant.id, limit: 100)
                #expect(trail.contains { $0.action == "device.approve" && $0.detail == "test-laptop" })
                #expect(trail.contains { $0.action == "device.deny" && $0.detail == "stolen" })
                #expect(trail.contains { $0.action == "key.create" && $0.object == issued.id && $0.surface == .signin })
            }
        } catch {
            await idp.stop()
            throw error
        }
        await idp.stop()
    }

    static func launch(_ binary: String, ferry: String, name: String, environment: [String: String])
        async throws -> (BackgroundProcess, String)
    {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-login-\(UUID().uuidString.prefix(8)).log"
        ).path
        let process = try await BackgroundProcess.start(
            binary, ["login", "--server", ferry, "--name", name],
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, stdout: .file(log),
            stderr: .output)
        return (process, log)
    }

    /// The code `ferry login` prints.
    static func code(_ log: String) async throws -> String {
        for _ in 0..<100 {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: #/the code ([A-Z]{4}-[A-Z]{4})/#) { return String(match.output.1) }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw FerryError(
            .usage, "ferry login printed no code: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    static func finish(_ process: BackgroundProcess, _ log: String) async throws -> (Int32, String) {
        var exit = await process.wait(upTo: .seconds(30))
        if exit == nil { exit = await process.stop() }
        return (exit?.code ?? -1, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// The person's part in the browser: sign in through the provider, landing on the code's page, and decide.
    static func decide(_ idp: IdentityProvider, ferry: String, code: String, decision: String) async throws -> String {
        let signedIn = try await SignInTests.signIn(
            idp, ferry: ferry, user: "ada", password: "ada-pw", next: "/device?code=\(code)")
        #expect(signedIn.location == "/device?code=\(code)")
        let cookie = try #require(SignInTests.session(signedIn))
        let page = try await SignInTests.send(idp.http, .GET, ferry + "/device?code=\(code)", cookie: cookie)
        let csrf = DashboardTests.csrf(page.body)
        let decided = try await SignInTests.send(
            idp.http, .POST, ferry + "/device", cookie: cookie, form: "csrf=\(csrf)&code=\(code)&decision=\(decision)")
        return decided.body
    }
}

/// The device grant's rules, pure, and each store keeping them.
@Suite struct DeviceGrantTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aGrantIsIssuedOnceAfterItsApprovalAndPollsTooSoonSlowDown() {
        var grant = DeviceGrant(
            deviceCodeHash: "h", userCode: "BCDF-GHJK", client: "cli", createdAt: Self.t0,
            expiresAt: Self.t0.addingTimeInterval(600))
        var (answer, stored) = DeviceGrantRules.poll(grant, now: Self.t0.addingTimeInterval(5))
        #expect(answer == .pending)
        (answer, stored) = DeviceGrantRules.poll(stored, now: Self.t0.addingTimeInterval(7))
        #expect(answer == .slowDown && stored.interval == 10)
        grant = try! #require(
            DeviceGrantRules.decide(stored, approve: true, tenantID: "ten", personID: "per", now: Self.t0))
        #expect(DeviceGrantRules.decide(grant, approve: false, tenantID: "ten", personID: "x", now: Self.t0) == nil)
        (answer, stored) = DeviceGrantRules.poll(grant, now: Self.t0.addingTimeInterval(30))
        #expect(answer == .issue(tenantID: "ten", personID: "per") && stored.state == .used)
        #expect(DeviceGrantRules.poll(stored, now: Self.t0.addingTimeInterval(40)).answer == .expired, "once")
        let late = DeviceGrant(
            deviceCodeHash: "h2", userCode: "BCDF-GHJL", client: "cli", createdAt: Self.t0,
            expiresAt: Self.t0.addingTimeInterval(600))
        #expect(DeviceGrantRules.poll(late, now: Self.t0.addingTimeInterval(600)).answer == .expired)
        #expect(
            DeviceGrantRules.decide(
                late, approve: true, tenantID: "t", personID: "p", now: Self.t0.addingTimeInterval(601)) == nil)
        #expect(DeviceGrantRules.normalised("bcdf ghjk") == "BCDF-GHJK")
        #expect(DeviceGrantRules.newUserCode().count == 9)
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func eachStoreKeepsTheRules(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let now = Date()
            let grant = DeviceGrant(
                deviceCodeHash: "hash-\(kind)", userCode: "BCDF-GHJK", client: "laptop", createdAt: now,
                expiresAt: now.addingTimeInterval(600))
            try await f.store.createDeviceGrant(grant)
            #expect(try await f.store.deviceGrant(userCode: "BCDF-GHJK")?.client == "laptop")
            #expect(try await f.store.pollDeviceGrant(deviceCodeHash: "hash-\(kind)", now: now) == .pending)
            #expect(try await f.store.pollDeviceGrant(deviceCodeHash: "hash-\(kind)", now: now) == .slowDown)
            #expect(try await f.store.pollDeviceGrant(deviceCodeHash: "nope", now: now) == nil)
            let decided = try await f.store.decideDeviceGrant(
                userCode: "BCDF-GHJK", approve: true, tenantID: f.tenant.id, personID: "per_1", now: now)
            #expect(decided?.state == .approved)
            // Two polls at once: exactly one is issued the key.
            async let first = f.store.pollDeviceGrant(deviceCodeHash: "hash-\(kind)", now: now.addingTimeInterval(20))
            async let second = f.store.pollDeviceGrant(deviceCodeHash: "hash-\(kind)", now: now.addingTimeInterval(20))
            let answers = [try await first, try await second]
            #expect(answers.filter { $0 == .issue(tenantID: f.tenant.id, personID: "per_1") }.count == 1, "\(answers)")
            #expect(answers.contains(.expired))
        }
    }
}
