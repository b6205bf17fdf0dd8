import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// Idle workers wake when work arrives: in one process through the store, across processes through LISTEN/NOTIFY.
@Suite struct WorkSignalTests {
    @Test func aSignalSinceTheWorkerLookedReturnsAtOnceAndCancelReturns() async {
        let signal = WorkSignal()
        let seen = signal.generation
        signal.notify()
        let started = ContinuousClock.now
        await signal.wait(seconds: 30, after: seen)
        // Well under the 30 s wait, with room for a loaded machine's scheduling.
        #expect(ContinuousClock.now - started < .seconds(20))
        let waiting = Task { await signal.wait(seconds: 30, after: signal.generation) }
        waiting.cancel()
        await waiting.value
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    /// A task created by another process (here another connection to the same database) wakes a worker whose poll
    /// interval is far longer than the test's bound.
    @Test(arguments: QueueTests.Kind.allCases) func aNewTaskWakesAnIdleWorker(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            if let url = f.url {
                // The worker's side is another client of the same database, held for this scope.
                try await PostgresServerStore.withStore(url: url) { workerSide in
                    try await Self.wakes(workerSide, creating: f, waitForListener: true)
                }
            } else {
                try await Self.wakes(f.store, creating: f, waitForListener: false)
            }
        }
    }

    /// `workerSide` listens for work (as a child of this scope) while `f`'s store creates a task; it must wake soon.
    static func wakes(_ workerSide: any ServerStore, creating f: QueueTests.Fixture, waitForListener: Bool)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await workerSide.listenForWork() }
            defer { group.cancelAll() }
            // The listener signals once when it starts listening.
            if waitForListener {
                let start = ContinuousClock.now
                while workerSide.workSignal.generation == 0, ContinuousClock.now - start < .seconds(20) {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let seen = workerSide.workSignal.generation
            let started = ContinuousClock.now
            async let woke: Void = workerSide.workSignal.wait(seconds: 60, after: seen)
            try await Task.sleep(for: .milliseconds(200))
            _ = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "a"), tenantID: f.tenant.id, now: Date())
            await woke
            #expect(ContinuousClock.now - started < .seconds(15))
            #expect(workerSide.workSignal.generation > seen)
        }
    }
}
