import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The queue's rules on the real embedded store: claims, leases, fencing, rescue, idempotency, cancel, tenants.
@Suite struct QueueTests {
    struct Fixture {
        var store: any ServerStore
        var tenant: Tenant
        var project: Project
        /// The database's URL, on PostgreSQL.
        var url: String?
    }

    /// The two stores behind the one protocol: the embedded one and PostgreSQL.
    enum Kind: String, CaseIterable, Sendable { case sqlite, postgres }

    /// A fixture on `kind` for the scope of `body`: on PostgreSQL a fresh database, whose client runs as a child of
    /// the scope and stops when `body` ends.
    static func withFixture<T: Sendable>(_ kind: Kind = .sqlite, _ body: @Sendable (Fixture) async throws -> T)
        async throws -> T
    {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-queue-\(UUID().uuidString.prefix(8))"
            ).path
            return try await body(try await fixture(try SQLiteServerStore(path: dir + "/server.sqlite"), url: nil))
        case .postgres:
            let url = try await PostgresCluster.freshDatabase()
            return try await PostgresServerStore.withStore(url: url) { store in
                try await body(try await fixture(store, url: url))
            }
        }
    }

    static func fixture(_ store: any ServerStore, url: String?) async throws -> Fixture {
        let tenant = try await store.createTenant(name: "team")
        let project = try await store.createProject(
            Project(
                id: "prj_1", tenantID: tenant.id, name: "shop", repo: "/tmp/shop", base: "main", model: nil,
                testCommand: nil,
                createdAt: Date()))
        return Fixture(store: store, tenant: tenant, project: project, url: url)
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let policy = QueuePolicy(leaseSeconds: 10, backoffBaseSeconds: 5, backoffCapSeconds: 60)

    @Test func anUnreachableDatabaseIsAClearErrorNotAHang() async throws {
        let port = unusedLocalPort()
        let started = ContinuousClock.now
        await #expect {
            try await PostgresServerStore.withStore(
                url: "postgres://postgres@127.0.0.1:\(port)/ferry", connectTimeout: 2
            ) { _ in }
        } throws: { error in
            (error as? FerryError)?.message
                == "cannot reach PostgreSQL at 127.0.0.1:\(port) within 2 s (is it running, and is the URL right?)"
        }
        // Not a hang: a generous bound over the 2 s limit, since a loaded 2-core machine once took 13 s to say so.
        #expect(ContinuousClock.now - started < .seconds(45))
        await #expect { try await PostgresServerStore.withStore(url: "mysql://x/y") { _ in } } throws: { error in
            (error as? FerryError)?.message.contains("not a PostgreSQL URL") == true
        }
    }

    @Test func theBackoffDoublesUpToItsCap() {
        #expect((1...6).map { Self.policy.backoff(afterAttempt: $0) } == [5, 10, 20, 40, 60, 60])
    }

    @Test(arguments: Kind.allCases) func aClaimHoldsTheTaskAndOnlyItsAttemptMayFinishIt(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let (task, created) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "fix it"), tenantID: f.tenant.id, now: Self.t0)
            #expect(created && task.state == .queued && task.attempt == 0)
            let claimed = try #require(try await f.store.claim(worker: "w1", now: Self.t0, policy: Self.policy))
            #expect(
                claimed.id == task.id && claimed.state == .running && claimed.attempt == 1
                    && claimed.attemptedBy == "w1")
            #expect(claimed.leaseUntil == Self.t0.addingTimeInterval(10))
            #expect(try await f.store.claim(worker: "w2", now: Self.t0, policy: Self.policy) == nil)
            let beat = try await f.store.heartbeat(
                id: task.id, attempt: 1, now: Self.t0.addingTimeInterval(5), policy: Self.policy)
            #expect(beat.held && !beat.cancelRequested)
            #expect(try await f.store.task(id: task.id)?.leaseUntil == Self.t0.addingTimeInterval(15))
            let outcome = TaskOutcome(
                state: .verified, reason: "ok", runID: "r", branch: "ferry/r", commitSHA: "abc", costUSD: 0.25)
            #expect(try await !f.store.finish(id: task.id, attempt: 2, outcome: outcome, now: Self.t0))
            #expect(
                try await f.store.finish(id: task.id, attempt: 1, outcome: outcome, now: Self.t0.addingTimeInterval(6)))
            let done = try #require(try await f.store.task(id: task.id))
            #expect(
                done.state == .verified && done.costUSD == 0.25 && done.branch == "ferry/r" && done.finishedAt != nil)
            #expect(try await !f.store.heartbeat(id: task.id, attempt: 1, now: Self.t0, policy: Self.policy).held)
            #expect(try await !f.store.finish(id: task.id, attempt: 1, outcome: outcome, now: Self.t0))
        }
    }

    @Test(arguments: Kind.allCases) func anExpiredLeaseIsRescuedWithBackoffThenFailedAfterTheLastAttempt(kind: Kind)
        async throws
    {
        try await Self.withFixture(kind) { f in
            let (task, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "fix it", maxAttempts: 2), tenantID: f.tenant.id, now: Self.t0)
            _ = try await f.store.claim(worker: "w1", now: Self.t0, policy: Self.policy)
            #expect(try await f.store.rescueExpired(now: Self.t0.addingTimeInterval(9), policy: Self.policy).isEmpty)
            #expect(
                try await f.store.rescueExpired(now: Self.t0.addingTimeInterval(11), policy: Self.policy).map(\.id) == [
                    task.id
                ])
            let waiting = try #require(try await f.store.task(id: task.id))
            #expect(waiting.state == .retryable && waiting.state.apiName == "queued")
            #expect(waiting.scheduledAt == Self.t0.addingTimeInterval(16) && waiting.errors.count == 1)
            #expect(waiting.errors.first?.contains("attempt 1 lost: w1 stopped renewing its lease") == true)
            // The lost attempt may no longer finish it.
            let late = TaskOutcome(
                state: .verified, reason: "late", runID: nil, branch: nil, commitSHA: nil, costUSD: 1)
            #expect(
                try await !f.store.finish(id: task.id, attempt: 1, outcome: late, now: Self.t0.addingTimeInterval(12)))
            #expect(
                try await f.store.claim(worker: "w2", now: Self.t0.addingTimeInterval(15), policy: Self.policy) == nil)
            let second = try #require(
                try await f.store.claim(worker: "w2", now: Self.t0.addingTimeInterval(16), policy: Self.policy))
            #expect(second.attempt == 2 && second.attemptedBy == "w2")
            _ = try await f.store.rescueExpired(now: Self.t0.addingTimeInterval(30), policy: Self.policy)
            let failed = try #require(try await f.store.task(id: task.id))
            #expect(failed.state == .failed && failed.errors.count == 2 && failed.costUSD == 0)
            #expect(failed.reason?.contains("no attempts left (2)") == true)
        }
    }

    @Test(arguments: Kind.allCases) func aRetriedCreateWithTheSameKeyReturnsTheSameTask(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let first = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a", idempotencyKey: "k1"), tenantID: f.tenant.id, now: Self.t0)
            let again = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a", idempotencyKey: "k1"), tenantID: f.tenant.id, now: Self.t0)
            #expect(first.created && !again.created && again.task.id == first.task.id)
            let other = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a", idempotencyKey: "k2"), tenantID: f.tenant.id, now: Self.t0)
            #expect(other.created && other.task.id != first.task.id)
        }
    }

    @Test(arguments: Kind.allCases) func cancelEndsAQueuedTaskAtOnceAndAsksARunningOneToStop(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let (queued, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a"), tenantID: f.tenant.id, now: Self.t0)
            let (running, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "b", priority: 5), tenantID: f.tenant.id, now: Self.t0)
            // Priority first.
            #expect(try await f.store.claim(worker: "w", now: Self.t0, policy: Self.policy)?.id == running.id)
            #expect(
                try await f.store.requestCancel(queued.id, tenantID: f.tenant.id, now: Self.t0)?.state == .cancelled)
            let asked = try #require(try await f.store.requestCancel(running.id, tenantID: f.tenant.id, now: Self.t0))
            #expect(asked.state == .running && asked.cancelRequested)
            #expect(
                try await f.store.heartbeat(id: running.id, attempt: 1, now: Self.t0, policy: Self.policy)
                    .cancelRequested)
        }
    }

    @Test(arguments: Kind.allCases) func oneTenantCannotTakeEveryWorker(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let other = try await f.store.createTenant(name: "other")
            let otherProject = try await f.store.createProject(
                Project(
                    id: "prj_2", tenantID: other.id, name: "api", repo: "/tmp/api", base: "main", model: nil,
                    testCommand: nil, createdAt: Date()))
            let capped = QueuePolicy(leaseSeconds: 10, tenantConcurrency: 1)
            let (a1, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a1"), tenantID: f.tenant.id, now: Self.t0)
            let (a2, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a2"), tenantID: f.tenant.id, now: Self.t0.addingTimeInterval(1))
            let (b1, _) = try await f.store.createTask(
                NewTask(projectID: otherProject.id, task: "b1"), tenantID: other.id, now: Self.t0.addingTimeInterval(2))
            let later = Self.t0.addingTimeInterval(3)
            #expect(try await f.store.claim(worker: "w1", now: later, policy: capped)?.id == a1.id)
            // The tenant's second task waits; the other tenant's goes first.
            #expect(try await f.store.claim(worker: "w2", now: later, policy: capped)?.id == b1.id)
            #expect(try await f.store.claim(worker: "w3", now: later, policy: capped) == nil)
            let done = TaskOutcome(state: .verified, reason: "ok", runID: nil, branch: nil, commitSHA: nil, costUSD: 0)
            #expect(try await f.store.finish(id: a1.id, attempt: 1, outcome: done, now: later))
            #expect(try await f.store.claim(worker: "w3", now: later, policy: capped)?.id == a2.id)
        }
    }

    @Test(arguments: Kind.allCases) func aShutDownWorkerHandsItsAttemptBack(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let (task, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a"), tenantID: f.tenant.id, now: Self.t0)
            _ = try await f.store.claim(worker: "w1", now: Self.t0, policy: Self.policy)
            #expect(
                try await f.store.release(
                    id: task.id, attempt: 1, reason: "shut down", now: Self.t0.addingTimeInterval(1)))
            #expect(try await !f.store.release(id: task.id, attempt: 1, reason: "again", now: Self.t0))
            let again = try #require(
                try await f.store.claim(worker: "w2", now: Self.t0.addingTimeInterval(1), policy: Self.policy))
            #expect(again.attempt == 2 && again.errors == ["shut down"])
        }
    }

    @Test(arguments: Kind.allCases) func anotherTenantSeesNothing(kind: Kind) async throws {
        try await Self.withFixture(kind) { f in
            let other = try await f.store.createTenant(name: "other")
            let (task, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a"), tenantID: f.tenant.id, now: Self.t0)
            #expect(try await f.store.task(task.id, tenantID: other.id) == nil)
            #expect(try await f.store.project("shop", tenantID: other.id) == nil)
            #expect(try await f.store.tasks(tenantID: other.id, filter: TaskFilter(), limit: 10, after: nil).isEmpty)
            #expect(try await f.store.requestCancel(task.id, tenantID: other.id, now: Self.t0) == nil)
            #expect(try await f.store.task(id: task.id)?.state == .queued)
            let (key, plain) = try await f.store.createKey(tenantID: other.id, role: .viewer)
            #expect(
                try await f.store.authenticate(plain)
                    == Principal(
                        tenantID: other.id, role: .viewer, keyID: key, personID: Person.builtInID(tenantID: other.id)))
            #expect(try await f.store.authenticate(plain + "x") == nil)
        }
    }

    @Test(arguments: Kind.allCases) func claimLatencyAndRunDurationAreHistogramsFromTheDatabase(kind: Kind) async throws
    {
        try await Self.withFixture(kind) { f in
            let (a, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a"), tenantID: f.tenant.id, now: Self.t0)
            let (b, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "b", priority: -1), tenantID: f.tenant.id, now: Self.t0)
            #expect(
                try await f.store.claim(worker: "w1", now: Self.t0.addingTimeInterval(0.3), policy: Self.policy)?.id
                    == a.id
            )
            #expect(
                try await f.store.claim(worker: "w2", now: Self.t0.addingTimeInterval(2), policy: Self.policy)?.id
                    == b.id)
            let done = TaskOutcome(state: .verified, reason: "ok", runID: nil, branch: nil, commitSHA: nil, costUSD: 0)
            #expect(try await f.store.finish(id: a.id, attempt: 1, outcome: done, now: Self.t0.addingTimeInterval(6.3)))
            // b's lease runs out: that attempt ends "lost" after 11 s; its retry is due 5 s later and claimed 2 s after that.
            #expect(
                try await f.store.rescueExpired(now: Self.t0.addingTimeInterval(13), policy: Self.policy).map(\.id) == [
                    b.id
                ])
            #expect(
                try await f.store.claim(worker: "w3", now: Self.t0.addingTimeInterval(20), policy: Self.policy)?.attempt
                    == 2)
            let stats = try await f.store.stats()
            #expect(stats.claimLatency.count == 3 && abs(stats.claimLatency.sum - 4.3) < 0.001)
            let le = Dictionary(uniqueKeysWithValues: zip(stats.claimLatency.bounds, stats.claimLatency.cumulative))
            #expect(le[0.25] == 0 && le[0.5] == 1 && le[1] == 1 && le[2.5] == 3 && le[3600] == 3)
            #expect(stats.runDuration.keys.sorted() == ["lost", "verified"])
            #expect(
                stats.runDuration["verified"]?.count == 1 && abs((stats.runDuration["verified"]?.sum ?? 0) - 6) < 0.001)
            #expect(stats.runDuration["lost"]?.count == 1 && abs((stats.runDuration["lost"]?.sum ?? 0) - 11) < 0.001)
            let text = stats.prometheus
            #expect(text.contains("# TYPE ferry_claim_latency_seconds histogram\n"))
            #expect(text.contains("ferry_claim_latency_seconds_bucket{le=\"0.5\"} 1\n"))
            #expect(
                text.contains("ferry_claim_latency_seconds_bucket{le=\"+Inf\"} 3\nferry_claim_latency_seconds_sum 4.29")
            )
            #expect(text.contains("ferry_run_duration_seconds_bucket{outcome=\"lost\",le=\"10\"} 0\n"))
            #expect(text.contains("ferry_run_duration_seconds_bucket{outcome=\"lost\",le=\"30\"} 1\n"))
            #expect(text.contains("ferry_run_duration_seconds_count{outcome=\"verified\"} 1\n"))
        }
    }
}
