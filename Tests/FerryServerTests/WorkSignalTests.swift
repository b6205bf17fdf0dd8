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
        #expect(ContinuousClock.now - started < .seconds(5))
        let waiting = Task { await signal.wait(seconds: 30, after: signal.generation) }
        waiting.cancel()
        await waiting.value
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// A task created by another process (here another connection to the same database) wakes a worker whose poll
    /// interval is far longer than the test's bound.
    @Test(arguments: QueueTests.Kind.allCases) func aNewTaskWakesAnIdleWorker(kind: QueueTests.Kind) async throws {
        let f = try await QueueTests.fixture(kind)
        let workerSide: any ServerStore
        if let url = f.url {
            workerSide = try await PostgresServerStore(url: url)
        } else {
            workerSide = f.store
        }
        let listener = Task { await workerSide.listenForWork() }
        defer { listener.cancel() }
        // The listener signals once when it starts listening.
        if kind == .postgres {
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
