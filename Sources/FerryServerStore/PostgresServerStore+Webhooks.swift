import FerryCore
import Foundation
import PostgresNIO

/// The webhook outbox on PostgreSQL.
extension PostgresServerStore {
    /// Queues the task's end for its project's webhook, on the caller's transaction.
    func enqueueWebhook(_ task: ServerTask, on connection: PostgresConnection, now: Date) async throws {
        for try await (url, secret) in try await connection.query(
            "SELECT webhook_url, webhook_secret FROM projects WHERE id = \(task.projectID) AND webhook_url IS NOT NULL",
            logger: logger
        ).decode((String, String).self) {
            try await connection.query(
                """
                INSERT INTO deliveries (id, tenant_id, task_id, url, secret, payload, state, attempts, next_at, created_at)
                VALUES (\(ServerIDs.newID("dlv")), \(task.tenantID), \(task.id), \(url), \(secret),
                    \(Webhooks.payload(task)), 'pending', 0, \(now.timeIntervalSince1970), \(now.timeIntervalSince1970))
                """, logger: logger)
        }
    }

    public func enqueueNotice(id: String, task: ServerTask, payload: String, now: Date) async throws {
        try await client.query(
            """
            INSERT INTO deliveries (id, tenant_id, task_id, url, secret, payload, state, attempts, next_at, created_at)
            SELECT \(id), \(task.tenantID), \(task.id), webhook_url, webhook_secret, \(payload), 'pending', 0,
                \(now.timeIntervalSince1970), \(now.timeIntervalSince1970)
            FROM projects WHERE id = \(task.projectID) AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL
            ON CONFLICT (id) DO NOTHING
            """)
    }

    func deliveries(_ query: PostgresQuery) async throws -> [Delivery] {
        var result: [Delivery] = []
        for try await row in try await client.query(query) {
            let r = row.makeRandomAccess()
            result.append(
                Delivery(
                    id: try r["id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
                    taskID: try r["task_id"].decode(String.self), url: try r["url"].decode(String.self),
                    secret: try r["secret"].decode(String.self), payload: try r["payload"].decode(String.self),
                    state: try r["state"].decode(String.self), attempts: try r["attempts"].decode(Int.self),
                    lastStatus: try r["last_status"].decode(Int?.self),
                    lastError: try r["last_error"].decode(String?.self)))
        }
        return result
    }

    public func claimDelivery(now: Date, leaseSeconds: Double) async throws -> Delivery? {
        let at = now.timeIntervalSince1970
        return try await deliveries(
            """
            WITH next AS (
                SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= \(at)
                ORDER BY next_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
            UPDATE deliveries SET attempts = deliveries.attempts + 1, next_at = \(at + leaseSeconds)
            FROM next WHERE deliveries.id = next.id
            RETURNING deliveries.*
            """
        ).first
    }

    public func recordDelivery(
        id: String, attempt: Int, status: Int?, error: String?, delivered: Bool, retryAt: Date?, now: Date
    ) async throws {
        let state = delivered ? "delivered" : retryAt == nil ? "failed" : "pending"
        let at = now.timeIntervalSince1970
        let deliveredAt: Double? = delivered ? at : nil
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO delivery_attempts (delivery_id, attempt, status, error, at)
                VALUES (\(id), \(attempt), \(status), \(error), \(at))
                """, logger: logger)
            try await connection.query(
                """
                UPDATE deliveries SET state = \(state), last_status = \(status), last_error = \(error),
                    next_at = COALESCE(\(retryAt?.timeIntervalSince1970), next_at), delivered_at = \(deliveredAt)
                WHERE id = \(id)
                """, logger: logger)
        }
    }

    public func deliveries(taskID: String, tenantID: String) async throws -> [(Delivery, [DeliveryAttempt])] {
        var result: [(Delivery, [DeliveryAttempt])] = []
        for delivery in try await deliveries(
            "SELECT * FROM deliveries WHERE task_id = \(taskID) AND tenant_id = \(tenantID) ORDER BY created_at, id")
        {
            var attempts: [DeliveryAttempt] = []
            for try await (attempt, status, error, at) in try await client.query(
                "SELECT attempt, status, error, at FROM delivery_attempts WHERE delivery_id = \(delivery.id) ORDER BY attempt"
            ).decode((Int, Int?, String?, Double).self) {
                attempts.append(
                    DeliveryAttempt(attempt: attempt, status: status, error: error, at: Date(timeIntervalSince1970: at))
                )
            }
            result.append((delivery, attempts))
        }
        return result
    }
}
