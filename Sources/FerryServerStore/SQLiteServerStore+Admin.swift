import FerryCore
import Foundation
import GRDB

/// Budgets, spend and the metrics' counts on SQLite.
extension SQLiteServerStore {
    // MARK: - Budgets and spend

    public func setBudget(tenantID: String, scope: BudgetScope, monthlyUSD: Double?) async throws {
        try await write { db in
            if let monthlyUSD {
                try db.execute(
                    sql: """
                        INSERT INTO budgets (tenant_id, project_id, monthly_usd) VALUES (?, ?, ?)
                        ON CONFLICT (tenant_id, project_id) DO UPDATE SET monthly_usd = excluded.monthly_usd
                        """,
                    arguments: [tenantID, scope.stored, monthlyUSD])
            } else {
                try db.execute(
                    sql: "DELETE FROM budgets WHERE tenant_id = ? AND project_id = ?",
                    arguments: [tenantID, scope.stored])
            }
        }
    }

    public func budgets(tenantID: String, projectID: String?, personID: String?, now: Date) async throws
        -> [BudgetStatus]
    {
        let since = BudgetPolicy.monthStart(now).timeIntervalSince1970
        // A value no stored scope has stands for "none" (no project, no person).
        let project = projectID ?? "\u{1}"
        let person = personID ?? "\u{1}"
        return try await budgetRows(
            where: """
                b.tenant_id = ? AND (b.project_id = '' OR b.project_id = ? OR b.project_id = 'person:' || ?
                    OR b.project_id IN (SELECT 'group:' || m.group_id FROM group_members m WHERE m.person_id = ?))
                """,
            arguments: [since, tenantID, project, person, person])
    }

    public func allBudgets(tenantID: String, now: Date) async throws -> [BudgetStatus] {
        try await budgetRows(
            where: "b.tenant_id = ?", arguments: [BudgetPolicy.monthStart(now).timeIntervalSince1970, tenantID])
    }

    public func spendByPerson(tenantID: String, now: Date) async throws -> [String: Double] {
        let since = BudgetPolicy.monthStart(now).timeIntervalSince1970
        return try await read { db in
            var result: [String: Double] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT person_id, SUM(usd) AS usd FROM spend WHERE tenant_id = ? AND at >= ? AND person_id IS NOT NULL
                    GROUP BY person_id
                    """,
                arguments: [tenantID, since])
            {
                result[row["person_id"]] = row["usd"]
            }
            return result
        }
    }

    func budgetRows(where clause: String, arguments: StatementArguments) async throws -> [BudgetStatus] {
        let sql = """
            SELECT b.project_id, b.monthly_usd, \(BudgetSQL.spent.replacingOccurrences(of: "SINCE", with: "?")) AS spent
            FROM budgets b WHERE \(clause) ORDER BY b.project_id
            """
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                BudgetStatus(
                    scope: BudgetScope(stored: row["project_id"]), monthlyUSD: row["monthly_usd"],
                    spentUSD: row["spent"])
            }
        }
    }

    public func recordSpend(_ spend: SpendRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO spend (tenant_id, project_id, task_id, attempt, step, model, input_tokens,
                        output_tokens, usd, at, person_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spend.tenantID, spend.projectID, spend.taskID, spend.attempt, spend.step, spend.model,
                    spend.usage.inputTokens, spend.usage.outputTokens, spend.usd, spend.at.timeIntervalSince1970,
                    spend.personID,
                ])
        }
    }

    public func stats() async throws -> ServerStats {
        try await read { db in
            var stats = ServerStats()
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM tasks GROUP BY state") {
                stats.tasksByState[row["state"]] = row["n"]
            }
            for row in try Row.fetchAll(
                db,
                sql:
                    "SELECT model, SUM(usd) AS usd, SUM(input_tokens) AS i, SUM(output_tokens) AS o, COUNT(*) AS n FROM spend GROUP BY model"
            ) {
                stats.spendByModel[row["model"]] = ServerStats.Spend(
                    usd: row["usd"], inputTokens: row["i"], outputTokens: row["o"], calls: row["n"])
            }
            let claimBounds = Histogram.claimBounds
            let durationBounds = Histogram.durationBounds
            if let row = try Row.fetchOne(
                db, sql: "SELECT \(Histogram.columns("claimed_at - due_at", bounds: claimBounds)) FROM attempts")
            {
                stats.claimLatency = Self.histogram(row, from: 0, bounds: claimBounds)
            }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT outcome, \(Histogram.columns("ended_at - claimed_at", bounds: durationBounds)) FROM attempts
                    WHERE ended_at IS NOT NULL GROUP BY outcome
                    """)
            {
                stats.runDuration[row[0]] = Self.histogram(row, from: 1, bounds: durationBounds)
            }
            return stats
        }
    }

    static func histogram(_ row: Row, from first: Int, bounds: [Double]) -> Histogram {
        Histogram(
            bounds: bounds, count: row[first], sum: row[first + 1],
            cumulative: bounds.indices.map { row[first + 2 + $0] })
    }
}
