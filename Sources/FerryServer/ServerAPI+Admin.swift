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
        let all = try await store.allBudgets(tenantID: principal.tenantID, now: Date())
        return try Self.respond(.ok, ResourceList(all.map(BudgetResource.init)))
    }

    /// The scope a budget route names: the tenant, a project (by id or name), a person or service account, or a
    /// group, each of the caller's tenant (404 otherwise).
    package func budgetScope(_ kind: String, _ reference: String?, _ principal: Principal) async throws
        -> BudgetScope
    {
        guard let reference else { return .tenant }
        switch kind {
        case "person":
            guard let person = try await store.person(reference, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no person or service account \(reference)")
            }
            return .person(person.id)
        case "group":
            guard let group = try await store.group(reference, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no group \(reference)")
            }
            return .group(group.id)
        default:
            guard let project = try await store.project(reference, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no project \(reference)")
            }
            return .project(project.id)
        }
    }

    func putBudget(
        _ request: Request, _ principal: Principal, kind: String = "project", _ reference: String?, remote: String?
    ) async throws -> Response {
        let scope = try await budgetScope(kind, reference, principal)
        let amount = try BudgetRequest(try await json(request)).monthlyUSD
        try await store.setBudget(tenantID: principal.tenantID, scope: scope, monthlyUSD: amount)
        try await record(
            principal, "budget.set", scope.id ?? principal.tenantID,
            "\(scope.kind): " + (amount.map { "monthly $\($0)" } ?? "removed"), remote)
        guard
            let now = try await store.allBudgets(tenantID: principal.tenantID, now: Date()).first(where: {
                $0.scope == scope
            })
        else {
            return try Self.respond(.ok, BudgetResource(removedFrom: scope))
        }
        return try Self.respond(.ok, BudgetResource(now))
    }

    /// Imports a `ferry eval` report.json (the body) for the dashboard's accuracy page; `?name=` labels it.
    func importEval(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let body = try Self.importable(try await json(request))
        let name =
            request.uri.queryParameters.get("name").map { String($0) } ?? body["metrics"]?["label"]?.stringValue
            ?? "eval"
        let id = try await store.addEval(tenantID: principal.tenantID, name: name, report: body.jsonString, at: Date())
        try await record(principal, "eval.import", id, name, remote)
        return try Self.respond(.created, ImportedEvalResource(id: id, name: name))
    }

    /// A report as a tenant may import it: a `ferry eval` report.json whose metrics are in range (`checkEvalMetrics`),
    /// without what only the server writes. `watch` marks the accuracy watch's own reports, whose instances' run ids
    /// are runs in the server's run store; an imported one could name another tenant's run.
    package static func importable(_ report: JSONValue) throws -> JSONValue {
        guard case .object(var fields) = report, let metrics = fields["metrics"],
            metrics["resolve_rate"]?.doubleValue != nil
        else {
            throw Problem(.badRequest, "the body must be a ferry eval report.json (metrics.resolve_rate is missing)")
        }
        try checkEvalMetrics(metrics)
        fields["watch"] = nil
        return .object(fields)
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
