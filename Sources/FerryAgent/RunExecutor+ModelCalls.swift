import FerryCore
import FerryModels
import Foundation
import Synchronization

extension RunExecutor {
    /// One model call whose retries are shown live as they happen and recorded in the trace, in order, when it ends.
    func complete(_ request: ChatRequest, step: Int, phase: String?) async throws -> ModelReply {
        let retries = RetryLog()
        let recorder = self.recorder
        let reply: Result<ModelReply, any Error>
        do {
            reply = .success(
                try await model.complete(request) { delta in
                    guard case .retrying(let attempt, let wait, let reason) = delta else { return }
                    let retry = TraceEvent.modelRetry(
                        .init(
                            step: step, phase: phase, attempt: attempt, waitSeconds: wait, reason: reason,
                            at: Date().timeIntervalSince1970))
                    retries.append(retry)
                    recorder.showNow(retry)
                })
        } catch {
            reply = .failure(error)
        }
        for retry in retries.drain() { await recorder.record(retry, live: false) }
        return try reply.get()
    }

    enum Timed<T: Sendable>: Sendable {
        case value(Result<T, any Error>)
        case timeUp
    }

    /// Runs `body`, giving up when `seconds` pass (`TimeLimit.run`). A nil limit waits forever. Cancellation is
    /// thrown, never reported as the body's failure.
    func withTimeLimit<T: Sendable>(_ seconds: Double?, _ body: @escaping @Sendable () async throws -> T)
        async throws -> Timed<T>
    {
        let result: Timed<T>
        do {
            result = .value(.success(try await TimeLimit.run(seconds, body)))
        } catch is TimeLimit.Exceeded {
            result = .timeUp
        } catch {
            result = .value(.failure(error))
        }
        try Task.checkCancellation()
        if case .value(.failure(let error)) = result, error is CancellationError { throw error }
        return result
    }
}

/// Retries reported while a model call is in flight, kept for the trace until the call ends.
final class RetryLog: Sendable {
    private let items = Mutex<[TraceEvent]>([])
    func append(_ item: TraceEvent) { items.withLock { $0.append(item) } }
    func drain() -> [TraceEvent] {
        items.withLock { items in
            defer { items = [] }
            return items
        }
    }
}
