import FerryCore
import Foundation
import GRDB

/// The queue on SQLite: one write transaction per step, so no two workers take the same task.
extension SQLiteServerStore {
    // MARK: - The queue

    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        try await write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id FROM tasks t WHERE state IN ('queued', 'retryable') AND scheduled_at <= ?
                            AND (? IS NULL OR (SELECT COUNT(*) FROM tasks r WHERE r.tenant_id = t.tenant_id AND r.state = 'running') < ?)
                        ORDER BY priority DESC, scheduled_at, id LIMIT 1
                        """,
                    arguments: [now.timeIntervalSince1970, policy.tenantConcurrency, policy.tenantConcurrency])
            else { return nil }
            let id: String = row["id"]
            try db.execute(
                sql: """
                    INSERT INTO attempts (task_id, attempt, worker, due_at, claimed_at)
                    SELECT id, attempt + 1, ?, scheduled_at, ? FROM tasks WHERE id = ?
                    """,
                arguments: [worker, now.timeIntervalSince1970, id])
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'running', attempt = attempt + 1, attempted_by = ?, lease_until = ?
                    WHERE id = ?
                    """,
                arguments: [worker, now.addingTimeInterval(policy.leaseSeconds).timeIntervalSince1970, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task)
        }
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        try await write { db in
            try db.execute(
                sql: "UPDATE tasks SET lease_until = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                arguments: [now.addingTimeInterval(policy.leaseSeconds).timeIntervalSince1970, id, attempt])
            let held = db.changesCount == 1
            let cancel =
                try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM tasks WHERE id = ?", arguments: [id]) ?? false
            return (held, cancel)
        }
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE tasks SET run_id = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                arguments: [runID, id, attempt])
        }
    }

    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        // A finished task frees its tenant's slot.
        defer { workSignal.notify() }
        return try await write { db in
            try db.execute(
                sql: """
                    UPDATE tasks SET state = ?, reason = ?, run_id = ?, branch = ?, commit_sha = ?,
                        cost_usd = cost_usd + ?, finished_at = ?, lease_until = NULL, diff = ?, pushed_to = ?, steps = ?,
                        wall_seconds = ?
                    WHERE id = ? AND attempt = ? AND state = 'running'
                    """,
                arguments: [
                    outcome.state.rawValue, outcome.reason, outcome.runID, outcome.branch, outcome.commitSHA,
                    outcome.costUSD, now.timeIntervalSince1970, outcome.diff, outcome.pushedTo, outcome.steps,
                    outcome.wallSeconds, id, attempt,
                ])
            guard db.changesCount == 1 else { return false }
            try Self.endAttempt(db, id: id, attempt: attempt, outcome: outcome.state.rawValue, now: now)
            // The webhook is queued in the same transaction as the end it announces.
            try Self.enqueueWebhook(db, taskID: id, now: now)
            return true
        }
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [ServerTask] {
        try await write { db in
            let expired = try Row.fetchAll(
                db, sql: "SELECT * FROM tasks WHERE state = 'running' AND lease_until < ?",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.task)
            for task in expired {
                let (state, scheduledAt, error) = policy.rescue(task, now: now)
                let errors = ServerIDs.errorsText(task.errors + [error])
                try db.execute(
                    sql: """
                        UPDATE tasks SET state = ?, scheduled_at = ?, errors = ?, lease_until = NULL, attempted_by = NULL,
                            reason = ?, finished_at = ?
                        WHERE id = ? AND attempt = ?
                        """,
                    arguments: [
                        state.rawValue, scheduledAt.timeIntervalSince1970, errors, error,
                        state.isTerminal ? now.timeIntervalSince1970 : nil, task.id, task.attempt,
                    ])
                try Self.endAttempt(db, id: task.id, attempt: task.attempt, outcome: "lost", now: now)
            }
            return expired
        }
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        defer { workSignal.notify() }
        return try await write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT errors FROM tasks WHERE id = ? AND attempt = ? AND state = 'running'",
                    arguments: [id, attempt])
            else { return false }
            let earlier = ServerIDs.errors(row["errors"] as String)
            let errors = ServerIDs.errorsText(earlier + [reason])
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'retryable', scheduled_at = ?, errors = ?, lease_until = NULL,
                        attempted_by = NULL
                    WHERE id = ? AND attempt = ? AND state = 'running'
                    """,
                arguments: [now.timeIntervalSince1970, errors, id, attempt])
            guard db.changesCount == 1 else { return false }
            try Self.endAttempt(db, id: id, attempt: attempt, outcome: "released", now: now)
            return true
        }
    }

    static func endAttempt(_ db: Database, id: String, attempt: Int, outcome: String, now: Date) throws {
        try db.execute(
            sql: "UPDATE attempts SET ended_at = ?, outcome = ? WHERE task_id = ? AND attempt = ? AND ended_at IS NULL",
            arguments: [now.timeIntervalSince1970, outcome, id, attempt])
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'cancelled', reason = 'cancelled before it started', finished_at = ?,
                        cancel_requested = 1
                    WHERE id = ? AND tenant_id = ? AND state IN ('queued', 'retryable')
                    """,
                arguments: [now.timeIntervalSince1970, id, tenantID])
            try db.execute(
                sql: "UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND tenant_id = ? AND state = 'running'",
                arguments: [id, tenantID])
            return try Row.fetchOne(
                db, sql: "SELECT * FROM tasks WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]
            )
            .map(Self.task)
        }
    }
}
