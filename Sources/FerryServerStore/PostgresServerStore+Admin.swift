import FerryCore
import Foundation
import Logging
import PostgresNIO

/// Budgets, spend, keys, the audit log and the metrics' counts on PostgreSQL.
extension PostgresServerStore {
    // MARK: - Budgets and spend

    public func setBudget(tenantID: String, scope: BudgetScope, monthlyUSD: Double?) async throws {
        let stored = scope.stored
        if let monthlyUSD {
            try await client.query(
                """
                INSERT INTO budgets (tenant_id, project_id, monthly_usd) VALUES (\(tenantID), \(stored), \(monthlyUSD))
                ON CONFLICT (tenant_id, project_id) DO UPDATE SET monthly_usd = excluded.monthly_usd
                """)
        } else {
            try await client.query("DELETE FROM budgets WHERE tenant_id = \(tenantID) AND project_id = \(stored)")
        }
    }

    public func budgets(tenantID: String, projectID: String?, personID: String?, now: Date) async throws
        -> [BudgetStatus]
    {
        var bindings = PostgresBindings()
        bindings.append(BudgetPolicy.monthStart(now).timeIntervalSince1970)
        bindings.append(tenantID)
        bindings.append(projectID ?? "\u{1}")
        bindings.append(personID ?? "\u{1}")
        return try await budgetRows(
            where: """
                b.tenant_id = $2 AND (b.project_id = '' OR b.project_id = $3 OR b.project_id = 'person:' || $4
                    OR b.project_id IN (SELECT 'group:' || m.group_id FROM group_members m WHERE m.person_id = $4))
                """, bindings)
    }

    public func allBudgets(tenantID: String, now: Date) async throws -> [BudgetStatus] {
        var bindings = PostgresBindings()
        bindings.append(BudgetPolicy.monthStart(now).timeIntervalSince1970)
        bindings.append(tenantID)
        return try await budgetRows(where: "b.tenant_id = $2", bindings)
    }

    public func spendByPerson(tenantID: String, now: Date) async throws -> [String: Double] {
        var result: [String: Double] = [:]
        for try await (person, usd) in try await client.query(
            """
            SELECT person_id, SUM(usd) FROM spend
            WHERE tenant_id = \(tenantID) AND at >= \(BudgetPolicy.monthStart(now).timeIntervalSince1970) AND person_id IS NOT NULL
            GROUP BY person_id
            """
        ).decode((String, Double).self) {
            result[person] = usd
        }
        return result
    }

    func budgetRows(where clause: String, _ bindings: PostgresBindings) async throws -> [BudgetStatus] {
        let sql = """
            SELECT b.project_id, b.monthly_usd, \(BudgetSQL.spent.replacingOccurrences(of: "SINCE", with: "$1"))
            FROM budgets b WHERE \(clause) ORDER BY b.project_id
            """
        var result: [BudgetStatus] = []
        for try await (scope, monthly, spent) in try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings))
            .decode((String, Double, Double).self)
        {
            result.append(BudgetStatus(scope: BudgetScope(stored: scope), monthlyUSD: monthly, spentUSD: spent))
        }
        return result
    }

    public func recordSpend(_ spend: SpendRecord) async throws {
        try await client.query(
            """
            INSERT INTO spend (tenant_id, project_id, task_id, attempt, step, model, input_tokens, output_tokens, usd, at,
                person_id)
            VALUES (\(spend.tenantID), \(spend.projectID), \(spend.taskID), \(spend.attempt), \(spend.step), \(spend.model),
                \(spend.usage.inputTokens), \(spend.usage.outputTokens), \(spend.usd), \(spend.at.timeIntervalSince1970),
                \(spend.personID))
            ON CONFLICT (task_id, attempt, step) DO NOTHING
            """)
    }
}
