import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Tasks: create (budgets enforced, idempotent), list, get, diff, the live events, cancel.
extension ServerAPI {
    // MARK: - Tasks

    func createTask(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let new = try NewTaskRequest(try await json(request))
        let text = new.task
        guard let project = try await store.project(new.project, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(new.project)")
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key, key.isEmpty || key.count > 255 {
            throw Problem(.badRequest, "an Idempotency-Key must be 1 to 255 characters")
        }
        // A retried create returns the task it made, even when the budget has run out since.
        if let key, let existing = try await store.task(idempotencyKey: key, tenantID: principal.tenantID) {
            guard existing.projectID == project.id, existing.task == text else {
                throw Problem(
                    .unprocessableContent,
                    "the Idempotency-Key \(key) was used for another request (task \(existing.id))")
            }
            return try Self.respond(.ok, TaskResource(existing))
        }
        let maxCost = try await admit(
            new.maxCost, tenantID: principal.tenantID, projectID: project.id, personID: principal.personID)
        let (task, created) = try await store.createTask(
            NewTask(
                projectID: project.id, task: text, base: new.base, model: new.model, maxCostUSD: maxCost,
                maxAttempts: new.maxAttempts, priority: new.priority, idempotencyKey: key, createdBy: principal.keyID,
                personID: principal.personID),
            tenantID: principal.tenantID, now: Date())
        if created { try await record(principal, "task.create", task.id, "project \(project.name)", remote) }
        return try Self.respond(created ? .created : .ok, TaskResource(task))
    }

    /// Budgets are enforced at create: a task that could take the month past one is refused (402); the cap a task
    /// runs under otherwise.
    package func admit(_ requestedCost: Double?, tenantID: String, projectID: String, personID: String?) async throws
        -> Double?
    {
        do {
            return try BudgetPolicy.admit(
                maxCostUSD: requestedCost,
                budgets: try await store.budgets(
                    tenantID: tenantID, projectID: projectID, personID: personID, now: Date()))
        } catch let refusal as BudgetPolicy.Refusal {
            throw Problem(
                .init(code: 402, reasonPhrase: "Payment Required"), refusal.message,
                extra: [
                    "budget_usd": .number(refusal.budget.monthlyUSD), "spent_usd": .number(refusal.budget.spentUSD),
                    "requested_usd": refusal.requestedUSD.map { .number($0) } ?? .null,
                    "scope": refusal.budget.scope.id.map { .string("\(refusal.budget.scope.kind) \($0)") } ?? "tenant",
                ])
        }
    }

    func retryTask(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let original = try await store.task(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no task \(id)")
        }
        let task = try await retry(original, by: principal, remote: remote)
        return try Self.respond(.created, TaskResource(task))
    }

    /// A new task with an ended task's request (its text, project, base, model, cost cap and attempts), linked to it by
    /// `retry_of`, budget-checked and audited; the old task stays as it was. The API's and the dashboard's retry.
    package func retry(
        _ original: ServerTask, by principal: Principal, remote: String?, surface: Surface = .api
    ) async throws
        -> ServerTask
    {
        guard original.state.isTerminal else {
            throw Problem(
                .conflict, "task \(original.id) has not ended (status \(original.state.apiName)); cancel it first")
        }
        let maxCost = try await admit(
            original.maxCostUSD, tenantID: principal.tenantID, projectID: original.projectID,
            personID: principal.personID)
        let (task, _) = try await store.createTask(
            NewTask(
                projectID: original.projectID, task: original.task, base: original.base, model: original.model,
                maxCostUSD: maxCost, maxAttempts: original.maxAttempts, priority: original.priority,
                createdBy: principal.keyID, retryOf: original.id, personID: principal.personID),
            tenantID: principal.tenantID, now: Date())
        try await record(principal, "task.retry", task.id, "retry of \(original.id)", remote, surface: surface)
        return task
    }

    func listTasks(_ request: Request, _ principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        var state: TaskState?
        if let name = query.get("status") {
            guard let parsed = TaskState(rawValue: name), parsed != .retryable else {
                throw Problem(.badRequest, "unknown status \(name)")
            }
            state = parsed
        }
        let limit = try Self.limit(request, default: 50, max: 200)
        var filter = TaskFilter(state: state, text: query.get("q"))
        if let ref = query.get("project") {
            // An unknown project matches no task.
            filter.projectID = try await store.project(ref, tenantID: principal.tenantID)?.id ?? "-"
        }
        let tasks = try await store.tasks(
            tenantID: principal.tenantID, filter: filter, limit: limit, after: query.get("cursor"))
        let next = tasks.count == max(1, min(limit, 200)) ? tasks.last?.id : nil
        return try Self.respond(.ok, ResourceList(tasks.map(TaskResource.init), nextCursor: next))
    }

    func getTask(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let task = try await store.task(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no task \(id)")
        }
        return try Self.respond(.ok, TaskResource(task))
    }

    func getDiff(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let task = try await store.task(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no task \(id)")
        }
        guard task.state.isTerminal else {
            throw Problem(
                .conflict, "task \(id) has no change yet (status \(task.state.apiName)); ask again when it has ended")
        }
        let patch = task.diff ?? ""
        return Response(
            status: .ok, headers: [.contentType: "text/x-diff; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: patch)))
    }

    /// The task's run events as server-sent events, live until the task ends. Each event's id is `RUN:SEQ`; a
    /// reconnect with `Last-Event-ID` resumes after it (a later attempt's run starts from its beginning).
    func streamEvents(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard try await store.task(id, tenantID: principal.tenantID) != nil else {
            throw Problem(.notFound, "no task \(id)")
        }
        var resume: (run: String, seq: Int)?
        if let last = request.headers[HTTPField.Name("Last-Event-ID")!], let colon = last.lastIndex(of: ":"),
            let seq = Int(last[last.index(after: colon)...])
        {
            resume = (String(last[..<colon]), seq)
        }
        return Self.eventStream(
            store: store, runStore: runStore, taskID: id, tenantID: principal.tenantID, resume: resume)
    }

    /// A task's run events as server-sent events from `resume` (run, seq) on, live until the task ends; the API's
    /// and the dashboard's stream. Checked every 100 ms, so an event shows well inside 200 ms of being recorded.
    package static func eventStream(
        store: any ServerStore, runStore: any RunStore, taskID id: String, tenantID: String,
        resume start: (run: String, seq: Int)?
    ) -> Response {
        let body = ResponseBody { writer in
            // A comment first, so the client sees the stream open before the first event.
            try await writer.write(ByteBuffer(string: ": stream\n\n"))
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
                        try await writer.write(
                            ByteBuffer(
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
                idle = wrote ? 0 : idle + 0.1
                if idle >= 15 {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    idle = 0
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func cancelTask(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let task = try await store.requestCancel(id, tenantID: principal.tenantID, now: Date()) else {
            throw Problem(.notFound, "no task \(id)")
        }
        try await record(principal, "task.cancel", id, "status \(task.state.apiName)", remote)
        return try Self.respond(.accepted, TaskResource(task))
    }

    /// The task's webhook deliveries, each with its attempts.
    func taskDeliveries(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard try await store.task(id, tenantID: principal.tenantID) != nil else {
            throw Problem(.notFound, "no task \(id)")
        }
        let rows = try await store.deliveries(taskID: id, tenantID: principal.tenantID).map {
            DeliveryResource($0, attempts: $1)
        }
        return try Self.respond(.ok, ResourceList(rows))
    }
}
