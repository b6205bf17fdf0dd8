import FerryCore
import Foundation

/// The queue's rules, pure: which task a worker gets next, and what each step (a claim, a heartbeat, a finish, a
/// rescue, a hand-back, a cancel) makes of a task. Both back ends ask these rules and only store what they answer:
/// each step reads the task inside one transaction (PostgreSQL locks its row; SQLite has one writer), asks
/// `step(_:_:now:)`, and writes the task it returns, fenced on the state and attempt it read.
public struct QueuePolicy: Sendable, Hashable {
    /// How long a claim holds without a heartbeat.
    public var leaseSeconds: Double
    public var backoffBaseSeconds: Double
    public var backoffCapSeconds: Double
    /// The most tasks of one tenant running at once (nil: no cap), so one team cannot take every worker.
    public var tenantConcurrency: Int?

    public init(
        leaseSeconds: Double = 60, backoffBaseSeconds: Double = 5, backoffCapSeconds: Double = 600,
        tenantConcurrency: Int? = nil
    ) {
        self.leaseSeconds = leaseSeconds
        self.backoffBaseSeconds = backoffBaseSeconds
        self.backoffCapSeconds = backoffCapSeconds
        self.tenantConcurrency = tenantConcurrency
    }

    /// The wait before attempt `attempt + 1`, after attempt `attempt` was lost: base · 2^(attempt-1), capped.
    public func backoff(afterAttempt attempt: Int) -> Double {
        min(backoffCapSeconds, backoffBaseSeconds * pow(2, Double(max(0, attempt - 1))))
    }
}

// MARK: - Which task is next

extension QueuePolicy {
    /// The states a task may be claimed from.
    public static let claimableStates: [TaskState] = [.queued, .retryable]

    /// Whether a worker may claim `task` at `now`, with `runningForTenant` of its tenant's tasks running.
    public func isClaimable(_ task: ServerTask, now: Date, runningForTenant: Int) -> Bool {
        Self.claimableStates.contains(task.state) && task.scheduledAt <= now
            && tenantConcurrency.map { runningForTenant < $0 } ?? true
    }

    /// The order claimable tasks are taken in: higher priority first, then the longest due, then by id.
    public static func comesFirst(_ a: ServerTask, _ b: ServerTask) -> Bool {
        (-a.priority, a.scheduledAt, a.id) < (-b.priority, b.scheduledAt, b.id)
    }

    /// The task the next claim takes among `tasks` (every task the store has), or nil.
    public func next(among tasks: [ServerTask], now: Date) -> ServerTask? {
        let running = Dictionary(grouping: tasks.filter { $0.state == .running }, by: \.tenantID).mapValues(\.count)
        return
            tasks
            .filter { isClaimable($0, now: now, runningForTenant: running[$0.tenantID] ?? 0) }
            .min(by: Self.comesFirst)
    }

    /// The same choice as SQL, for both back ends (whose `FROM tasks t` it expects): the condition and the order.
    /// Its numbers are written in (a time and a count, never text from outside); `QueueRulesTests` checks both stores
    /// against `next(among:now:)`.
    public func nextTaskSQL(now: Date) -> (condition: String, order: String) {
        let states = Self.claimableStates.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        // The shortest decimal that reads back as the same double: a task due at `now` exactly is claimable now.
        var condition = "t.state IN (\(states)) AND t.scheduled_at <= \(now.timeIntervalSince1970)"
        if let cap = tenantConcurrency {
            condition +=
                " AND (SELECT COUNT(*) FROM tasks r WHERE r.tenant_id = t.tenant_id AND r.state = 'running') < \(cap)"
        }
        return (condition, "t.priority DESC, t.scheduled_at, t.id")
    }
}

// MARK: - What a step makes of a task

/// Something that happens to a task in the queue.
public enum QueueEvent: Sendable, Hashable {
    /// A worker takes it: a new attempt, under a lease.
    case claim(worker: String)
    /// The worker holding `attempt` renews its lease.
    case heartbeat(attempt: Int)
    /// The attempt's run exists, so its events can be followed.
    case attachRun(attempt: Int, runID: String)
    /// The attempt ended with a result.
    case finish(attempt: Int, TaskOutcome)
    /// The attempt's lease ran out: its worker died or hung.
    case rescue
    /// The worker hands the attempt back unfinished (it is shutting down).
    case release(attempt: Int, reason: String)
    /// The tenant asks for the task's end.
    case cancel
}

/// What a step does: the task as it is to be stored, and the attempt's own record.
public struct QueueStep: Sendable, Hashable {
    public enum AttemptRecord: Sendable, Hashable {
        /// A new attempt: when it was due and when it was claimed (the claim latency).
        case started(attempt: Int, worker: String, dueAt: Date, claimedAt: Date)
        /// The attempt ended: a task state's name, `lost` or `released`.
        case ended(attempt: Int, outcome: String, at: Date)
    }

    public var task: ServerTask
    public var attempt: AttemptRecord?
    /// The task has ended: its webhook is queued in the same transaction.
    public var announce: Bool = false
    /// A worker may have work now (a slot freed, a task back in the queue).
    public var wakeWorkers: Bool = false
}

extension QueuePolicy {
    /// What `event` makes of `task` at `now`; nil when it does not apply, and then nothing is written: a step for an
    /// attempt the task no longer runs is fenced off, so an attempt that lost its lease can neither renew it nor
    /// finish the task, and a finished task stays finished.
    public func step(_ task: ServerTask, _ event: QueueEvent, now: Date) -> QueueStep? {
        switch event {
        case .claim(let worker):
            return claim(task, worker: worker, now: now)
        case .heartbeat(let attempt):
            guard holds(task, attempt) else { return nil }
            var next = task
            next.leaseUntil = now.addingTimeInterval(leaseSeconds)
            return QueueStep(task: next)
        case .attachRun(let attempt, let runID):
            guard holds(task, attempt) else { return nil }
            var next = task
            next.runID = runID
            return QueueStep(task: next)
        case .finish(let attempt, let outcome):
            guard holds(task, attempt) else { return nil }
            return finish(task, attempt: attempt, outcome, now: now)
        case .rescue:
            guard task.state == .running, let lease = task.leaseUntil, lease < now else { return nil }
            return rescue(task, now: now)
        case .release(let attempt, let reason):
            guard holds(task, attempt) else { return nil }
            return release(task, attempt: attempt, reason: reason, now: now)
        case .cancel:
            return cancel(task, now: now)
        }
    }

    private func claim(_ task: ServerTask, worker: String, now: Date) -> QueueStep? {
        guard Self.claimableStates.contains(task.state) else { return nil }
        let next = claimChange(worker: worker, now: now).apply(to: task)
        return QueueStep(
            task: next,
            attempt: .started(attempt: next.attempt, worker: worker, dueAt: task.scheduledAt, claimedAt: now))
    }

    /// What a claim does to the task it takes, as values a back end can write in the statement that picks the task
    /// (the queue's hot path: PostgreSQL claims in one statement). `step(.claim)` applies the same values.
    public func claimChange(worker: String, now: Date) -> ClaimChange {
        ClaimChange(
            state: .running, attemptIncrement: 1, worker: worker, leaseUntil: now.addingTimeInterval(leaseSeconds))
    }

    private func finish(_ task: ServerTask, attempt: Int, _ outcome: TaskOutcome, now: Date) -> QueueStep {
        let change = finishChange(outcome, now: now)
        return QueueStep(
            task: change.apply(to: task), attempt: .ended(attempt: attempt, outcome: change.attemptOutcome, at: now),
            announce: true, wakeWorkers: true)
    }

    /// What a finish does to the task it ends, as values a back end can write in one fenced statement (the queue's
    /// other hot path). `step(.finish)` applies the same values.
    public func finishChange(_ outcome: TaskOutcome, now: Date) -> FinishChange {
        FinishChange(outcome: outcome, finishedAt: now)
    }

    /// A lost attempt: tried again after its backoff while attempts are left, else failed (or cancelled, when that
    /// was asked for).
    private func rescue(_ task: ServerTask, now: Date) -> QueueStep {
        var next = task
        var error = "attempt \(task.attempt) lost: \(task.attemptedBy ?? "its worker") stopped renewing its lease"
        if task.cancelRequested {
            next.state = .cancelled
            error += "; the task had been cancelled"
        } else if task.attempt >= task.maxAttempts {
            next.state = .failed
            error += "; no attempts left (\(task.maxAttempts))"
        } else {
            next.state = .retryable
        }
        next.scheduledAt = next.state.isTerminal ? now : now.addingTimeInterval(backoff(afterAttempt: task.attempt))
        next.errors.append(error)
        next.reason = error
        next.finishedAt = next.state.isTerminal ? now : nil
        next.leaseUntil = nil
        next.attemptedBy = nil
        return QueueStep(
            task: next, attempt: .ended(attempt: task.attempt, outcome: "lost", at: now),
            wakeWorkers: next.state == .retryable)
    }

    private func release(_ task: ServerTask, attempt: Int, reason: String, now: Date) -> QueueStep {
        var next = task
        next.state = .retryable
        next.scheduledAt = now
        next.errors.append(reason)
        next.leaseUntil = nil
        next.attemptedBy = nil
        return QueueStep(task: next, attempt: .ended(attempt: attempt, outcome: "released", at: now), wakeWorkers: true)
    }

    private func cancel(_ task: ServerTask, now: Date) -> QueueStep? {
        var next = task
        switch task.state {
        case .queued, .retryable:
            // Never started (or waiting for a retry): it ends now.
            next.state = .cancelled
            next.reason = "cancelled before it started"
            next.finishedAt = now
            next.cancelRequested = true
            return QueueStep(task: next)
        case .running:
            // Its worker stops it at the next heartbeat.
            guard !task.cancelRequested else { return nil }
            next.cancelRequested = true
            return QueueStep(task: next)
        case .verified, .unverified, .failed, .limit, .cancelled:
            return nil
        }
    }

    /// Whether `attempt` is the one running `task` (the fence every step of a worker passes).
    private func holds(_ task: ServerTask, _ attempt: Int) -> Bool {
        task.state == .running && task.attempt == attempt
    }
}

/// A claim's change to a task: its state, its attempt counted up, its worker and lease.
public struct ClaimChange: Sendable, Hashable {
    public var state: TaskState
    public var attemptIncrement: Int
    public var worker: String
    public var leaseUntil: Date

    public func apply(to task: ServerTask) -> ServerTask {
        var next = task
        next.state = state
        next.attempt += attemptIncrement
        next.attemptedBy = worker
        next.leaseUntil = leaseUntil
        return next
    }
}

/// A finish's change to a task: the outcome's fields, its cost added to the earlier attempts' (a rescued attempt's
/// calls were paid for too), its end time, and no lease.
public struct FinishChange: Sendable, Hashable {
    public var outcome: TaskOutcome
    public var finishedAt: Date

    /// The attempt's outcome, as its row records it.
    public var attemptOutcome: String { outcome.state.rawValue }

    public func apply(to task: ServerTask) -> ServerTask {
        var next = task
        next.state = outcome.state
        next.reason = outcome.reason
        next.runID = outcome.runID
        next.branch = outcome.branch
        next.commitSHA = outcome.commitSHA
        next.costUSD += outcome.costUSD
        next.finishedAt = finishedAt
        next.leaseUntil = nil
        next.diff = outcome.diff
        next.pushedTo = outcome.pushedTo
        next.steps = outcome.steps
        next.wallSeconds = outcome.wallSeconds
        return next
    }
}
