import AsyncHTTPClient
import FerryCore
import FerryServer
import FerryTesting
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The dashboard's rules over real HTTP, without a browser: sessions, CSRF, roles, tenants, escaping, eval imports.
@Suite struct DashboardTests {
    /// No redirects followed, cookies sent by hand.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Page {
        var status: Int
        var location: String?
        var cookie: String?
        var body: String
    }

    static func send(
        _ method: HTTPMethod, _ url: String, cookie: String? = nil, form: String? = nil, headers: [String: String] = [:]
    )
        async throws -> Page
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 22))
        return Page(
            status: Int(response.status.code), location: response.headers.first(name: "Location"),
            cookie: response.headers.first(name: "Set-Cookie"), body: body)
    }

    static func csrf(_ html: String) -> String {
        guard let range = html.range(of: #"name="csrf" value=""#) else { return "" }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test func sessionsCSRFRolesTenantsAndEscaping() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-dash-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let viewerKey = try await server.store.createKey(tenantID: tenant.id, role: .viewer).key
        let other = try await server.store.createTenant(name: "other")
        let outsider = try await server.store.createKey(tenantID: other.id, role: .admin).key
        let project = try await server.store.createProject(
            Project(
                id: "prj_d", tenantID: tenant.id, name: "shop", repo: "/nowhere", base: "main", model: nil,
                testCommand: nil, createdAt: Date()))
        let (task, _) = try await server.store.createTask(
            NewTask(projectID: project.id, task: "<script>alert(1)</script> breaks the cart"), tenantID: tenant.id,
            now: Date())
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.run(port: 0, workers: [], signals: [], pages: try await server.dashboard()) {
                    continuation.yield($0)
                }
            }
            var iterator = ports.makeAsyncIterator()
            let base = "http://127.0.0.1:\(try #require(await iterator.next()))"

            // No session: every page sends the browser to sign in, and back afterwards.
            for path in ["/", "/tasks", "/tasks/\(task.id)", "/spend", "/evals", "/admin"] {
                let page = try await Self.send(.GET, base + path)
                #expect(
                    page.status == 303 && page.location?.hasPrefix(path == "/" ? "/tasks" : "/login") == true, "\(path)"
                )
            }
            let wrong = try await Self.send(.POST, base + "/login", form: "key=fy_nope")
            #expect(wrong.status == 401 && wrong.body.contains("not valid") && wrong.cookie == nil)
            // A post from another site cannot sign a browser in; an open redirect is refused.
            let crossSite = try await Self.send(
                .POST, base + "/login", form: "key=\(admin)", headers: ["Sec-Fetch-Site": "cross-site"])
            #expect(crossSite.status == 403 && crossSite.cookie == nil)
            let login = try await Self.send(.POST, base + "/login", form: "key=\(admin)&next=//evil.example/x")
            #expect(login.status == 303 && login.location == "/tasks")
            let setCookie = try #require(login.cookie)
            #expect(
                setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && !setCookie.contains("Secure"))
            let behindTLS = try await Self.send(
                .POST, base + "/login", form: "key=\(admin)", headers: ["X-Forwarded-Proto": "https"])
            #expect(behindTLS.cookie?.contains("; Secure") == true)
            let cookie = String(setCookie.split(separator: ";")[0])

            // The list escapes what a task says; the page carries a CSRF token and a strict CSP.
            let list = try await Self.send(.GET, base + "/tasks", cookie: cookie)
            #expect(
                list.status == 200 && list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                    && !list.body.contains("<script>alert"))
            let token = Self.csrf(list.body)
            #expect(token.count == 48)
            // A form without the token, or with another, changes nothing.
            #expect(
                try await Self.send(.POST, base + "/tasks/\(task.id)/cancel", cookie: cookie, form: "csrf=x").status
                    == 403)
            #expect(try await server.store.task(id: task.id)?.state == .queued)
            let cancelled = try await Self.send(
                .POST, base + "/tasks/\(task.id)/cancel", cookie: cookie, form: "csrf=\(token)")
            #expect(cancelled.status == 303 && cancelled.location == "/tasks/\(task.id)")
            #expect(try await server.store.task(id: task.id)?.state == .cancelled)

            // Another tenant's admin sees none of it; a viewer cannot post.
            let outsiderCookie = try #require(
                try await Self.send(.POST, base + "/login", form: "key=\(outsider)").cookie
            )
            .split(separator: ";")[0]
            #expect(try await Self.send(.GET, base + "/tasks/\(task.id)", cookie: String(outsiderCookie)).status == 404)
            #expect(
                !(try await Self.send(.GET, base + "/tasks", cookie: String(outsiderCookie)).body.contains(task.id)))
            let viewerCookie = String(
                try #require(try await Self.send(.POST, base + "/login", form: "key=\(viewerKey)").cookie)
                    .split(separator: ";")[0])
            let viewerPage = try await Self.send(.GET, base + "/tasks", cookie: viewerCookie)
            #expect(!viewerPage.body.contains("New task"))
            let refused = try await Self.send(
                .POST, base + "/tasks", cookie: viewerCookie,
                form: "csrf=\(Self.csrf(viewerPage.body))&project=shop&task=x")
            #expect(refused.status == 403)
            #expect(try await Self.send(.GET, base + "/admin", cookie: viewerCookie).status == 403)

            // An eval report imported through the API shows on the accuracy page.
            var request = HTTPClientRequest(url: base + "/v1/evals?name=nightly")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(admin)")
            request.body = .bytes(
                ByteBuffer(
                    string:
                        #"{"metrics": {"label": "ferry", "resolve_rate": 0.7, "resolved": 21, "total": 30, "ci95_low": 0.52, "ci95_high": 0.83, "false_verified_rate": 0.08}, "suite": "/x/ferry-easy/suite.jsonl"}"#
                ))
            #expect(try await Self.http.execute(request, timeout: .seconds(10)).status == .created)
            let evals = try await Self.send(.GET, base + "/evals", cookie: cookie)
            #expect(
                evals.body.contains("nightly") && evals.body.contains("21/30") && evals.body.contains("70.0%")
                    && evals.body.contains("<svg"))

            // Signing out ends the session on the server, not only in the browser.
            let out = try await Self.send(.POST, base + "/logout", cookie: cookie, form: "csrf=\(token)")
            #expect(out.status == 303 && out.cookie?.contains("Max-Age=0") == true)
            #expect(try await Self.send(.GET, base + "/tasks", cookie: cookie).status == 303)
            // A revoked key's sessions end with it.
            let (keyID, key) = try await server.store.createKey(tenantID: tenant.id, role: .member)
            let memberCookie = String(
                try #require(try await Self.send(.POST, base + "/login", form: "key=\(key)").cookie).split(
                    separator: ";")[0])
            #expect(try await Self.send(.GET, base + "/tasks", cookie: memberCookie).status == 200)
            _ = try await server.store.revokeKey(id: keyID, tenantID: tenant.id, now: Date())
            #expect(try await Self.send(.GET, base + "/tasks", cookie: memberCookie).status == 303)
            group.cancelAll()
        }
    }
}
