import FerryAssist
import FerryCore
import FerryServerStore
import FerryStore
import Foundation

/// The MCP task tools on a team server: tasks go into the tenant's queue (budgets admitted, audited, created by the
/// key) and are read back in the API's shape; a viewer key may read but not start or cancel.
struct ServerTaskHost: TaskHost {
    let api: ServerAPI
    let principal: Principal
    let assist: ServerAssist
    var store: any ServerStore { api.store }
    var runStore: any RunStore { api.runStore }

    func start(task: String, project reference: String?, base: String?) async throws -> TaskReport {
        try requireWrite()
        guard !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw FerryError(.usage, "the task is empty")
        }
        let project = try await assist.project(reference, for: principal)
        // The API's own admission (402 when a budget is spent) and audit row.
        let maxCost = try await api.admit(
            nil, tenantID: principal.tenantID, projectID: project.id, personID: principal.personID)
        let (created, _) = try await store.createTask(
            NewTask(
                projectID: project.id, task: task, base: base, model: nil, maxCostUSD: maxCost, maxAttempts: 3,
                priority: 0,
                idempotencyKey: nil, createdBy: principal.keyID, personID: principal.personID),
            tenantID: principal.tenantID, now: Date())
        try await api.record(principal, "task.create", created.id, "project \(project.name)", nil, surface: .mcp)
        return TaskReport(created)
    }

    func status(_ id: String) async throws -> TaskReport {
        TaskReport(try await task(id))
    }

    func result(_ id: String) async throws -> TaskReport {
        let task = try await task(id)
        var report = TaskReport(task)
        report.diff = task.diff ?? ""
        if let runID = task.runID {
            // The evidence: the tests at the base and every verification, as the trace recorded them.
            let events = try await runStore.events(of: runID)
            let decode = { (event: RunEvent) in
                (try? JSONDecoder().decode(JSONValue.self, from: Data(event.dataJSON.utf8))) ?? .null
            }
            report.tests = [
                "baseline": events.last { $0.event.type == "tests.baseline" }.map(decode) ?? .null,
                "verifications": .array(events.filter { $0.event.type == "verify.result" }.map(decode)),
            ]
        }
        return report
    }

    func cancel(_ id: String) async throws -> TaskReport {
        try requireWrite()
        guard let task = try await store.requestCancel(id, tenantID: principal.tenantID, now: Date()) else {
            throw NotFound("no task \(id)")
        }
        try await api.record(principal, "task.cancel", id, "status \(task.state.apiName)", nil, surface: .mcp)
        return TaskReport(task)
    }

    func trace(_ id: String) async throws -> String {
        let task = try await task(id)
        guard let runID = task.runID else { return "" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try await runStore.events(of: runID).map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            .joined(separator: "\n")
    }

    func recent(limit: Int) async throws -> [(id: String, title: String)] {
        try await store.tasks(tenantID: principal.tenantID, filter: TaskFilter(), limit: limit, after: nil).map {
            ($0.id, String($0.task.split(separator: "\n").first ?? ""))
        }
    }

    private func task(_ id: String) async throws -> ServerTask {
        guard let task = try await store.task(id, tenantID: principal.tenantID) else { throw NotFound("no task \(id)") }
        return task
    }

    private func requireWrite() throws {
        guard principal.role.canWrite else { throw FerryError(.usage, "a viewer key cannot start or cancel tasks") }
    }
}

extension TaskReport {
    /// A queued task as the task tools show it: the API's fields under the same names.
    init(_ task: ServerTask) {
        let resource = TaskResource(task)
        self.init(id: resource.id, status: resource.status, task: resource.task, reason: resource.reason)
        project = resource.project
        base = resource.base
        branch = resource.branch
        commit = resource.commit
        runID = resource.runID
        steps = resource.steps
        costUSD = resource.costUSD
        wallSeconds = resource.wallSeconds
    }
}
