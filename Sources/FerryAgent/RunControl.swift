import FerryCore
import Synchronization

/// How a host steers a run from outside: cancel it, and decide after every model call whether it may spend more.
///
/// One per run; safe to call from any task. Cancelling stops the model stream and kills the sandbox's process tree;
/// the run still commits its partial change, writes its files and is recorded, with status `interrupted`. A spend
/// check that answers with a reason stops the run before its next model call, with status `limit` and that reason.
public final class RunControl: Sendable {
    /// What the run has spent so far, after a model call.
    public struct Spend: Sendable, Hashable {
        public var runID: String
        public var steps: Int
        public var usage: Usage
        public var costUSD: Double
        /// What the last call used and cost.
        public var lastCallUsage: Usage
        public var lastCallUSD: Double
    }

    /// Returns nil to go on, or why the run must stop spending (e.g. "the team's monthly budget is used up").
    public typealias SpendCheck = @Sendable (Spend) async -> String?

    private struct State {
        var cancelReason: String?
        var handlers: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    let spendCheck: SpendCheck?

    public init(spendCheck: SpendCheck? = nil) {
        self.spendCheck = spendCheck
    }

    /// Cancels the run. `reason` is recorded as the run's reason.
    public func cancel(reason: String = "cancelled by the host") {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            guard state.cancelReason == nil else { return [] }
            state.cancelReason = reason
            defer { state.handlers = [] }
            return state.handlers
        }
        for handler in handlers { handler() }
    }

    public var isCancelled: Bool { state.withLock { $0.cancelReason != nil } }
    public var cancelReason: String? { state.withLock { $0.cancelReason } }

    /// Runs `handler` on cancellation (at once if already cancelled).
    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.cancelReason != nil { return true }
            state.handlers.append(handler)
            return false
        }
        if now { handler() }
    }
}
