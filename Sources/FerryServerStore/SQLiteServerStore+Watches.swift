import FerryCore
import Foundation
import GRDB

extension SQLiteServerStore {
    public func setWatch(_ watch: ProjectWatch) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO project_watches (project_id, tenant_id, every_seconds, monthly_usd, max_instances,
                        since_days, model, next_at, spent_usd, month, last_run_at, last_eval_id, last_error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (project_id) DO UPDATE SET every_seconds = excluded.every_seconds,
                        monthly_usd = excluded.monthly_usd, max_instances = excluded.max_instances,
                        since_days = excluded.since_days, model = excluded.model, next_at = excluded.next_at
                    """,
                arguments: Self.watchArguments(watch))
        }
    }

    static func watchArguments(_ w: ProjectWatch) -> StatementArguments {
        [
            w.projectID, w.tenantID, w.everySeconds, w.monthlyUSD, w.maxInstances, w.sinceDays, w.model,
            w.nextAt.timeIntervalSince1970, w.spentUSD, w.month.timeIntervalSince1970,
            w.lastRunAt?.timeIntervalSince1970, w.lastEvalID, w.lastError,
        ]
    }

    static func watch(_ row: Row) -> ProjectWatch {
        ProjectWatch(
            projectID: row["project_id"], tenantID: row["tenant_id"], everySeconds: row["every_seconds"],
            monthlyUSD: row["monthly_usd"], maxInstances: row["max_instances"], sinceDays: row["since_days"],
            model: row["model"], nextAt: Date(timeIntervalSince1970: row["next_at"]), spentUSD: row["spent_usd"],
            month: Date(timeIntervalSince1970: row["month"]),
            lastRunAt: (row["last_run_at"] as Double?).map { Date(timeIntervalSince1970: $0) },
            lastEvalID: row["last_eval_id"], lastError: row["last_error"])
    }

    public func watch(projectID: String) async throws -> ProjectWatch? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM project_watches WHERE project_id = ?", arguments: [projectID])
                .map(Self.watch)
        }
    }

    public func deleteWatch(projectID: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM project_watches WHERE project_id = ?", arguments: [projectID])
        }
    }

    public func claimWatch(now: Date, leaseSeconds: Double) async throws -> ProjectWatch? {
        let at = now.timeIntervalSince1970
        let due = """
            SELECT * FROM project_watches WHERE next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
            ORDER BY next_at LIMIT 1
            """
        guard try await read({ db in try Row.fetchOne(db, sql: due, arguments: [at, at]) != nil }) else { return nil }
        return try await write { db in
            guard let row = try Row.fetchOne(db, sql: due, arguments: [at, at]) else { return nil }
            let watch = Self.watch(row)
            try db.execute(
                sql: "UPDATE project_watches SET lease_until = ? WHERE project_id = ?",
                arguments: [at + leaseSeconds, watch.projectID])
            return watch
        }
    }

    public func recordWatch(_ watch: ProjectWatch) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE project_watches SET next_at = ?, spent_usd = ?, month = ?, last_run_at = ?, last_eval_id = ?,
                        last_error = ?, lease_until = NULL
                    WHERE project_id = ?
                    """,
                arguments: [
                    watch.nextAt.timeIntervalSince1970, watch.spentUSD, watch.month.timeIntervalSince1970,
                    watch.lastRunAt?.timeIntervalSince1970, watch.lastEvalID, watch.lastError, watch.projectID,
                ])
        }
    }
}
