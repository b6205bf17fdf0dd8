import FerryCore
import FerryServer
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The web dashboard at `/` of `ferry serve`: server-rendered pages (swift-mustache), a little plain JavaScript for
/// the live trace and local times, every asset served from here. Signing in with an API key makes a session cookie
/// (HttpOnly, SameSite=Lax, Secure behind TLS); every form carries the session's CSRF token; the API's tenant and
/// role rules apply.
public struct Dashboard: ServerPages {
    let store: any ServerStore
    let runStore: any RunStore
    let policy: ServerPolicy
    let secrets: SecretBox?
    /// Each tenant's identity provider (by tenant name), for "Sign in with your company account".
    let providers: [String: OIDCProvider]
    let library: MustacheLibrary
    static let cookie = "ferry_session"
    static let sessionSeconds = 12 * 3600.0

    public init(
        store: any ServerStore, runStore: any RunStore, policy: ServerPolicy = ServerPolicy(),
        secrets: SecretBox? = nil,
        providers: [OIDCProvider] = []
    ) async throws {
        self.providers = Dictionary(providers.map { ($0.tenant, $0) }) { first, _ in first }
        self.store = store
        self.runStore = runStore
        self.policy = policy
        self.secrets = secrets
        guard let directory = Bundle.module.resourcePath.map({ $0 + "/dashboard" }) else {
            throw FerryError(.config, "the dashboard's templates are missing from this build")
        }
        library = try await MustacheLibrary(directory: directory)
    }

    /// A signed-in viewer of a page.
    struct Viewer: Sendable {
        var principal: Principal
        var csrf: String
        var token: String
        /// The signed-in person's name (none for the built-in service account's keys).
        var name: String?
    }

    public func addRoutes(to router: Router<ServerContext>) {
        router.get("/") { _, _ in Self.redirect("/tasks") }
        router.get("/login") { request, _ in try await handle { try await loginPage(request, error: nil) } }
        router.post("/login") { request, context in
            try await handle { try await login(request, remote: context.remote) }
        }
        router.post("/logout") { request, context in
            try await handle { try await logout(request, remote: context.remote) }
        }
        router.get("/static/:file") { _, context in staticFile(context.parameters.get("file") ?? "") }
        addSignInRoutes(to: router)
        addDeviceRoutes(to: router)
        addPeopleRoutes(to: router)
        addTaskRoutes(to: router)
        addEvalRoutes(to: router)
        addOtherRoutes(to: router)
    }

    // MARK: - Sessions

    func viewer(_ request: Request) async throws -> Viewer? {
        guard let token = Self.cookieValue(request, Self.cookie),
            let (principal, csrf) = try await store.session(token, now: Date())
        else { return nil }
        var name: String?
        if let id = principal.personID, id != Person.builtInID(tenantID: principal.tenantID) {
            name = try await store.person(id, tenantID: principal.tenantID)?.name
        }
        return Viewer(principal: principal, csrf: csrf, token: token, name: name)
    }

    /// The signed-in viewer, or a redirect to `/login` that comes back here.
    func signedIn(_ request: Request) async throws -> Viewer {
        guard let viewer = try await viewer(request) else {
            let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            throw Self.redirect("/login?next=" + Self.percentEncode(next))
        }
        return viewer
    }

    /// A form post from the signed-in viewer: its fields, once the CSRF token is right and the role may write.
    func form(_ request: Request, _ viewer: Viewer, admin: Bool = false) async throws -> [String: String] {
        let fields = try await Self.formFields(request)
        guard let token = fields["csrf"], Self.constantTimeEqual(token, viewer.csrf) else {
            throw page(
                .forbidden,
                "The form has expired or did not come from this site. Go back, reload the page and try again.")
        }
        guard viewer.principal.role.canWrite else { throw page(.forbidden, "A viewer key cannot change anything.") }
        if admin && viewer.principal.role != .admin { throw page(.forbidden, "Only an admin key can do this.") }
        return fields
    }

    func loginPage(_ request: Request, error: String?, next: String? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let next = next ?? request.uri.queryParameters.get("next").map { String($0) } ?? "/tasks"
        let sso = providers.keys.sorted().map { tenant in
            ["tenant": tenant, "url": "/login/sso/\(Self.percentEncode(tenant))?next=\(Self.percentEncode(next))"]
        }
        return html(
            "login",
            [
                "title": "Sign in", "next": next, "error": error as Any, "signedOut": true, "sso": sso,
                "hasSSO": !sso.isEmpty,
            ],
            status: status)
    }

    func login(_ request: Request, remote: String?) async throws -> Response {
        // A cross-site form may not sign a browser in (login CSRF): when the browser says where the post came from,
        // it must be this site.
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], !["same-origin", "none"].contains(site) {
            throw page(.forbidden, "Sign in from this site's own page.")
        }
        let fields = try await Self.formFields(request)
        let key = (fields["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty, let principal = try await store.authenticate(key) else {
            return try await loginPage(
                request, error: "That key is not valid (unknown, revoked or expired, or its owner was deactivated).",
                next: fields["next"],
                status: .unauthorized)
        }
        let (token, _) = try await store.createSession(
            keyID: principal.keyID, now: Date(), lifetime: Self.sessionSeconds)
        try await ServerAPI(store: store, runStore: runStore).record(
            principal, "session.create", principal.personID ?? principal.keyID, "signed in with a key", remote,
            surface: .dashboard)
        var next = fields["next"] ?? "/tasks"
        // Only a path on this site: never an open redirect.
        if !Self.isLocalPath(next) { next = "/tasks" }
        var response = Self.redirect(next)
        response.headers[.setCookie] = Self.sessionCookie(token, request: request, maxAge: Int(Self.sessionSeconds))
        return response
    }

    func logout(_ request: Request, remote: String?) async throws -> Response {
        if let viewer = try await viewer(request) {
            let fields = try await Self.formFields(request)
            guard let token = fields["csrf"], Self.constantTimeEqual(token, viewer.csrf) else {
                throw page(.forbidden, "The form has expired. Reload the page and try again.")
            }
            try await store.deleteSession(viewer.token)
            try await ServerAPI(store: store, runStore: runStore).record(
                viewer.principal, "session.end", viewer.principal.personID ?? viewer.principal.keyID, "signed out",
                remote, surface: .dashboard)
        }
        var response = Self.redirect("/login")
        response.headers[.setCookie] = Self.sessionCookie("", request: request, maxAge: 0)
        return response
    }

    static func sessionCookie(_ token: String, request: Request, maxAge: Int) -> String {
        let secure =
            request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
            || request.uri.scheme?.rawValue == "https"
        return "\(cookie)=\(token); Path=/; HttpOnly; SameSite=Lax; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }

    // MARK: - Rendering

    /// A page in the layout: `template` with `values`, plus what every page shows.
    func html(_ template: String, _ values: [String: Any], viewer: Viewer? = nil, status: HTTPResponse.Status = .ok)
        -> Response
    {
        var context = values
        if let viewer {
            context["csrf"] = viewer.csrf
            context["role"] = viewer.principal.role.rawValue
            context["who"] = viewer.name as Any
            context["isAdmin"] = viewer.principal.role == .admin
            context["canWrite"] = viewer.principal.role.canWrite
        }
        context["nav_" + template] = true
        let text =
            library.render(Self.unwrapped(context) ?? [:], withTemplate: template) ?? "template \(template) is missing"
        return Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The context with every nil optional taken out (recursively), so `{{#field}}` is false for a missing value
    /// instead of printing "nil".
    static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return nil }
            return unwrapped(wrapped)
        }
        if let dictionary = value as? [String: Any] { return dictionary.compactMapValues { unwrapped($0) } }
        if let array = value as? [[String: Any]] { return array.map { $0.compactMapValues { unwrapped($0) } } }
        return value
    }

    /// An error page (thrown as a response).
    func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        html("error", ["title": status.reasonPhrase, "message": message, "signedOut": true], status: status)
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let response as Response { return response } catch let problem as Problem {
            return page(problem.status, problem.detail)
        } catch let error as any HTTPResponseError {
            return page(
                error.status,
                error.status == .contentTooLarge ? "That was too large to send." : error.status.reasonPhrase)
        } catch {
            return page(.internalServerError, PublicError.message(error))
        }
    }

    /// Whether `next` is a path on this site and nothing a browser could read as another site: one leading `/`, then
    /// only URL path and query characters (a tab, a newline or a backslash, which browsers drop or turn into `/`,
    /// would make `/\t/evil.example` into `//evil.example`).
    static func isLocalPath(_ next: String) -> Bool {
        guard next.hasPrefix("/"), !next.hasPrefix("//"), next.count <= 2048 else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/?")
        return next.allSatisfy { allowed.contains($0) }
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    func staticFile(_ name: String) -> Response {
        let types = ["app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"]
        guard let type = types[name], let path = Bundle.module.resourcePath.map({ $0 + "/dashboard/static/" + name }),
            let data = FileManager.default.contents(atPath: path)
        else { return Response(status: .notFound) }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
