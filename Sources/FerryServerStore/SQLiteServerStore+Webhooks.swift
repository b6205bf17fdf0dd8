import FerryCore
import Foundation
import GRDB

/// The webhook outbox on SQLite.
extension SQLiteServerStore {
    /// Queues the task's end for its project's webhook, inside the caller's transaction.
    static func enqueueWebhook(_ db: Database, taskID: String, now: Date) throws {
        guard let taskRow = try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [taskID]) else {
            return
        }
        let task = Self.task(taskRow)
        guard
            let project = try Row.fetchOne(
                db, sql: "SELECT webhook_url, webhook_secret FROM projects WHERE id = ?", arguments: [task.projectID]),
            let url = project["webhook_url"] as String?, let secret = project["webhook_secret"] as String?
        else { return }
        try db.execute(
            sql: """
                INSERT INTO deliveries (id, tenant_id, task_id, url, secret, payload, state, attempts, next_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                """,
            arguments: [
                ServerIDs.newID("dlv"), task.tenantID, task.id, url, secret, Webhooks.payload(task),
                now.timeIntervalSince1970,
                now.timeIntervalSince1970,
            ])
    }

    public func enqueueNotice(id: String, task: ServerTask, payload: String, now: Date) async throws {
        try await write { db in
            guard
                let project = try Row.fetchOne(
                    db, sql: "SELECT webhook_url, webhook_secret FROM projects WHERE id = ?",
                    arguments: [task.projectID]),
                let url = project["webhook_url"] as String?, let secret = project["webhook_secret"] as String?
            else { return }
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO deliveries (id, tenant_id, task_id, url, secret, payload, state, attempts,
                        next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                    """,
                arguments: [
                    id, task.tenantID, task.id, url, secret, payload, now.timeIntervalSince1970,
                    now.timeIntervalSince1970,
                ])
        }
    }

    static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: row["id"], tenantID: row["tenant_id"], taskID: row["task_id"], url: row["url"], secret: row["secret"],
            payload: row["payload"], state: row["state"], attempts: row["attempts"], lastStatus: row["last_status"],
            lastError: row["last_error"])
    }

    public func claimDelivery(now: Date, leaseSeconds: Double) async throws -> Delivery? {
        try await write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT 1",
                    arguments: [now.timeIntervalSince1970])
            else { return nil }
            let id: String = row["id"]
            try db.execute(
                sql: "UPDATE deliveries SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                arguments: [now.timeIntervalSince1970 + leaseSeconds, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [id]).map(
                Self.delivery)
        }
    }

    public func recordDelivery(
        id: String, attempt: Int, status: Int?, error: String?, delivered: Bool, retryAt: Date?, now: Date
    ) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO delivery_attempts (delivery_id, attempt, status, error, at) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, attempt, status, error, now.timeIntervalSince1970])
            let state = delivered ? "delivered" : retryAt == nil ? "failed" : "pending"
            try db.execute(
                sql: """
                    UPDATE deliveries SET state = ?, last_status = ?, last_error = ?, next_at = COALESCE(?, next_at),
                        delivered_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    state, status, error, retryAt?.timeIntervalSince1970, delivered ? now.timeIntervalSince1970 : nil,
                    id,
                ])
        }
    }

    public func deliveries(taskID: String, tenantID: String) async throws -> [(Delivery, [DeliveryAttempt])] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM deliveries WHERE task_id = ? AND tenant_id = ? ORDER BY created_at, id",
                arguments: [taskID, tenantID]
            ).map(Self.delivery).map { delivery in
                let attempts = try Row.fetchAll(
                    db, sql: "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt",
                    arguments: [delivery.id]
                ).map { row in
                    DeliveryAttempt(
                        attempt: row["attempt"], status: row["status"], error: row["error"],
                        at: Date(timeIntervalSince1970: row["at"]))
                }
                return (delivery, attempts)
            }
        }
    }
}
