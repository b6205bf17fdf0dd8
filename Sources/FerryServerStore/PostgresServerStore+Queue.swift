import FerryCore
import Foundation
import Logging
import PostgresNIO

/// The queue on PostgreSQL: `FOR UPDATE SKIP LOCKED` claims, fenced writes, rescue in one transaction.
extension PostgresServerStore {
    // MARK: - The queue

    /// The queue's hot path in one statement: the next task (the rule's choice, as SQL), locked past other claimers
    /// (`SKIP LOCKED`), changed by the rule's `ClaimChange`, and its attempt recorded.
    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        let (condition, order) = policy.nextTaskSQL(now: now)
        let change = policy.claimChange(worker: worker, now: now)
        return try await tasks(
            """
            WITH next AS (
                SELECT t.id FROM tasks t WHERE \(unescaped: condition)
                ORDER BY \(unescaped: order) LIMIT 1 FOR UPDATE SKIP LOCKED)
            , claimed AS (
                UPDATE tasks SET state = \(change.state.rawValue), attempt = tasks.attempt + \(change.attemptIncrement),
                    attempted_by = \(change.worker), lease_until = \(change.leaseUntil.timeIntervalSince1970)
                FROM next WHERE tasks.id = next.id
                RETURNING tasks.*)
            , recorded AS (
                INSERT INTO attempts (task_id, attempt, worker, due_at, claimed_at)
                SELECT id, attempt, attempted_by, scheduled_at, \(now.timeIntervalSince1970) FROM claimed)
            SELECT * FROM claimed
            """
        ).first
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        try await step(id: id, .heartbeat(attempt: attempt), now: now, policy: policy) { task, step in
            (step != nil, task.cancelRequested)
        } ?? (false, false)
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        _ = try await step(id: id, .attachRun(attempt: attempt, runID: runID), now: Date()) { _, step in step }
    }

    /// The other hot path in one statement: the rule's `FinishChange`, fenced on the attempt still running the task,
    /// with the attempt's row closed; then the webhook and the notice, in the same transaction.
    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        let change = QueuePolicy().finishChange(outcome, now: now)
        let o = change.outcome
        return try await client.withTransaction(logger: logger) { connection in
            guard
                let task = try await self.tasks(
                    """
                    WITH updated AS (
                        UPDATE tasks SET state = \(o.state.rawValue), reason = \(o.reason), run_id = \(o.runID),
                            branch = \(o.branch), commit_sha = \(o.commitSHA), cost_usd = cost_usd + \(o.costUSD),
                            finished_at = \(change.finishedAt.timeIntervalSince1970), lease_until = NULL, diff = \(o.diff),
                            pushed_to = \(o.pushedTo), steps = \(o.steps), wall_seconds = \(o.wallSeconds)
                        WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'
                        RETURNING *)
                    , ended AS (
                        UPDATE attempts SET ended_at = \(change.finishedAt.timeIntervalSince1970),
                            outcome = \(change.attemptOutcome)
                        WHERE task_id IN (SELECT id FROM updated) AND attempt = \(attempt) AND ended_at IS NULL)
                    SELECT * FROM updated
                    """, on: connection
                ).first
            else { return false }
            // The webhook is queued in the same transaction as the end it announces; the notice goes out at commit.
            try await self.enqueueWebhook(task, on: connection, now: now)
            try await connection.query("NOTIFY ferry_tasks", logger: self.logger)
            return true
        }
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [ServerTask] {
        let at = now.timeIntervalSince1970
        return try await client.withTransaction(logger: logger) { connection in
            let running = try await self.tasks(
                "SELECT * FROM tasks WHERE state = 'running' AND lease_until < \(at) FOR UPDATE SKIP LOCKED",
                on: connection)
            var expired: [ServerTask] = []
            for task in running
            where try await self.apply(.rescue, to: task, now: now, policy: policy, on: connection) != nil {
                expired.append(task)
            }
            return expired
        }
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        try await step(id: id, .release(attempt: attempt, reason: reason), now: now) { _, step in step != nil }
            ?? false
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        // Another tenant's task is not read or touched: the caller answers as if it did not exist.
        try await step(id: id, tenantID: tenantID, .cancel, now: now) { task, step in step?.task ?? task }
    }

    /// One step on the task `id` (of `tenantID` when given): its row read and locked, the rule asked and its answer
    /// stored, in one transaction. `result` sees the task as read and the step (nil: the rule refused it); nil when
    /// there is no such task.
    private func step<T: Sendable>(
        id: String, tenantID: String? = nil, _ event: QueueEvent, now: Date, policy: QueuePolicy = QueuePolicy(),
        result: @escaping @Sendable (ServerTask, QueueStep?) -> T
    ) async throws -> T? {
        try await client.withTransaction(logger: logger) { connection in
            guard
                let task = try await self.tasks(
                    """
                    SELECT * FROM tasks WHERE id = \(id) AND (\(tenantID)::TEXT IS NULL OR tenant_id = \(tenantID))
                    FOR UPDATE
                    """, on: connection
                ).first
            else { return nil }
            return result(task, try await self.apply(event, to: task, now: now, policy: policy, on: connection))
        }
    }

    /// Asks `QueuePolicy.step` what `event` makes of `task`, and stores it on `connection` (inside the caller's
    /// transaction): the task's row (fenced on the state and attempt read), the attempt's row, the webhook of a task
    /// that ended, and the notice that wakes idle workers (sent at commit). The step as stored, or nil when the rule
    /// refused it.
    func apply(
        _ event: QueueEvent, to task: ServerTask, now: Date, policy: QueuePolicy, on connection: PostgresConnection
    ) async throws -> QueueStep? {
        guard let step = policy.step(task, event, now: now) else { return nil }
        let t = step.task
        func time(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
        let errors = ServerIDs.errorsText(t.errors)
        // An attempt that ends is closed by the same statement, so a step costs one round trip beyond its read. (A
        // claim, the one step that starts an attempt, has a statement of its own: `claim`.)
        var ended: (attempt: Int, outcome: String, at: Double)?
        switch step.attempt {
        case .started:
            throw FerryError(.store, "internal error: a claim is stored by claim(worker:now:policy:), not apply")
        case .ended(let attempt, let outcome, let at):
            ended = (attempt, outcome, at.timeIntervalSince1970)
        case nil:
            break
        }
        var stored = false
        for try await _ in try await connection.query(
            """
            WITH updated AS (
                UPDATE tasks SET state = \(t.state.rawValue), attempt = \(t.attempt), attempted_by = \(t.attemptedBy),
                    lease_until = \(time(t.leaseUntil)), scheduled_at = \(t.scheduledAt.timeIntervalSince1970),
                    errors = \(errors), cancel_requested = \(t.cancelRequested), run_id = \(t.runID),
                    branch = \(t.branch), commit_sha = \(t.commitSHA), reason = \(t.reason), cost_usd = \(t.costUSD),
                    finished_at = \(time(t.finishedAt)), diff = \(t.diff), pushed_to = \(t.pushedTo),
                    steps = \(t.steps), wall_seconds = \(t.wallSeconds)
                WHERE id = \(task.id) AND state = \(task.state.rawValue) AND attempt = \(task.attempt)
                RETURNING id)
            , ended AS (
                UPDATE attempts SET ended_at = \(ended?.at ?? 0), outcome = \(ended?.outcome ?? "")
                WHERE \(ended != nil) AND task_id IN (SELECT id FROM updated) AND attempt = \(ended?.attempt ?? 0)
                    AND ended_at IS NULL)
            SELECT id FROM updated
            """, logger: logger)
        {
            stored = true
        }
        guard stored else { return nil }
        // The webhook is queued in the same transaction as the end it announces.
        if step.announce { try await enqueueWebhook(t, on: connection, now: now) }
        if step.wakeWorkers { try await connection.query("NOTIFY ferry_tasks", logger: logger) }
        return step
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
}
