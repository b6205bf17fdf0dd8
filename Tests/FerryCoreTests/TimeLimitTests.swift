import Dispatch
import FerryCore
import Foundation
import Synchronization
import Testing

/// `TimeLimit`, the one way Ferry gives up on slow work.
@Suite struct TimeLimitTests {
    struct Broke: Error {}

    @Test func workThatEndsInTimeGivesItsValueOrItsError() async throws {
        #expect(try await TimeLimit.run(5) { 42 } == 42)
        #expect(try await TimeLimit.run(nil) { "no limit" } == "no limit")
        await #expect(throws: Broke.self) { try await TimeLimit.run(5) { throw Broke() } }
        #expect(try await TimeLimit.abandoning(5) { 7 } == 7)
    }

    @Test func slowWorkIsCancelledAndAwaitedAtTheLimit() async throws {
        let cancelled = Mutex(false)
        await #expect {
            try await TimeLimit.run(0.2) {
                do { try await Task.sleep(for: .seconds(30)) } catch {
                    cancelled.withLock { $0 = true }
                    throw error
                }
            }
        } throws: { error in
            (error as? TimeLimit.Exceeded)?.description == "no answer within 0.2 s"
        }
        // Structured: the body had ended (and seen its cancellation) before the call returned.
        #expect(cancelled.withLock { $0 })
    }

    @Test func workThatIgnoresCancellationIsLeftBehindNotWaitedFor() async throws {
        let started = ContinuousClock.now
        await #expect(throws: TimeLimit.Exceeded.self) {
            try await TimeLimit.abandoning(0.3) {
                // Ignores cancellation, like a client waiting on a peer that never answers: a wait nothing cancels,
                // which holds no thread (a loop of cancelled sleeps would spin one of the pool's for its length).
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().asyncAfter(deadline: .now() + 20) { done.resume() }
                }
                return 1
            }
        }
        // Far less than the body's 20 s, with room for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test func aPeerThatGoesAwayEndsTheWaitAtOnce() async throws {
        let alive = Mutex(true)
        let started = ContinuousClock.now
        await #expect(throws: Broke.self) {
            try await TimeLimit.abandoning(120, while: { alive.withLock { $0 } }, gone: Broke()) {
                alive.withLock { $0 = false }
                try await Task.sleep(for: .seconds(120))
                return 1
            }
        }
        #expect(ContinuousClock.now - started < .seconds(60), "the limit was two minutes away")
    }

    @Test func theCallersCancellationIsNotReportedAsTimeRunningOut() async throws {
        let work = Task { try await TimeLimit.run(30) { try await Task.sleep(for: .seconds(30)) } }
        try await Task.sleep(for: .milliseconds(100))
        work.cancel()
        await #expect(throws: CancellationError.self) { try await work.value }
    }
}
