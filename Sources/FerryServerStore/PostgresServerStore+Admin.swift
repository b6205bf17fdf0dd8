import FerryCore
import Foundation
import Logging
import PostgresNIO

/// Budgets, spend, keys, the audit log and the metrics' counts on PostgreSQL.
extension PostgresServerStore {
    // MARK: - Budgets and spend

    public func setBudget(tenantID: String, projectID: String?, monthlyUSD: Double?) async throws {
        let project = projectID ?? ""
        if let monthlyUSD {
            try await client.query(
                """
                INSERT INTO budgets (tenant_id, project_id, monthly_usd) VALUES (\(tenantID), \(project), \(monthlyUSD))
                ON CONFLICT (tenant_id, project_id) DO UPDATE SET monthly_usd = excluded.monthly_usd
                """)
        } else {
            try await client.query("DELETE FROM budgets WHERE tenant_id = \(tenantID) AND project_id = \(project)")
        }
    }

    public func budgets(tenantID: String, projectID: String?, now: Date) async throws -> [BudgetStatus] {
        let since = BudgetPolicy.monthStart(now).timeIntervalSince1970
        let project = projectID ?? ""
        var result: [BudgetStatus] = []
        for try await (scope, monthly, spent) in try await client.query(
            """
            SELECT b.project_id, b.monthly_usd,
                (SELECT COALESCE(SUM(s.usd), 0) FROM spend s WHERE s.tenant_id = b.tenant_id AND s.at >= \(since)
                    AND (b.project_id = '' OR s.project_id = b.project_id))
            FROM budgets b WHERE b.tenant_id = \(tenantID) AND (b.project_id = '' OR b.project_id = \(project))
            ORDER BY b.project_id
            """
        ).decode((String, Double, Double).self) {
            result.append(BudgetStatus(projectID: scope.isEmpty ? nil : scope, monthlyUSD: monthly, spentUSD: spent))
        }
        return result
    }

    public func recordSpend(_ spend: SpendRecord) async throws {
        try await client.query(
            """
            INSERT INTO spend (tenant_id, project_id, task_id, attempt, step, model, input_tokens, output_tokens, usd, at)
            VALUES (\(spend.tenantID), \(spend.projectID), \(spend.taskID), \(spend.attempt), \(spend.step), \(spend.model),
                \(spend.usage.inputTokens), \(spend.usage.outputTokens), \(spend.usd), \(spend.at.timeIntervalSince1970))
            ON CONFLICT (task_id, attempt, step) DO NOTHING
            """)
    }
}
