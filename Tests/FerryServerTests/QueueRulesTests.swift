import FerryCore
import Foundation
import Testing

@testable import FerryServerStore

/// The queue's rules alone (`QueuePolicy.step`, `next(among:)`), and both stores held to them: a random run of
/// creates, claims, heartbeats, finishes, hand-backs, cancels and rescues must leave each store's tasks exactly as
/// the rules say, and each claim must take the task the rules choose.
@Suite struct QueueRulesTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let policy = QueuePolicy(leaseSeconds: 10, backoffBaseSeconds: 5, backoffCapSeconds: 60)

    static func task(
        _ id: String = "task_1", state: TaskState = .queued, attempt: Int = 0, maxAttempts: Int = 3,
        priority: Int = 0, scheduledAt: Date = t0, tenant: String = "ten_a", cancelRequested: Bool = false,
        leaseUntil: Date? = nil, attemptedBy: String? = nil
    ) -> ServerTask {
        ServerTask(
            id: id, tenantID: tenant, projectID: "prj_1", task: "fix it", base: nil, model: nil, maxCostUSD: nil,
            state: state, attempt: attempt, maxAttempts: maxAttempts, priority: priority, scheduledAt: scheduledAt,
            attemptedBy: attemptedBy, leaseUntil: leaseUntil, idempotencyKey: nil, errors: [],
            cancelRequested: cancelRequested, runID: nil, branch: nil, commitSHA: nil, reason: nil, costUSD: 0.5,
            createdAt: t0, finishedAt: nil, diff: nil, pushedTo: nil)
    }

    static func running(attempt: Int = 1, maxAttempts: Int = 3, cancelRequested: Bool = false) -> ServerTask {
        task(
            state: .running, attempt: attempt, maxAttempts: maxAttempts, cancelRequested: cancelRequested,
            leaseUntil: t0.addingTimeInterval(10), attemptedBy: "w1")
    }

    static let outcome = TaskOutcome(
        state: .verified, reason: "ok", runID: "run_1", branch: "ferry/run_1", commitSHA: "abc", costUSD: 0.25,
        diff: "diff", pushedTo: nil, steps: 4, wallSeconds: 12)

    // MARK: - Steps

    @Test func aClaimStartsTheNextAttemptUnderALease() throws {
        for state in [TaskState.queued, .retryable] {
            let step = try #require(
                Self.policy.step(Self.task(state: state, attempt: 1), .claim(worker: "w2"), now: Self.t0))
            #expect(step.task.state == .running && step.task.attempt == 2 && step.task.attemptedBy == "w2")
            #expect(step.task.leaseUntil == Self.t0.addingTimeInterval(10))
            #expect(step.attempt == .started(attempt: 2, worker: "w2", dueAt: Self.t0, claimedAt: Self.t0))
            #expect(!step.announce)
        }
        for state in TaskState.allCases where ![.queued, .retryable].contains(state) {
            #expect(Self.policy.step(Self.task(state: state), .claim(worker: "w"), now: Self.t0) == nil)
        }
    }

    @Test func onlyTheAttemptThatHoldsATaskMayRenewAttachOrFinishIt() throws {
        let held = Self.running(attempt: 2)
        let later = Self.t0.addingTimeInterval(4)
        #expect(
            try #require(Self.policy.step(held, .heartbeat(attempt: 2), now: later)).task.leaseUntil
                == later.addingTimeInterval(10))
        #expect(
            try #require(Self.policy.step(held, .attachRun(attempt: 2, runID: "r9"), now: later)).task.runID == "r9")
        for event in [
            QueueEvent.heartbeat(attempt: 1), .attachRun(attempt: 1, runID: "r"), .finish(attempt: 1, Self.outcome),
            .release(attempt: 3, reason: "x"),
        ] {
            #expect(Self.policy.step(held, event, now: later) == nil, "\(event)")
        }
        // A finished or waiting task takes no step of an attempt.
        for state in [TaskState.verified, .failed, .cancelled, .queued, .retryable] {
            var task = held
            task.state = state
            #expect(Self.policy.step(task, .heartbeat(attempt: 2), now: later) == nil)
            #expect(Self.policy.step(task, .finish(attempt: 2, Self.outcome), now: later) == nil)
        }
    }

    @Test func aFinishRecordsTheResultAddsTheSpendAndAnnouncesIt() throws {
        let now = Self.t0.addingTimeInterval(5)
        let step = try #require(Self.policy.step(Self.running(), .finish(attempt: 1, Self.outcome), now: now))
        let t = step.task
        #expect(t.state == .verified && t.reason == "ok" && t.runID == "run_1" && t.branch == "ferry/run_1")
        #expect(t.commitSHA == "abc" && t.diff == "diff" && t.steps == 4 && t.wallSeconds == 12)
        #expect(t.costUSD == 0.75, "an earlier attempt's spend stays counted")
        #expect(t.finishedAt == now && t.leaseUntil == nil)
        #expect(step.attempt == .ended(attempt: 1, outcome: "verified", at: now))
        #expect(step.announce && step.wakeWorkers)
    }

    @Test func aLostAttemptIsRetriedAfterItsBackoffThenFailsWhenNoAttemptIsLeft() throws {
        let task = Self.running(attempt: 2, maxAttempts: 3)
        #expect(Self.policy.step(task, .rescue, now: Self.t0.addingTimeInterval(9)) == nil, "the lease still holds")
        #expect(Self.policy.step(task, .rescue, now: Self.t0.addingTimeInterval(10)) == nil, "it holds to its end")
        let now = Self.t0.addingTimeInterval(11)
        let retry = try #require(Self.policy.step(task, .rescue, now: now))
        #expect(retry.task.state == .retryable && retry.task.scheduledAt == now.addingTimeInterval(10))
        #expect(retry.task.attemptedBy == nil && retry.task.leaseUntil == nil && retry.task.finishedAt == nil)
        #expect(retry.task.errors == ["attempt 2 lost: w1 stopped renewing its lease"])
        #expect(retry.attempt == .ended(attempt: 2, outcome: "lost", at: now) && !retry.announce)

        let last = try #require(Self.policy.step(Self.running(attempt: 3, maxAttempts: 3), .rescue, now: now))
        #expect(last.task.state == .failed && last.task.finishedAt == now && last.task.scheduledAt == now)
        #expect(last.task.reason == "attempt 3 lost: w1 stopped renewing its lease; no attempts left (3)")

        let cancelled = try #require(Self.policy.step(Self.running(cancelRequested: true), .rescue, now: now))
        #expect(cancelled.task.state == .cancelled && cancelled.task.finishedAt == now)
        #expect(cancelled.task.reason?.hasSuffix("; the task had been cancelled") == true)

        #expect(Self.policy.step(Self.task(state: .queued), .rescue, now: now) == nil)
    }

    @Test func aHandedBackAttemptIsClaimableAtOnce() throws {
        let now = Self.t0.addingTimeInterval(3)
        let step = try #require(
            Self.policy.step(Self.running(), .release(attempt: 1, reason: "shutting down"), now: now))
        #expect(step.task.state == .retryable && step.task.scheduledAt == now && step.task.errors == ["shutting down"])
        #expect(step.task.attempt == 1 && step.task.attemptedBy == nil && step.task.leaseUntil == nil)
        #expect(step.attempt == .ended(attempt: 1, outcome: "released", at: now) && step.wakeWorkers)
        #expect(Self.policy.isClaimable(step.task, now: now, runningForTenant: 0))
    }

    @Test func cancelEndsAWaitingTaskAtOnceAndFlagsARunningOne() throws {
        for state in [TaskState.queued, .retryable] {
            let step = try #require(Self.policy.step(Self.task(state: state), .cancel, now: Self.t0))
            #expect(step.task.state == .cancelled && step.task.cancelRequested && step.task.finishedAt == Self.t0)
            #expect(step.task.reason == "cancelled before it started")
        }
        let flagged = try #require(Self.policy.step(Self.running(), .cancel, now: Self.t0))
        #expect(flagged.task.state == .running && flagged.task.cancelRequested && flagged.task.finishedAt == nil)
        #expect(Self.policy.step(flagged.task, .cancel, now: Self.t0) == nil, "asking twice changes nothing")
        for state in TaskState.allCases where state.isTerminal {
            #expect(Self.policy.step(Self.task(state: state), .cancel, now: Self.t0) == nil)
        }
    }

    // MARK: - Which task is next

    @Test func theNextTaskIsTheHighestPriorityThenTheLongestDueThenById() {
        let tasks = [
            Self.task("task_c", priority: 0, scheduledAt: Self.t0),
            Self.task("task_b", priority: 1, scheduledAt: Self.t0.addingTimeInterval(2)),
            Self.task("task_a", priority: 1, scheduledAt: Self.t0.addingTimeInterval(2)),
            Self.task("task_d", priority: 1, scheduledAt: Self.t0.addingTimeInterval(1)),
            Self.task("task_e", state: .retryable, priority: 9, scheduledAt: Self.t0.addingTimeInterval(60)),
        ]
        let now = Self.t0.addingTimeInterval(5)
        #expect(Self.policy.next(among: tasks, now: now)?.id == "task_d")
        #expect(Self.policy.next(among: tasks.filter { $0.id != "task_d" }, now: now)?.id == "task_a")
        #expect(Self.policy.next(among: tasks, now: Self.t0.addingTimeInterval(60))?.id == "task_e", "due now")
        #expect(Self.policy.next(among: [Self.task(state: .running)], now: now) == nil)
    }

    @Test func aTenantAtItsCapWaitsWhileOthersRun() {
        var policy = Self.policy
        policy.tenantConcurrency = 1
        let tasks = [
            Self.task("task_1", state: .running, tenant: "ten_a"),
            Self.task("task_2", priority: 5, tenant: "ten_a"),
            Self.task("task_3", priority: 0, tenant: "ten_b"),
        ]
        #expect(policy.next(among: tasks, now: Self.t0)?.id == "task_3")
        #expect(Self.policy.next(among: tasks, now: Self.t0)?.id == "task_2", "no cap")
    }

    // MARK: - Both stores follow the rules

    /// A seeded random run against one store, mirrored in a model that only applies `QueuePolicy`; after every
    /// step, each task in the store must equal the model's, and every claim must take the model's choice.
    @Test(arguments: QueueTests.Kind.allCases) func eachStoreKeepsTheQueueExactlyAsTheRulesSay(kind: QueueTests.Kind)
        async throws
    {
        try await QueueTests.withFixture(kind) { f in
            let other = try await f.store.createTenant(name: "other")
            let otherProject = try await f.store.createProject(
                Project(
                    id: "prj_2", tenantID: other.id, name: "shop", repo: "/tmp/shop2", base: "main", model: nil,
                    testCommand: nil, createdAt: Self.t0))
            var policy = QueuePolicy(leaseSeconds: 10, backoffBaseSeconds: 3, backoffCapSeconds: 20)
            policy.tenantConcurrency = 2
            var model: [String: ServerTask] = [:]
            var random = SeededGenerator(seed: 23)
            var now = Self.t0
            var claims = 0

            func storedTasks() async throws -> [String: ServerTask] {
                var all: [String: ServerTask] = [:]
                for id in model.keys { all[id] = try await f.store.task(id: id) }
                return all
            }
            func expectSame(_ context: String) async throws {
                let stored = try await storedTasks()
                for (id, expected) in model {
                    let actual = try #require(stored[id])
                    #expect(Self.queueFields(actual) == Self.queueFields(expected), "\(context): \(id)")
                }
            }

            for round in 0..<120 {
                now = now.addingTimeInterval(Double(Int.random(in: 0...4, using: &random)))
                let running = model.values.filter { $0.state == .running }.sorted { $0.id < $1.id }
                switch Int.random(in: 0..<10, using: &random) {
                case 0, 1:
                    let (tenant, project) = Bool.random(using: &random) ? (f.tenant, f.project) : (other, otherProject)
                    let (task, _) = try await f.store.createTask(
                        NewTask(
                            projectID: project.id, task: "t\(round)",
                            maxAttempts: Int.random(in: 1...3, using: &random),
                            priority: Int.random(in: 0...2, using: &random)),
                        tenantID: tenant.id, now: now)
                    model[task.id] = task
                case 2, 3, 4:
                    let expected = policy.next(among: Array(model.values), now: now)
                    let claimed = try await f.store.claim(worker: "w\(round)", now: now, policy: policy)
                    #expect(claimed?.id == expected?.id, "round \(round): the claim takes the rules' choice")
                    if let expected, let step = policy.step(expected, .claim(worker: "w\(round)"), now: now) {
                        model[expected.id] = step.task
                        claims += 1
                    }
                case 5:
                    guard let task = running.randomElement(using: &random) else { continue }
                    // Sometimes a stale attempt, which the fence refuses.
                    let attempt = task.attempt - (Int.random(in: 0..<4, using: &random) == 0 ? 1 : 0)
                    let outcome = TaskOutcome(
                        state: [.verified, .unverified, .failed].randomElement(using: &random)!, reason: "r\(round)",
                        runID: "run_\(round)", branch: nil, commitSHA: nil, costUSD: 0.1, steps: 2, wallSeconds: 3)
                    let finished = try await f.store.finish(id: task.id, attempt: attempt, outcome: outcome, now: now)
                    let step = policy.step(task, .finish(attempt: attempt, outcome), now: now)
                    #expect(finished == (step != nil))
                    if let step { model[task.id] = step.task }
                case 6:
                    guard let task = running.randomElement(using: &random) else { continue }
                    let beat = try await f.store.heartbeat(id: task.id, attempt: task.attempt, now: now, policy: policy)
                    let step = policy.step(task, .heartbeat(attempt: task.attempt), now: now)
                    #expect(beat.held == (step != nil) && beat.cancelRequested == task.cancelRequested)
                    if let step { model[task.id] = step.task }
                case 7:
                    guard let task = running.randomElement(using: &random) else { continue }
                    let released = try await f.store.release(
                        id: task.id, attempt: task.attempt, reason: "stop", now: now)
                    let step = policy.step(task, .release(attempt: task.attempt, reason: "stop"), now: now)
                    #expect(released == (step != nil))
                    if let step { model[task.id] = step.task }
                case 8:
                    guard let task = model.values.sorted(by: { $0.id < $1.id }).randomElement(using: &random) else {
                        continue
                    }
                    let answer = try await f.store.requestCancel(task.id, tenantID: task.tenantID, now: now)
                    let step = policy.step(task, .cancel, now: now)
                    if let step { model[task.id] = step.task }
                    #expect(answer?.state == model[task.id]?.state)
                    // Another tenant's key cancels nothing.
                    let stranger = task.tenantID == f.tenant.id ? other.id : f.tenant.id
                    #expect(try await f.store.requestCancel(task.id, tenantID: stranger, now: now) == nil)
                default:
                    now = now.addingTimeInterval(Double(Int.random(in: 5...15, using: &random)))
                    let rescued = try await f.store.rescueExpired(now: now, policy: policy)
                    var expected: [String] = []
                    for task in model.values {
                        if let step = policy.step(task, .rescue, now: now) {
                            model[task.id] = step.task
                            expected.append(task.id)
                        }
                    }
                    #expect(rescued.map(\.id).sorted() == expected.sorted(), "round \(round)")
                }
                try await expectSame("round \(round)")
            }
            #expect(claims > 10, "the run exercised the claim rule (\(claims) claims)")
            #expect(model.values.contains { $0.state == .retryable || $0.errors.count > 0 }, "and the rescue rule")
        }
    }

    /// What the queue's rules decide of a task (dates to the microsecond: both stores keep seconds as doubles).
    static func queueFields(_ t: ServerTask) -> [String] {
        func time(_ date: Date?) -> String { date.map { String(format: "%.6f", $0.timeIntervalSince1970) } ?? "-" }
        return [
            t.state.rawValue, "\(t.attempt)", t.attemptedBy ?? "-", time(t.leaseUntil), time(t.scheduledAt),
            t.errors.joined(separator: "|"), "\(t.cancelRequested)", t.runID ?? "-", t.reason ?? "-",
            String(format: "%.4f", t.costUSD), time(t.finishedAt), "\(t.steps)", t.wallSeconds.map { "\($0)" } ?? "-",
        ]
    }
}

/// A small deterministic generator (SplitMix64), so a failing run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
