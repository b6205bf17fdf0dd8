import Synchronization

/// Wakes idle workers when there may be work: a task created, handed back or finished (a tenant's slot freed).
/// Waiting is bounded, so a lost signal costs at most one poll interval; the queue itself stays the truth. A worker
/// reads `generation` before it looks for work and waits `after` it, so a signal between the two is not missed.
public final class WorkSignal: Sendable {
    private struct State {
        var generation = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many signals so far.
    public var generation: Int { state.withLock { $0.generation } }

    /// Wakes everyone waiting now.
    public func notify() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns at the first `notify` after `generation` (at once if there was one), after `seconds`, or when the task
    /// is cancelled, whichever is first.
    public func wait(seconds: Double, after generation: Int) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.next(after: generation) }
            group.addTask { try? await Task.sleep(for: .milliseconds(Int(max(0, seconds) * 1000))) }
            await group.next()
            group.cancelAll()
        }
    }

    private func next(after generation: Int) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled || state.generation != generation { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
