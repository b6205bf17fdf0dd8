import FerryCore
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

    public init(store: any ServerStore, runStore: any RunStore) {
        self.store = store
        self.runStore = runStore
    }

    public func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        // Ready when the store answers.
        router.get("/readyz") { _, _ in
            do {
                _ = try await store.stats()
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ready")))
            } catch {
                return Problem(.serviceUnavailable, "the store does not answer: \((error as? FerryError)?.message ?? "\(error)")").response
            }
        }
        router.get("/openapi.yaml") { _, _ in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
                let text = try? String(contentsOf: url, encoding: .utf8)
            else { return Problem(.internalServerError, "the OpenAPI document is missing from this build").response }
            return Response(
                status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/metrics") { _, _ in
            try await handle {
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: try await store.stats().prometheus)))
            }
        }
        router.get("/v1/projects") { request, _ in try await handle { try await listProjects(request) } }
        router.post("/v1/projects") { request, context in try await handle { try await createProject(request, remote: context.remote) } }
        router.get("/v1/projects/:id") { request, context in
            try await handle { try await getProject(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/v1/tasks") { request, _ in try await handle { try await listTasks(request) } }
        router.post("/v1/tasks") { request, context in try await handle { try await createTask(request, remote: context.remote) } }
        router.get("/v1/tasks/:id") { request, context in
            try await handle { try await getTask(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/v1/tasks/:id/diff") { request, context in
            try await handle { try await getDiff(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/v1/tasks/:id/events") { request, context in
            try await handle { try await streamEvents(request, id: context.parameters.get("id") ?? "") }
        }
        router.post("/v1/tasks/:id/cancel") { request, context in
            try await handle { try await cancelTask(request, id: context.parameters.get("id") ?? "", remote: context.remote) }
        }
        router.get("/v1/budgets") { request, _ in try await handle { try await getBudgets(request) } }
        router.put("/v1/budgets/tenant") { request, context in
            try await handle { try await putBudget(request, project: nil, remote: context.remote) }
        }
        router.put("/v1/budgets/projects/:id") { request, context in
            try await handle { try await putBudget(request, project: context.parameters.get("id") ?? "", remote: context.remote) }
        }
        router.get("/v1/keys") { request, _ in try await handle { try await listKeys(request) } }
        router.post("/v1/keys") { request, context in try await handle { try await createKey(request, remote: context.remote) } }
        router.delete("/v1/keys/:id") { request, context in
            try await handle { try await revokeKey(request, id: context.parameters.get("id") ?? "", remote: context.remote) }
        }
        router.get("/v1/audit") { request, _ in try await handle { try await auditLog(request) } }
        Self.refuseOtherMethods(on: router)
        return router
    }

    /// Each path and the methods it serves; any other method gets 405 with `Allow`, not 404.
    static let methods: [(path: String, allowed: [HTTPRequest.Method])] = [
        ("/healthz", [.get]), ("/readyz", [.get]), ("/metrics", [.get]), ("/openapi.yaml", [.get]),
        ("/v1/projects", [.get, .post]), ("/v1/projects/:id", [.get]), ("/v1/tasks", [.get, .post]),
        ("/v1/tasks/:id", [.get]), ("/v1/tasks/:id/diff", [.get]), ("/v1/tasks/:id/events", [.get]),
        ("/v1/tasks/:id/cancel", [.post]), ("/v1/budgets", [.get]), ("/v1/budgets/tenant", [.put]),
        ("/v1/budgets/projects/:id", [.put]), ("/v1/keys", [.get, .post]), ("/v1/keys/:id", [.delete]), ("/v1/audit", [.get]),
    ]

    static func refuseOtherMethods(on router: Router<ServerContext>) {
        let all: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .options, .trace, .head, .connect]
            + [HTTPRequest.Method("QUERY")!]
        for (path, allowed) in methods {
            // HEAD is answered for GET routes by the server itself.
            for method in all where !allowed.contains(method) && !(method == .head && allowed.contains(.get)) {
                router.on(RouterPath(path), method: method) { _, _ in
                    var response = Problem(
                        .methodNotAllowed, "\(path) takes \(allowed.map(\.rawValue).joined(separator: ", "))").response
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
            }
        }
    }

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
            throw Problem(.badRequest, "\"\(key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
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

    func createProject(_ request: Request, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true)
        let body = try await json(request)
        guard let name = try Self.string(body, "name"), !name.isEmpty, let repo = try Self.string(body, "repo"), !repo.isEmpty else {
            throw Problem(.badRequest, "a project needs a \"name\" and a \"repo\" (a local path or a git URL)")
        }
        let base = try Self.string(body, "base")
        let model = try Self.string(body, "model")
        let testCommand = try Self.string(body, "test_command")
        if try await store.project(name, tenantID: principal.tenantID) != nil {
            throw Problem(.conflict, "a project named \(name) already exists")
        }
        let project = try await store.createProject(Project(
            id: SQLiteServerStore.newID("prj"), tenantID: principal.tenantID, name: name, repo: repo,
            base: base ?? "HEAD", model: model, testCommand: testCommand, createdAt: Date()))
        try await record(principal, "project.create", project.id, "\(name) at \(repo)", remote)
        return Self.respond(.created, Self.json(project))
    }

    func listProjects(_ request: Request) async throws -> Response {
        let principal = try await authorize(request, write: false)
        let projects = try await store.projects(tenantID: principal.tenantID)
        return Self.respond(.ok, ["data": .array(projects.map(Self.json))])
    }

    func getProject(_ request: Request, id: String) async throws -> Response {
        let principal = try await authorize(request, write: false)
        guard let project = try await store.project(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(id)")
        }
        return Self.respond(.ok, Self.json(project))
    }

    // MARK: - Tasks

    func createTask(_ request: Request, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true)
        let body = try await json(request)
        guard let projectRef = try Self.string(body, "project"), let text = try Self.string(body, "task"),
            !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else { throw Problem(.badRequest, "a task needs a \"project\" (id or name) and a non-empty \"task\"") }
        let requestedCost = try Self.number(body, "max_cost")
        if let requestedCost, !(requestedCost > 0) || !requestedCost.isFinite {
            throw Problem(.badRequest, "\"max_cost\" must be a positive number of USD")
        }
        let base = try Self.string(body, "base")
        let model = try Self.string(body, "model")
        let maxAttempts = try Self.integer(body, "max_attempts", in: 1...20) ?? 3
        let priority = try Self.integer(body, "priority", in: -1_000...1_000) ?? 0
        guard let project = try await store.project(projectRef, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(projectRef)")
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        // Budgets are enforced at create: a task that could take the month past one is refused.
        let maxCost: Double?
        do {
            maxCost = try BudgetPolicy.admit(
                maxCostUSD: requestedCost,
                budgets: try await store.budgets(tenantID: principal.tenantID, projectID: project.id, now: Date()))
        } catch let refusal as BudgetPolicy.Refusal {
            throw Problem(.init(code: 402, reasonPhrase: "Payment Required"), refusal.message, extra: [
                "budget_usd": .number(refusal.budget.monthlyUSD), "spent_usd": .number(refusal.budget.spentUSD),
                "requested_usd": refusal.requestedUSD.map { .number($0) } ?? .null,
                "scope": refusal.budget.projectID.map { .string("project \($0)") } ?? "tenant",
            ])
        }
        let (task, created) = try await store.createTask(
            NewTask(
                projectID: project.id, task: text, base: base, model: model, maxCostUSD: maxCost, maxAttempts: maxAttempts,
                priority: priority, idempotencyKey: key),
            tenantID: principal.tenantID, now: Date())
        if created { try await record(principal, "task.create", task.id, "project \(project.name)", remote) }
        return Self.respond(created ? .created : .ok, Self.json(task, project: project))
    }

    func listTasks(_ request: Request) async throws -> Response {
        let principal = try await authorize(request, write: false)
        let query = request.uri.queryParameters
        var state: TaskState?
        if let name = query.get("status") {
            guard let parsed = TaskState(rawValue: name), parsed != .retryable else {
                throw Problem(.badRequest, "unknown status \(name)")
            }
            state = parsed
        }
        let limit = try Self.limit(request, default: 50, max: 200)
        let tasks = try await store.tasks(tenantID: principal.tenantID, state: state, limit: limit, after: query.get("cursor"))
        var page: [String: JSONValue] = ["data": .array(tasks.map { Self.json($0) })]
        page["next_cursor"] = tasks.count == max(1, min(limit, 200)) ? tasks.last.map { .string($0.id) } ?? .null : .null
        return Self.respond(.ok, .object(page))
    }

    func getTask(_ request: Request, id: String) async throws -> Response {
        let principal = try await authorize(request, write: false)
        guard let task = try await store.task(id, tenantID: principal.tenantID) else { throw Problem(.notFound, "no task \(id)") }
        return Self.respond(.ok, Self.json(task))
    }

    func getDiff(_ request: Request, id: String) async throws -> Response {
        let principal = try await authorize(request, write: false)
        guard let task = try await store.task(id, tenantID: principal.tenantID) else { throw Problem(.notFound, "no task \(id)") }
        guard task.state.isTerminal else {
            throw Problem(.conflict, "task \(id) has no change yet (status \(task.state.apiName)); ask again when it has ended")
        }
        let patch = task.diff ?? ""
        return Response(
            status: .ok, headers: [.contentType: "text/x-diff; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: patch)))
    }

    /// The task's run events as server-sent events, live until the task ends. Each event's id is `RUN:SEQ`; a
    /// reconnect with `Last-Event-ID` resumes after it (a later attempt's run starts from its beginning).
    func streamEvents(_ request: Request, id: String) async throws -> Response {
        let principal = try await authorize(request, write: false)
        guard try await store.task(id, tenantID: principal.tenantID) != nil else { throw Problem(.notFound, "no task \(id)") }
        var resume: (run: String, seq: Int)?
        if let last = request.headers[HTTPField.Name("Last-Event-ID")!], let colon = last.lastIndex(of: ":"),
            let seq = Int(last[last.index(after: colon)...])
        {
            resume = (String(last[..<colon]), seq)
        }
        let (store, runStore, tenantID, start) = (self.store, self.runStore, principal.tenantID, resume)
        let body = ResponseBody { writer in
            var run = start?.run
            var sent = start?.seq ?? 0
            var idle = 0.0
            while true {
                guard let task = try await store.task(id, tenantID: tenantID) else { break }
                if let current = task.runID, current != run {
                    run = current
                    sent = 0
                }
                var wrote = false
                if let run {
                    for event in try await runStore.events(of: run) where event.seq > sent {
                        try await writer.write(ByteBuffer(
                            string: "id: \(run):\(event.seq)\nevent: \(event.type)\ndata: \(event.jsonLine)\n\n"))
                        sent = event.seq
                        wrote = true
                    }
                }
                if task.state.isTerminal && !wrote {
                    let end: JSONValue = ["status": .string(task.state.apiName), "task": .string(task.id)]
                    try await writer.write(ByteBuffer(string: "event: end\ndata: \(end.jsonString)\n\n"))
                    break
                }
                idle = wrote ? 0 : idle + 0.25
                if idle >= 15 {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    idle = 0
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func cancelTask(_ request: Request, id: String, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true)
        guard let task = try await store.requestCancel(id, tenantID: principal.tenantID, now: Date()) else {
            throw Problem(.notFound, "no task \(id)")
        }
        try await record(principal, "task.cancel", id, "status \(task.state.apiName)", remote)
        return Self.respond(.accepted, Self.json(task))
    }

    // MARK: - Budgets

    func getBudgets(_ request: Request) async throws -> Response {
        let principal = try await authorize(request, write: false)
        var rows: [JSONValue] = []
        for budget in try await store.budgets(tenantID: principal.tenantID, projectID: nil, now: Date()) {
            rows.append(Self.json(budget))
        }
        for project in try await store.projects(tenantID: principal.tenantID) {
            for budget in try await store.budgets(tenantID: principal.tenantID, projectID: project.id, now: Date())
            where budget.projectID != nil {
                rows.append(Self.json(budget))
            }
        }
        return Self.respond(.ok, ["data": .array(rows)])
    }

    func putBudget(_ request: Request, project reference: String?, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true, admin: true)
        var projectID: String?
        if let reference {
            guard let project = try await store.project(reference, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no project \(reference)")
            }
            projectID = project.id
        }
        let body = try await json(request)
        let amount = body["monthly_usd"]
        guard amount == .null || ((try? Self.number(body, "monthly_usd")).flatMap { $0 } ?? -1) >= 0 else {
            throw Problem(.badRequest, "\"monthly_usd\" must be a number of USD, 0 or more (null removes the budget)")
        }
        try await store.setBudget(tenantID: principal.tenantID, projectID: projectID, monthlyUSD: amount?.doubleValue)
        try await record(
            principal, "budget.set", projectID ?? principal.tenantID,
            amount?.doubleValue.map { "monthly $\($0)" } ?? "removed", remote)
        let now = try await store.budgets(tenantID: principal.tenantID, projectID: projectID, now: Date())
            .first { $0.projectID == projectID }
        return Self.respond(.ok, now.map(Self.json) ?? ["project": projectID.map { .string($0) } ?? .null, "monthly_usd": .null])
    }

    static func json(_ budget: BudgetStatus) -> JSONValue {
        [
            "project": budget.projectID.map { .string($0) } ?? .null, "monthly_usd": .number(budget.monthlyUSD),
            "spent_usd": .number(budget.spentUSD), "remaining_usd": .number(budget.remainingUSD),
        ]
    }

    // MARK: - Keys and the audit log

    func listKeys(_ request: Request) async throws -> Response {
        let principal = try await authorize(request, write: false, admin: true)
        let keys = try await store.keys(tenantID: principal.tenantID).map { key -> JSONValue in
            [
                "id": .string(key.id), "role": .string(key.role.rawValue), "created_at": Self.iso(key.createdAt),
                "revoked_at": Self.iso(key.revokedAt),
            ]
        }
        return Self.respond(.ok, ["data": .array(keys)])
    }

    func createKey(_ request: Request, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true, admin: true)
        let body = try await json(request)
        guard let role = try Self.string(body, "role").flatMap(Role.init(rawValue:)) else {
            throw Problem(.badRequest, "\"role\" must be one of admin, member, viewer")
        }
        let (id, key) = try await store.createKey(tenantID: principal.tenantID, role: role)
        try await record(principal, "key.create", id, "role \(role.rawValue)", remote)
        // The key itself is shown this once; only its hash is kept.
        return Self.respond(.created, ["id": .string(id), "role": .string(role.rawValue), "key": .string(key)])
    }

    func revokeKey(_ request: Request, id: String, remote: String?) async throws -> Response {
        let principal = try await authorize(request, write: true, admin: true)
        guard try await store.revokeKey(id: id, tenantID: principal.tenantID, now: Date()) else {
            throw Problem(.notFound, "no live key \(id)")
        }
        try await record(principal, "key.revoke", id, "", remote)
        return Response(status: .noContent)
    }

    func auditLog(_ request: Request) async throws -> Response {
        let principal = try await authorize(request, write: false, admin: true)
        let limit = try Self.limit(request, default: 100, max: 500)
        let entries = try await store.auditLog(tenantID: principal.tenantID, limit: limit).map { entry -> JSONValue in
            [
                "key": .string(entry.keyID), "action": .string(entry.action), "object": .string(entry.object),
                "detail": .string(entry.detail), "remote": entry.remote.map { .string($0) } ?? .null, "at": Self.iso(entry.at),
            ]
        }
        return Self.respond(.ok, ["data": .array(entries)])
    }

    func record(_ principal: Principal, _ action: String, _ object: String, _ detail: String, _ remote: String?) async throws {
        try await store.audit(AuditEntry(
            tenantID: principal.tenantID, keyID: principal.keyID, action: action, object: object, detail: detail,
            remote: remote, at: Date()))
    }

    // MARK: - Plumbing

    func authorize(_ request: Request, write: Bool, admin: Bool = false) async throws -> Principal {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw Problem(.unauthorized, "send an API key: Authorization: Bearer KEY")
        }
        guard let principal = try await store.authenticate(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        else { throw Problem(.unauthorized, "the API key is not valid (unknown or revoked)") }
        if write && !principal.role.canWrite { throw Problem(.forbidden, "a viewer key cannot change anything") }
        if admin && principal.role != .admin { throw Problem(.forbidden, "only an admin key can do this") }
        return principal
    }

    func json(_ request: Request) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard case .object? = JSONValue.parse(String(buffer: buffer)), let value = JSONValue.parse(String(buffer: buffer))
        else { throw Problem(.badRequest, "the body must be a JSON object") }
        return value
    }

    func handle(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let problem as Problem {
            return problem.response
        } catch {
            return Problem(.internalServerError, "\((error as? FerryError)?.message ?? "internal error")").response
        }
    }

    static func respond(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.jsonString)))
    }

    static func iso(_ date: Date?) -> JSONValue {
        date.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null
    }

    static func json(_ project: Project) -> JSONValue {
        [
            "id": .string(project.id), "name": .string(project.name), "repo": .string(project.repo),
            "base": .string(project.base), "model": project.model.map { .string($0) } ?? .null,
            "test_command": project.testCommand.map { .string($0) } ?? .null, "created_at": iso(project.createdAt),
        ]
    }

    static func json(_ task: ServerTask, project: Project? = nil) -> JSONValue {
        [
            "id": .string(task.id), "status": .string(task.state.apiName), "project": .string(task.projectID),
            "task": .string(task.task), "base": task.base.map { .string($0) } ?? .null,
            "model": task.model.map { .string($0) } ?? .null, "max_cost": task.maxCostUSD.map { .number($0) } ?? .null,
            "attempt": .number(Double(task.attempt)), "max_attempts": .number(Double(task.maxAttempts)),
            "branch": task.branch.map { .string($0) } ?? .null, "commit": task.commitSHA.map { .string($0) } ?? .null,
            "run_id": task.runID.map { .string($0) } ?? .null, "reason": task.reason.map { .string($0) } ?? .null,
            "errors": .array(task.errors.map { .string($0) }), "cost_usd": .number(task.costUSD),
            "cancel_requested": .bool(task.cancelRequested), "created_at": iso(task.createdAt),
            "finished_at": iso(task.finishedAt),
        ]
    }
}

/// A request's context: the router's, and the client's address for the audit log.
public struct ServerContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    var remote: String? { remoteAddress?.ipAddress }
}

/// An RFC 9457 problem: `application/problem+json` with a status, a title and what went wrong.
struct Problem: Error {
    var status: HTTPResponse.Status
    var detail: String
    /// Members beyond the standard ones (RFC 9457 extensions), e.g. a budget's figures.
    var extra: [String: JSONValue]

    init(_ status: HTTPResponse.Status, _ detail: String, extra: [String: JSONValue] = [:]) {
        self.status = status
        self.detail = detail
        self.extra = extra
    }

    var response: Response {
        var fields: [String: JSONValue] = [
            "type": "about:blank", "title": .string(status.reasonPhrase), "status": .number(Double(status.code)),
            "detail": .string(detail),
        ]
        fields.merge(extra) { old, _ in old }
        let body = JSONValue.object(fields)
        return Response(
            status: status, headers: [.contentType: "application/problem+json"],
            body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
    }
}
