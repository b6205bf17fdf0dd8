import FerryCore
import Foundation
import Logging
import PostgresNIO

/// The queue on PostgreSQL: `FOR UPDATE SKIP LOCKED` claims, fenced writes, rescue in one transaction.
extension PostgresServerStore {
    // MARK: - The queue

    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        let at = now.timeIntervalSince1970
        return try await tasks(
            """
            WITH next AS (
                SELECT id FROM tasks t WHERE state IN ('queued', 'retryable') AND scheduled_at <= \(at)
                    AND (\(policy.tenantConcurrency)::BIGINT IS NULL
                        OR (SELECT COUNT(*) FROM tasks r WHERE r.tenant_id = t.tenant_id AND r.state = 'running')
                            < \(policy.tenantConcurrency)::BIGINT)
                ORDER BY priority DESC, scheduled_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
            , claimed AS (
                UPDATE tasks SET state = 'running', attempt = tasks.attempt + 1, attempted_by = \(worker),
                    lease_until = \(at + policy.leaseSeconds)
                FROM next WHERE tasks.id = next.id
                RETURNING tasks.*)
            , recorded AS (
                INSERT INTO attempts (task_id, attempt, worker, due_at, claimed_at)
                SELECT id, attempt, attempted_by, scheduled_at, \(at) FROM claimed)
            SELECT * FROM claimed
            """
        ).first
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        for try await cancel in try await client.query(
            """
            UPDATE tasks SET lease_until = \(now.timeIntervalSince1970 + policy.leaseSeconds)
            WHERE id = \(id) AND attempt = \(attempt) AND state = 'running' RETURNING cancel_requested
            """
        ).decode(Bool.self) {
            return (true, cancel)
        }
        let cancel = try await task(id: id)?.cancelRequested ?? false
        return (false, cancel)
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        try await client.query(
            "UPDATE tasks SET run_id = \(runID) WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'")
    }

    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let finished = try await self.tasks(
                """
                UPDATE tasks SET state = \(outcome.state.rawValue), reason = \(outcome.reason), run_id = \(outcome.runID),
                    branch = \(outcome.branch), commit_sha = \(outcome.commitSHA), cost_usd = cost_usd + \(outcome.costUSD),
                    finished_at = \(now.timeIntervalSince1970), lease_until = NULL, diff = \(outcome.diff),
                    pushed_to = \(outcome.pushedTo), steps = \(outcome.steps), wall_seconds = \(outcome.wallSeconds)
                WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'
                RETURNING *
                """, on: connection)
            guard let task = finished.first else { return false }
            try await self.endAttempt(
                id: id, attempt: attempt, outcome: outcome.state.rawValue, now: now, on: connection)
            // The webhook is queued in the same transaction as the end it announces; the notice (a tenant's slot is
            // free) goes out at commit.
            try await self.enqueueWebhook(task, on: connection, now: now)
            try await connection.query("NOTIFY ferry_tasks", logger: logger)
            return true
        }
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [ServerTask] {
        let at = now.timeIntervalSince1970
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let expired = try await self.tasks(
                "SELECT * FROM tasks WHERE state = 'running' AND lease_until < \(at) FOR UPDATE SKIP LOCKED",
                on: connection)
            for task in expired {
                let (state, scheduledAt, error) = policy.rescue(task, now: now)
                let errors = ServerIDs.errorsText(task.errors + [error])
                let finished: Double? = state.isTerminal ? at : nil
                try await connection.query(
                    """
                    UPDATE tasks SET state = \(state.rawValue), scheduled_at = \(scheduledAt.timeIntervalSince1970),
                        errors = \(errors), lease_until = NULL, attempted_by = NULL, reason = \(error), finished_at = \(finished)
                    WHERE id = \(task.id) AND attempt = \(task.attempt)
                    """, logger: logger)
                try await self.endAttempt(id: task.id, attempt: task.attempt, outcome: "lost", now: now, on: connection)
            }
            return expired
        }
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            guard
                let task = try await self.tasks(
                    "SELECT * FROM tasks WHERE id = \(id) AND attempt = \(attempt) AND state = 'running' FOR UPDATE",
                    on: connection
                ).first
            else { return false }
            let errors = ServerIDs.errorsText(task.errors + [reason])
            try await connection.query(
                """
                UPDATE tasks SET state = 'retryable', scheduled_at = \(now.timeIntervalSince1970), errors = \(errors),
                    lease_until = NULL, attempted_by = NULL
                WHERE id = \(id) AND attempt = \(attempt)
                """, logger: logger)
            try await self.endAttempt(id: id, attempt: attempt, outcome: "released", now: now, on: connection)
            try await connection.query("NOTIFY ferry_tasks", logger: logger)
            return true
        }
    }

    /// Wakes this process's idle workers on every `NOTIFY ferry_tasks` (a task created, handed back or finished, by
    /// any process), on one connection held for it, listening again after a lost connection.
    public func listenForWork() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: "ferry_tasks") { notices in
                        // Whatever was signalled while not listening.
                        self.workSignal.notify()
                        for try await _ in notices { self.workSignal.notify() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for new tasks failed; workers poll until it is back: \(error)")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func endAttempt(id: String, attempt: Int, outcome: String, now: Date, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            """
            UPDATE attempts SET ended_at = \(now.timeIntervalSince1970), outcome = \(outcome)
            WHERE task_id = \(id) AND attempt = \(attempt) AND ended_at IS NULL
            """, logger: logger)
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        try await client.query(
            """
            UPDATE tasks SET state = 'cancelled', reason = 'cancelled before it started',
                finished_at = \(now.timeIntervalSince1970), cancel_requested = true
            WHERE id = \(id) AND tenant_id = \(tenantID) AND state IN ('queued', 'retryable')
            """)
        try await client.query(
            "UPDATE tasks SET cancel_requested = true WHERE id = \(id) AND tenant_id = \(tenantID) AND state = 'running'"
        )
        return try await task(id, tenantID: tenantID)
    }

    public func stats() async throws -> ServerStats {
        var stats = ServerStats()
        for try await (state, count) in try await client.query("SELECT state, COUNT(*) FROM tasks GROUP BY state")
            .decode((String, Int).self)
        {
            stats.tasksByState[state] = count
        }
        for try await (model, usd, input, output, calls) in try await client.query(
            "SELECT model, SUM(usd), SUM(input_tokens)::BIGINT, SUM(output_tokens)::BIGINT, COUNT(*) FROM spend GROUP BY model"
        ).decode((String, Double, Int, Int, Int).self) {
            stats.spendByModel[model] = ServerStats.Spend(
                usd: usd, inputTokens: input, outputTokens: output, calls: calls)
        }
        let claimBounds = Histogram.claimBounds
        let durationBounds = Histogram.durationBounds
        for try await row in try await client.query(
            PostgresQuery(
                unsafeSQL: "SELECT \(Histogram.columns("claimed_at - due_at", bounds: claimBounds)) FROM attempts"))
        {
            stats.claimLatency = try Self.histogram(row.makeRandomAccess(), from: 0, bounds: claimBounds)
        }
        for try await row in try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT outcome, \(Histogram.columns("ended_at - claimed_at", bounds: durationBounds)) FROM attempts
                    WHERE ended_at IS NOT NULL GROUP BY outcome
                    """))
        {
            let r = row.makeRandomAccess()
            stats.runDuration[try r[0].decode(String.self)] = try Self.histogram(r, from: 1, bounds: durationBounds)
        }
        return stats
    }

    static func histogram(_ r: PostgresRandomAccessRow, from first: Int, bounds: [Double]) throws -> Histogram {
        Histogram(
            bounds: bounds, count: try r[first].decode(Int.self), sum: try r[first + 1].decode(Double.self),
            cumulative: try bounds.indices.map { try r[first + 2 + $0].decode(Int.self) })
    }

    public func keys(tenantID: String) async throws -> [APIKeyInfo] {
        var result: [APIKeyInfo] = []
        for try await (id, role, created, revoked) in try await client.query(
            "SELECT id, role, created_at, revoked_at FROM api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at, id"
        ).decode((String, String, Double, Double?).self) {
            result.append(
                APIKeyInfo(
                    id: id, role: Role(rawValue: role) ?? .viewer, createdAt: Date(timeIntervalSince1970: created),
                    revokedAt: revoked.map { Date(timeIntervalSince1970: $0) }))
        }
        return result
    }

    public func revokeKey(id: String, tenantID: String, now: Date) async throws -> Bool {
        for try await _ in try await client.query(
            """
            UPDATE api_keys SET revoked_at = \(now.timeIntervalSince1970)
            WHERE id = \(id) AND tenant_id = \(tenantID) AND revoked_at IS NULL RETURNING id
            """
        ) { return true }
        return false
    }

    public func audit(_ entry: AuditEntry) async throws {
        try await client.query(
            """
            INSERT INTO audit (tenant_id, key_id, action, object, detail, remote, at)
            VALUES (\(entry.tenantID), \(entry.keyID), \(entry.action), \(entry.object), \(entry.detail), \(entry.remote),
                \(entry.at.timeIntervalSince1970))
            """)
    }

    public func auditLog(tenantID: String, limit: Int) async throws -> [AuditEntry] {
        var result: [AuditEntry] = []
        for try await (tenant, key, action, object, detail, remote, at) in try await client.query(
            """
            SELECT tenant_id, key_id, action, object, detail, remote, at FROM audit WHERE tenant_id = \(tenantID)
            ORDER BY at DESC, id DESC LIMIT \(max(1, min(limit, 500)))
            """
        ).decode((String, String, String, String, String, String?, Double).self) {
            result.append(
                AuditEntry(
                    tenantID: tenant, keyID: key, action: action, object: object, detail: detail, remote: remote,
                    at: Date(timeIntervalSince1970: at)))
        }
        return result
    }
}
