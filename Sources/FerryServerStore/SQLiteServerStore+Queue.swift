import FerryCore
import Foundation
import GRDB

/// The queue on SQLite: one write transaction per step, so no two workers take the same task.
extension SQLiteServerStore {
    // MARK: - The queue

    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        let (condition, order) = policy.nextTaskSQL(now: now)
        return try await write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT t.* FROM tasks t WHERE \(condition) ORDER BY \(order) LIMIT 1")
            else { return nil }
            return try Self.apply(db, .claim(worker: worker), to: Self.task(row), now: now, policy: policy)?.task
        }
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        try await write { db in
            guard let task = try Self.task(db, id: id) else { return (false, false) }
            let renewed = try Self.apply(db, .heartbeat(attempt: attempt), to: task, now: now, policy: policy)
            return (renewed != nil, task.cancelRequested)
        }
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        try await write { db in
            guard let task = try Self.task(db, id: id) else { return }
            _ = try Self.apply(
                db, .attachRun(attempt: attempt, runID: runID), to: task, now: Date(), policy: QueuePolicy())
        }
    }

    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        try await step(id: id, .finish(attempt: attempt, outcome), now: now) != nil
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [ServerTask] {
        let rescued = try await write { db in
            let running = try Row.fetchAll(
                db, sql: "SELECT * FROM tasks WHERE state = 'running' AND lease_until < ?",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.task)
            var expired: [(task: ServerTask, step: QueueStep)] = []
            for task in running {
                if let step = try Self.apply(db, .rescue, to: task, now: now, policy: policy) {
                    expired.append((task, step))
                }
            }
            return expired
        }
        if rescued.contains(where: \.step.wakeWorkers) { workSignal.notify() }
        return rescued.map(\.task)
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        try await step(id: id, .release(attempt: attempt, reason: reason), now: now) != nil
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        try await write { db in
            guard let task = try Self.task(db, id: id), task.tenantID == tenantID else { return nil }
            return try Self.apply(db, .cancel, to: task, now: now, policy: QueuePolicy())?.task ?? task
        }
    }

    /// One step on the task `id`, read and written in one transaction.
    private func step(id: String, _ event: QueueEvent, now: Date) async throws -> QueueStep? {
        let step = try await write { db in
            try Self.task(db, id: id).flatMap { try Self.apply(db, event, to: $0, now: now, policy: QueuePolicy()) }
        }
        if step?.wakeWorkers == true { workSignal.notify() }
        return step
    }

    static func task(_ db: Database, id: String) throws -> ServerTask? {
        try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task)
    }

    /// Asks `QueuePolicy.step` what `event` makes of `task`, and stores it: the task's row (fenced on the state and
    /// attempt read, so a step never lands on a task that moved on), the attempt's row, and the webhook of a task
    /// that ended. The step as stored, or nil when the rule refused it.
    static func apply(_ db: Database, _ event: QueueEvent, to task: ServerTask, now: Date, policy: QueuePolicy)
        throws -> QueueStep?
    {
        guard let step = policy.step(task, event, now: now) else { return nil }
        let t = step.task
        func time(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
        try db.execute(
            sql: """
                UPDATE tasks SET state = ?, attempt = ?, attempted_by = ?, lease_until = ?, scheduled_at = ?, errors = ?,
                    cancel_requested = ?, run_id = ?, branch = ?, commit_sha = ?, reason = ?, cost_usd = ?,
                    finished_at = ?, diff = ?, pushed_to = ?, steps = ?, wall_seconds = ?
                WHERE id = ? AND state = ? AND attempt = ?
                """,
            arguments: [
                t.state.rawValue, t.attempt, t.attemptedBy, time(t.leaseUntil), time(t.scheduledAt),
                ServerIDs.errorsText(t.errors), t.cancelRequested, t.runID, t.branch, t.commitSHA, t.reason, t.costUSD,
                time(t.finishedAt), t.diff, t.pushedTo, t.steps, t.wallSeconds, task.id, task.state.rawValue,
                task.attempt,
            ])
        guard db.changesCount == 1 else { return nil }
        switch step.attempt {
        case .started(let attempt, let worker, let dueAt, let claimedAt):
            try db.execute(
                sql: "INSERT INTO attempts (task_id, attempt, worker, due_at, claimed_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [t.id, attempt, worker, time(dueAt), time(claimedAt)])
        case .ended(let attempt, let outcome, let at):
            try db.execute(
                sql: """
                    UPDATE attempts SET ended_at = ?, outcome = ? WHERE task_id = ? AND attempt = ? AND ended_at IS NULL
                    """,
                arguments: [time(at), outcome, t.id, attempt])
        case nil:
            break
        }
        // The webhook is queued in the same transaction as the end it announces.
        if step.announce { try Self.enqueueWebhook(db, taskID: t.id, now: now) }
        return step
    }
}
