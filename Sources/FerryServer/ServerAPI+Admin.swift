import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Budgets and eval reports.
extension ServerAPI {
    // MARK: - Budgets

    func getBudgets(_ request: Request, _ principal: Principal) async throws -> Response {
        var rows: [BudgetResource] = []
        for budget in try await store.budgets(tenantID: principal.tenantID, projectID: nil, now: Date()) {
            rows.append(BudgetResource(budget))
        }
        for project in try await store.projects(tenantID: principal.tenantID) {
            for budget in try await store.budgets(tenantID: principal.tenantID, projectID: project.id, now: Date())
            where budget.projectID != nil {
                rows.append(BudgetResource(budget))
            }
        }
        return try Self.respond(.ok, ResourceList(rows))
    }

    func putBudget(_ request: Request, _ principal: Principal, project reference: String?, remote: String?) async throws
        -> Response
    {
        var projectID: String?
        if let reference {
            guard let project = try await store.project(reference, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no project \(reference)")
            }
            projectID = project.id
        }
        let amount = try BudgetRequest(try await json(request)).monthlyUSD
        try await store.setBudget(tenantID: principal.tenantID, projectID: projectID, monthlyUSD: amount)
        try await record(
            principal, "budget.set", projectID ?? principal.tenantID, amount.map { "monthly $\($0)" } ?? "removed",
            remote)
        let now = try await store.budgets(tenantID: principal.tenantID, projectID: projectID, now: Date())
            .first { $0.projectID == projectID }
        guard let now else {
            return try Self.respond(.ok, BudgetResource(removedFrom: projectID))
        }
        return try Self.respond(.ok, BudgetResource(now))
    }

    /// Imports a `ferry eval` report.json (the body) for the dashboard's accuracy page; `?name=` labels it.
    func importEval(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let body = try await json(request)
        guard let metrics = body["metrics"], metrics["resolve_rate"]?.doubleValue != nil else {
            throw Problem(.badRequest, "the body must be a ferry eval report.json (metrics.resolve_rate is missing)")
        }
        try Self.checkEvalMetrics(metrics)
        let name =
            request.uri.queryParameters.get("name").map { String($0) } ?? body["metrics"]?["label"]?.stringValue
            ?? "eval"
        let id = try await store.addEval(tenantID: principal.tenantID, name: name, report: body.jsonString, at: Date())
        try await record(principal, "eval.import", id, name, remote)
        return try Self.respond(.created, ImportedEvalResource(id: id, name: name))
    }

    /// The metrics the dashboard reads, each in its range when present: rates 0–1, counts whole numbers up to ten
    /// million, dollars 0 to a billion. A report outside them is refused where it enters, so no page that shows it
    /// later can trap (`"resolved": 1e300` once made a tenant's accuracy page crash the server on every load).
    package static func checkEvalMetrics(_ metrics: JSONValue) throws {
        func check(_ key: String, _ range: ClosedRange<Double>, whole: Bool = false) throws {
            guard let value = metrics[key], value != .null else { return }
            guard case .number(let number) = value, number.isFinite, range.contains(number),
                !whole || number == number.rounded()
            else {
                throw Problem(
                    .badRequest,
                    "metrics.\(key) must be \(whole ? "a whole number" : "a number") from "
                        + "\(range.lowerBound.formatted()) to \(range.upperBound.formatted())")
            }
        }
        for key in ["resolve_rate", "ci95_low", "ci95_high", "false_verified_rate"] { try check(key, 0...1) }
        for key in ["resolved", "total", "excluded", "errors", "verified_claims", "false_verified"] {
            try check(key, 0...10_000_000, whole: true)
        }
        for key in ["usd_per_resolved", "usd_per_instance", "tokens_per_instance", "tokens_per_resolved"] {
            try check(key, 0...1_000_000_000_000)
        }
    }

    func listEvals(_ request: Request, _ principal: Principal) async throws -> Response {
        try Self.respond(.ok, ResourceList(try await store.evals(tenantID: principal.tenantID).map(EvalResource.init)))
    }
}
