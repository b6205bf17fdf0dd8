import FerryCore
import FerryServer
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The task list, the new-task form, a task's page (summary, evidence, live trace, diff) and its actions.
extension Dashboard {
    func addTaskRoutes(to router: Router<ServerContext>) {
        router.get("/tasks") { request, _ in try await handle { try await taskList(request) } }
        router.post("/tasks") { request, context in
            try await handle { try await newTask(request, remote: context.remote) }
        }
        router.get("/tasks/:id") { request, context in
            try await handle { try await taskPage(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/tasks/:id/events") { request, context in
            try await handle { try await events(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/tasks/:id/change.patch") { request, context in
            try await handle { try await artefact(request, id: context.parameters.get("id") ?? "", trace: false) }
        }
        router.get("/tasks/:id/trace.jsonl") { request, context in
            try await handle { try await artefact(request, id: context.parameters.get("id") ?? "", trace: true) }
        }
        router.post("/tasks/:id/cancel") { request, context in
            try await handle {
                try await act(request, id: context.parameters.get("id") ?? "", action: "cancel", remote: context.remote)
            }
        }
        router.post("/tasks/:id/retry") { request, context in
            try await handle {
                try await act(request, id: context.parameters.get("id") ?? "", action: "retry", remote: context.remote)
            }
        }
    }

    static let pageSize = 50

    func taskList(_ request: Request) async throws -> Response {
        let viewer = try await signedIn(request)
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : String($0) } }
        var filter = TaskFilter(text: value("q"))
        if let status = value("status") { filter.state = TaskState(rawValue: status) }
        filter.projectID = value("project")
        if value("author") == "me" { filter.createdBy = viewer.principal.keyID }
        filter.since = value("from").flatMap(Self.utcDay)
        filter.until = value("to").flatMap(Self.utcDay).map { $0.addingTimeInterval(86_400) }
        let projects = try await store.projects(tenantID: viewer.principal.tenantID)
        let names = Dictionary(projects.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let models = Dictionary(projects.map { ($0.id, $0.model) }, uniquingKeysWith: { a, _ in a })
        let tasks = try await store.tasks(
            tenantID: viewer.principal.tenantID, filter: filter, limit: Self.pageSize, after: value("cursor"))
        let rows: [[String: Any]] = tasks.map { task in
            [
                "id": task.id, "status": task.state.apiName, "project": names[task.projectID] ?? task.projectID,
                "title": Self.title(task.task),
                "model": task.model ?? models[task.projectID].flatMap { $0 } ?? "default",
                "cost": Self.money(task.costUSD), "time": Self.duration(task.wallSeconds), "steps": task.steps,
                "branch": task.branch as Any, "created": Self.time(task.createdAt) as Any,
            ]
        }
        var keep = query.filter { $0.key != "cursor" }.map {
            "\(Self.percentEncode(String($0.key)))=\(Self.percentEncode(String($0.value)))"
        }
        var next: String?
        if tasks.count == Self.pageSize, let last = tasks.last {
            keep.append("cursor=\(last.id)")
            next = "/tasks?" + keep.joined(separator: "&")
        }
        let statuses = ["queued", "running", "verified", "unverified", "failed", "limit", "cancelled"].map { name in
            ["name": name, "selected": value("status") == name] as [String: Any]
        }
        let projectOptions = projects.map {
            ["id": $0.id, "name": $0.name, "selected": value("project") == $0.id] as [String: Any]
        }
        return html(
            "tasks",
            [
                "title": "Tasks", "tasks": rows, "empty": rows.isEmpty, "next": next as Any,
                "paged": value("cursor") != nil,
                "statuses": statuses, "projects": projectOptions, "hasProjects": !projects.isEmpty,
                "q": value("q") ?? "",
                "from": value("from") ?? "", "to": value("to") ?? "", "mine": value("author") == "me",
            ], viewer: viewer)
    }

    func newTask(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await signedIn(request)
        let fields = try await form(request, viewer)
        let text = (fields["task"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, let projectID = fields["project"],
            let project = try await store.project(projectID, tenantID: viewer.principal.tenantID)
        else { throw page(.badRequest, "A task needs a project and some text. Go back and fill both in.") }
        let requested = fields["max_cost"].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        if let requested, !(requested > 0) || !requested.isFinite {
            throw page(.badRequest, "The cost cap must be a positive number.")
        }
        let api = ServerAPI(store: store, runStore: runStore)
        let maxCost = try await api.admit(
            requested, tenantID: viewer.principal.tenantID, projectID: project.id, personID: viewer.principal.personID)
        let model = fields["model"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        let (task, _) = try await store.createTask(
            NewTask(
                projectID: project.id, task: text, model: model, maxCostUSD: maxCost, createdBy: viewer.principal.keyID,
                personID: viewer.principal.personID),
            tenantID: viewer.principal.tenantID, now: Date())
        try await api.record(
            viewer.principal, "task.create", task.id, "project \(project.name)", remote, surface: .dashboard)
        return Self.redirect("/tasks/\(task.id)")
    }

    func act(_ request: Request, id: String, action: String, remote: String?) async throws -> Response {
        let viewer = try await signedIn(request)
        _ = try await form(request, viewer)
        guard let task = try await store.task(id, tenantID: viewer.principal.tenantID) else {
            throw page(.notFound, "No task \(id).")
        }
        let api = ServerAPI(store: store, runStore: runStore)
        if action == "cancel" {
            _ = try await store.requestCancel(id, tenantID: viewer.principal.tenantID, now: Date())
            try await api.record(
                viewer.principal, "task.cancel", id, "status \(task.state.apiName)", remote, surface: .dashboard)
            return Self.redirect("/tasks/\(id)")
        }
        let again = try await api.retry(task, by: viewer.principal, remote: remote, surface: .dashboard)
        return Self.redirect("/tasks/\(again.id)")
    }

    func events(_ request: Request, id: String) async throws -> Response {
        guard let viewer = try await viewer(request) else { return Response(status: .unauthorized) }
        guard try await store.task(id, tenantID: viewer.principal.tenantID) != nil else {
            return Response(status: .notFound)
        }
        // The page has shown the events up to `after` (RUN:SEQ); a reconnect sends Last-Event-ID.
        let mark =
            request.headers[HTTPField.Name("Last-Event-ID")!]
            ?? request.uri.queryParameters.get("after").map { String($0) }
        var resume: (run: String, seq: Int)?
        if let mark, let colon = mark.lastIndex(of: ":"), let seq = Int(mark[mark.index(after: colon)...]) {
            resume = (String(mark[..<colon]), seq)
        }
        return ServerAPI.eventStream(
            store: store, runStore: runStore, taskID: id, tenantID: viewer.principal.tenantID, resume: resume)
    }

    func artefact(_ request: Request, id: String, trace: Bool) async throws -> Response {
        let viewer = try await signedIn(request)
        guard let task = try await store.task(id, tenantID: viewer.principal.tenantID) else {
            throw page(.notFound, "No task \(id).")
        }
        var text = task.diff ?? ""
        if trace, let run = task.runID {
            text = try await runStore.events(of: run).map(\.jsonLine).joined(separator: "\n") + "\n"
        }
        let name = "\(task.id)." + (trace ? "trace.jsonl" : "patch")
        return Response(
            status: .ok,
            headers: [
                .contentType: trace ? "application/x-ndjson" : "text/x-diff; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(name)\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The start of a `YYYY-MM-DD` day in UTC.
    static func utcDay(_ text: String) -> Date? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
    }

    /// A task's first line, at most 100 characters.
    static func title(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? text
        return line.count > 100 ? String(line.prefix(99)) + "…" : line
    }
}
