import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The team server's HTTP API (`docs/SERVER.md`): JSON under `/v1` behind bearer API keys, RFC 9457 problem bodies
/// for errors. A key of one tenant asking for another tenant's object gets 404, never the object.
public struct ServerAPI: Sendable {
    public let store: any ServerStore
    public let runStore: any RunStore
    /// What tenants may point the server at (project paths and URLs, webhooks). The default is the strictest: git
    /// URLs to public hosts only.
    public let policy: ServerPolicy
    /// Seals webhook secrets before they are stored; without one, a project cannot have a webhook.
    public let secrets: SecretBox?
    /// The operator's token for `/metrics`; nil: `/metrics` answers no one.
    public let metricsToken: String?

    public init(
        store: any ServerStore, runStore: any RunStore, policy: ServerPolicy = ServerPolicy(),
        secrets: SecretBox? = nil,
        metricsToken: String? = nil
    ) {
        self.store = store
        self.runStore = runStore
        self.policy = policy
        self.secrets = secrets
        self.metricsToken = metricsToken
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    public func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.get("/healthz") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        // Ready when the store answers.
        router.get("/readyz") { _, _ in
            do {
                _ = try await store.stats()
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "ready")))
            } catch {
                return Problem(
                    .serviceUnavailable, "the store does not answer: \((error as? FerryError)?.message ?? "\(error)")"
                ).response
            }
        }
        router.get("/openapi.yaml") { _, _ in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
                let text = try? String(contentsOf: url, encoding: .utf8)
            else { return Problem(.internalServerError, "the OpenAPI document is missing from this build").response }
            return Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // Every tenant's counts and spend: for the operator's scraper, with the operator's token (`metrics.token` in the
        // data directory, or $FERRY_METRICS_TOKEN), never a tenant's key.
        router.get("/metrics") { request, _ in
            try await handle {
                guard let metricsToken, let header = request.headers[.authorization],
                    header.lowercased().hasPrefix("bearer "),
                    Self.constantTimeEqual(
                        String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), metricsToken)
                else {
                    throw Problem(
                        .unauthorized,
                        "/metrics takes the operator's metrics token (metrics.token in the server's data directory)")
                }
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: try await store.stats().prometheus)))
            }
        }
        // The API proper: each route behind the key its access needs, its errors as problem bodies.
        let api = router.group().add(middleware: ProblemResponses())
        let groups = Dictionary(
            uniqueKeysWithValues: [Access.read, .write, .admin].map {
                ($0, api.group().add(middleware: KeyAuthentication(store: store, access: $0)))
            })
        for route in Self.routes {
            groups[route.access]!.on(RouterPath(route.path), method: route.method) { request, context in
                try await route.handler(self, request, try context.call())
            }
        }
        Self.refuseOtherMethods(on: router)
        return router
    }

    /// One route of the API: its method and path, what it asks of the caller's key, and what answers.
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var access: Access
        var handler: @Sendable (ServerAPI, Request, APICall) async throws -> Response
    }

    /// Every route under `/v1` (`docs/openapi.yaml` describes each).
    static let routes: [Route] = [
        Route(method: .get, path: "/v1/projects", access: .read) { try await $0.listProjects($1, $2.principal) },
        Route(method: .post, path: "/v1/projects", access: .write) {
            try await $0.createProject($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/projects/:id", access: .read) {
            try await $0.getProject($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks", access: .read) { try await $0.listTasks($1, $2.principal) },
        Route(method: .post, path: "/v1/tasks", access: .write) {
            try await $0.createTask($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/tasks/:id", access: .read) { try await $0.getTask($1, $2.principal, id: $2.id) },
        Route(method: .get, path: "/v1/tasks/:id/diff", access: .read) {
            try await $0.getDiff($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks/:id/events", access: .read) {
            try await $0.streamEvents($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks/:id/deliveries", access: .read) {
            try await $0.taskDeliveries($1, $2.principal, id: $2.id)
        },
        Route(method: .post, path: "/v1/tasks/:id/cancel", access: .write) {
            try await $0.cancelTask($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .post, path: "/v1/tasks/:id/retry", access: .write) {
            try await $0.retryTask($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/budgets", access: .read) { try await $0.getBudgets($1, $2.principal) },
        Route(method: .put, path: "/v1/budgets/tenant", access: .admin) {
            try await $0.putBudget($1, $2.principal, project: nil, remote: $2.remote)
        },
        Route(method: .put, path: "/v1/budgets/projects/:id", access: .admin) {
            try await $0.putBudget($1, $2.principal, project: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/keys", access: .admin) { try await $0.listKeys($1, $2.principal) },
        Route(method: .post, path: "/v1/keys", access: .admin) {
            try await $0.createKey($1, $2.principal, remote: $2.remote)
        },
        Route(method: .delete, path: "/v1/keys/:id", access: .admin) {
            try await $0.revokeKey($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/audit", access: .admin) { try await $0.auditLog($1, $2.principal) },
        Route(method: .get, path: "/v1/evals", access: .read) { try await $0.listEvals($1, $2.principal) },
        Route(method: .post, path: "/v1/evals", access: .write) {
            try await $0.importEval($1, $2.principal, remote: $2.remote)
        },
    ]

    /// Each path and the methods it serves; any other method gets 405 with `Allow`, not 404.
    static var methods: [(path: String, allowed: [HTTPRequest.Method])] {
        var paths = ["/healthz", "/readyz", "/metrics", "/openapi.yaml"]
        var allowed: [String: [HTTPRequest.Method]] = Dictionary(uniqueKeysWithValues: paths.map { ($0, [.get]) })
        for route in routes {
            if allowed[route.path] == nil { paths.append(route.path) }
            allowed[route.path, default: []].append(route.method)
        }
        return paths.map { ($0, allowed[$0]!) }
    }

    static func refuseOtherMethods(on router: Router<ServerContext>) {
        let all: [HTTPRequest.Method] =
            [.get, .post, .put, .delete, .patch, .options, .trace, .head, .connect]
            + [HTTPRequest.Method("QUERY")!]
        for (path, allowed) in methods {
            // HEAD is answered for GET routes by the server itself.
            for method in all where !allowed.contains(method) && !(method == .head && allowed.contains(.get)) {
                router.on(RouterPath(path), method: method) { _, _ in
                    var response = Problem(
                        .methodNotAllowed, "\(path) takes \(allowed.map(\.rawValue).joined(separator: ", "))"
                    ).response
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
            }
        }
    }

    /// The document's pattern for `webhook_url`, exactly.
    nonisolated(unsafe) static let webhookURL = #/https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\/?&=+-]*)?/#

    /// A string field: absent is nil; present with another type is a 400.
    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        guard let value = body[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw Problem(.badRequest, "\"\(key)\" must be a string") }
        return text
    }

    /// A number field: absent is nil; present with another type is a 400.
    static func number(_ body: JSONValue, _ key: String) throws -> Double? {
        guard let value = body[key], value != .null else { return nil }
        guard case .number(let number) = value else { throw Problem(.badRequest, "\"\(key)\" must be a number") }
        return number
    }

    /// A whole-number field within bounds: absent is nil; anything else is a 400.
    static func integer(_ body: JSONValue, _ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let number = try number(body, key) else { return nil }
        guard number == number.rounded(), let value = Int(exactly: number), range.contains(value) else {
            throw Problem(
                .badRequest, "\"\(key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A query parameter `limit` within bounds, else a 400.
    static func limit(_ request: Request, default value: Int, max: Int) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return value }
        guard let limit = Int(text), (1...max).contains(limit) else {
            throw Problem(.badRequest, "\"limit\" must be a whole number from 1 to \(max)")
        }
        return limit
    }

    // MARK: - Projects

    func createProject(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let body = try await json(request)
        guard let name = try Self.string(body, "name"), let repo = try Self.string(body, "repo"), !repo.isEmpty else {
            throw Problem(
                .badRequest, "a project needs a \"name\" and a \"repo\" (a git URL, or a path the server allows)")
        }
        var push = false
        if let value = body["push"], value != .null {
            guard case .bool(let flag) = value else { throw Problem(.badRequest, "\"push\" must be true or false") }
            push = flag
        }
        let project = try await addProject(
            principal, name: name, repo: repo, base: try Self.string(body, "base"),
            model: try Self.string(body, "model"),
            testCommand: try Self.string(body, "test_command"), webhook: try Self.string(body, "webhook_url"),
            push: push,
            remote: remote, via: nil)
        // The webhook's signing secret is shown this once.
        var created = Self.json(project)
        if case .object(var fields) = created, let secret = project.webhookSecret {
            fields["webhook_secret"] = .string(secret)
            created = .object(fields)
        }
        return Self.respond(.created, created)
    }

    /// Creates a project for the API and the dashboard alike, by the server's rules: a name of 1–100 characters; a
    /// repository the `policy` allows (a local path is stored resolved, and may not overlap another tenant's); a base
    /// git cannot read as an option; a webhook to an address the egress rule allows. Recorded in the audit log.
    func addProject(
        _ principal: Principal, name rawName: String, repo: String, base: String?, model: String?, testCommand: String?,
        webhook: String?, push: Bool, remote: String?, via: String?
    ) async throws -> Project {
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count), !name.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw Problem(.badRequest, "a project's \"name\" is 1 to 100 characters on one line")
        }
        if let base { try Self.checkRef(base, "base") }
        if try await store.project(name, tenantID: principal.tenantID) != nil {
            throw Problem(.conflict, "a project named \(name) already exists")
        }
        if let webhook {
            guard webhook.count <= 2048, webhook.wholeMatch(of: Self.webhookURL) != nil else {
                throw Problem(.badRequest, "\"webhook_url\" must be an http or https URL (http://host[:port][/path])")
            }
            do {
                _ = try await policy.egress.check(url: webhook)
            } catch let refusal as EgressPolicy.Refusal {
                throw Problem(.unprocessableContent, "\"webhook_url\": \(refusal.description)")
            }
        }
        let location: ServerPolicy.Location
        do {
            location = try await policy.check(repo)
        } catch let refusal as ServerPolicy.Refusal {
            throw Problem(.unprocessableContent, refusal.description)
        }
        let stored: String
        switch location {
        case .remote(let url): stored = url
        case .local(let path):
            stored = path
            let others = try await store.localProjects().filter { $0.tenantID != principal.tenantID }
            if others.contains(where: { ServerPolicy.overlaps($0.repo, path) }) {
                throw Problem(
                    .conflict,
                    "\"repo\" is (or holds, or is inside) another tenant's project; one repository belongs to one tenant"
                )
            }
        }
        // The signing secret is shown once (returned here) and stored sealed.
        let secret = webhook.map { _ in Webhooks.newSecret() }
        var sealed: String?
        if let secret {
            guard let secrets else { throw Problem(.internalServerError, "this server cannot store webhook secrets") }
            sealed = try secrets.seal(secret)
        }
        var project = try await store.createProject(
            Project(
                id: ServerIDs.newID("prj"), tenantID: principal.tenantID, name: name, repo: stored,
                base: base ?? "HEAD", model: model, testCommand: testCommand, createdAt: Date(), webhookURL: webhook,
                webhookSecret: sealed, push: push))
        project.webhookSecret = secret
        try await record(
            principal, "project.create", project.id,
            "\(name) at \(Self.redactedURL(stored))\(via.map { " (\($0))" } ?? "")", remote)
        return project
    }

    /// A git ref a tenant names (a project's or a task's base): never read as an option, one line, no control
    /// characters, at most 255 characters.
    static func checkRef(_ ref: String, _ key: String) throws {
        guard (1...255).contains(ref.count), !ref.hasPrefix("-"),
            !ref.unicodeScalars.contains(where: {
                $0.value < 0x21 || $0.value == 0x7F || ":?*[\\".unicodeScalars.contains($0)
            })
        else {
            throw Problem(
                .badRequest,
                "\"\(key)\" must be a branch, tag or commit: 1–255 characters, no spaces, not starting with '-'")
        }
    }

    /// A URL with any password taken out, for the audit log.
    static func redactedURL(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    func listProjects(_ request: Request, _ principal: Principal) async throws -> Response {
        let projects = try await store.projects(tenantID: principal.tenantID)
        return Self.respond(.ok, ["data": .array(projects.map(Self.json))])
    }

    func getProject(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(id)")
        }
        return Self.respond(.ok, Self.json(project))
    }

    // MARK: - Plumbing

    /// The caller's principal for the surfaces that answer in their own error shapes (MCP, chat).
    func authorize(_ request: Request, access: Access) async throws -> Principal {
        try await KeyAuthentication.principal(request, store: store, access: access)
    }

    func json(_ request: Request) async throws -> JSONValue {
        // A JSON body says so (or says nothing): a form or text/plain post is not read as JSON.
        if let type = request.headers[.contentType] {
            let media =
                type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
                throw Problem(.unsupportedMediaType, "send the body as JSON with Content-Type: application/json")
            }
        }
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard let value = JSONValue.parse(String(buffer: buffer)), case .object = value else {
            throw Problem(.badRequest, "the body must be a JSON object")
        }
        return value
    }

    /// Runs a route that is not in `routes` (chat, models, metrics), answering what it throws as a problem body.
    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch { return Problem.response(for: error) }
    }

    static func respond(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.jsonString)))
    }

    /// RFC 3339 in UTC to the second. (A new `ISO8601DateFormatter` per date made listing 50 tasks cost ~8x a get.)
    static func iso(_ date: Date?) -> JSONValue {
        date.map { .string(Date.ISO8601FormatStyle().format($0)) } ?? .null
    }

    static func json(_ project: Project) -> JSONValue {
        [
            "id": .string(project.id), "name": .string(project.name), "repo": .string(project.repo),
            "base": .string(project.base), "model": project.model.map { .string($0) } ?? .null,
            "test_command": project.testCommand.map { .string($0) } ?? .null, "created_at": iso(project.createdAt),
            "webhook_url": project.webhookURL.map { .string($0) } ?? .null, "push": .bool(project.push),
        ]
    }

    static func json(_ task: ServerTask) -> JSONValue {
        [
            "id": .string(task.id), "status": .string(task.state.apiName), "project": .string(task.projectID),
            "task": .string(task.task), "base": task.base.map { .string($0) } ?? .null,
            "model": task.model.map { .string($0) } ?? .null, "max_cost": task.maxCostUSD.map { .number($0) } ?? .null,
            "attempt": .number(Double(task.attempt)), "max_attempts": .number(Double(task.maxAttempts)),
            "branch": task.branch.map { .string($0) } ?? .null, "commit": task.commitSHA.map { .string($0) } ?? .null,
            "run_id": task.runID.map { .string($0) } ?? .null, "reason": task.reason.map { .string($0) } ?? .null,
            "errors": .array(task.errors.map { .string($0) }), "cost_usd": .number(task.costUSD),
            "cancel_requested": .bool(task.cancelRequested), "created_at": iso(task.createdAt),
            "pushed_to": task.pushedTo.map { .string($0) } ?? .null,
            "finished_at": iso(task.finishedAt), "created_by": task.createdBy.map { .string($0) } ?? .null,
            "retry_of": task.retryOf.map { .string($0) } ?? .null, "steps": .number(Double(task.steps)),
            "wall_seconds": task.wallSeconds.map { .number($0) } ?? .null,
        ]
    }
}
