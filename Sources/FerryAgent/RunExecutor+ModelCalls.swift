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

    /// Runs `body`, giving up when `seconds` pass. A nil limit waits forever. Cancellation is thrown, never reported
    /// as the body's failure.
    func withTimeLimit<T: Sendable>(_ seconds: Double?, _ body: @escaping @Sendable () async throws -> T)
        async throws -> Timed<T>
    {
        let result: Timed<T>
        if let seconds {
            result = try await withThrowingTaskGroup(of: Timed<T>.self) { group in
                group.addTask {
                    do { return .value(.success(try await body())) } catch { return .value(.failure(error)) }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    return .timeUp
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } else {
            do { result = .value(.success(try await body())) } catch { result = .value(.failure(error)) }
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
