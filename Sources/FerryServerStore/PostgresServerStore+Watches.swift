import FerryCore
import Foundation
import Logging
import PostgresNIO

extension PostgresServerStore {
    public func setWatch(_ w: ProjectWatch) async throws {
        try await client.query(
            """
            INSERT INTO project_watches (project_id, tenant_id, every_seconds, monthly_usd, max_instances, since_days,
                model, next_at, spent_usd, month, last_run_at, last_eval_id, last_error)
            VALUES (\(w.projectID), \(w.tenantID), \(w.everySeconds), \(w.monthlyUSD), \(w.maxInstances),
                \(w.sinceDays), \(w.model), \(w.nextAt.timeIntervalSince1970), \(w.spentUSD),
                \(w.month.timeIntervalSince1970), \(w.lastRunAt?.timeIntervalSince1970), \(w.lastEvalID), \(w.lastError))
            ON CONFLICT (project_id) DO UPDATE SET every_seconds = excluded.every_seconds,
                monthly_usd = excluded.monthly_usd, max_instances = excluded.max_instances,
                since_days = excluded.since_days, model = excluded.model, next_at = excluded.next_at
            """)
    }

    static func watch(_ r: PostgresRandomAccessRow) throws -> ProjectWatch {
        ProjectWatch(
            projectID: try r["project_id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
            everySeconds: try r["every_seconds"].decode(Double.self),
            monthlyUSD: try r["monthly_usd"].decode(Double.self), maxInstances: try r["max_instances"].decode(Int.self),
            sinceDays: try r["since_days"].decode(Int.self), model: try r["model"].decode(String?.self),
            nextAt: Date(timeIntervalSince1970: try r["next_at"].decode(Double.self)),
            spentUSD: try r["spent_usd"].decode(Double.self),
            month: Date(timeIntervalSince1970: try r["month"].decode(Double.self)),
            lastRunAt: try r["last_run_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) },
            lastEvalID: try r["last_eval_id"].decode(String?.self), lastError: try r["last_error"].decode(String?.self))
    }

    func watches(_ query: PostgresQuery) async throws -> [ProjectWatch] {
        var result: [ProjectWatch] = []
        for try await row in try await client.query(query) { result.append(try Self.watch(row.makeRandomAccess())) }
        return result
    }

    public func watch(projectID: String) async throws -> ProjectWatch? {
        try await watches("SELECT * FROM project_watches WHERE project_id = \(projectID)").first
    }

    public func deleteWatch(projectID: String) async throws {
        try await client.query("DELETE FROM project_watches WHERE project_id = \(projectID)")
    }

    public func claimWatch(now: Date, leaseSeconds: Double) async throws -> ProjectWatch? {
        let at = now.timeIntervalSince1970
        return try await watches(
            """
            UPDATE project_watches SET lease_until = \(at + leaseSeconds)
            WHERE project_id = (
                SELECT project_id FROM project_watches
                WHERE next_at <= \(at) AND (lease_until IS NULL OR lease_until <= \(at))
                ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING *
            """
        ).first
    }

    public func recordWatch(_ w: ProjectWatch) async throws {
        try await client.query(
            """
            UPDATE project_watches SET next_at = \(w.nextAt.timeIntervalSince1970), spent_usd = \(w.spentUSD),
                month = \(w.month.timeIntervalSince1970), last_run_at = \(w.lastRunAt?.timeIntervalSince1970),
                last_eval_id = \(w.lastEvalID), last_error = \(w.lastError), lease_until = NULL
            WHERE project_id = \(w.projectID)
            """)
    }
}
