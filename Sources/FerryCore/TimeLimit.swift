import Foundation
import Synchronization

/// The one way Ferry gives up on slow work: a model call past the run's time, a tool server that never answers, a
/// database that is not there.
public enum TimeLimit {
    /// The time ran out before the work ended.
    public struct Exceeded: Error, Sendable, CustomStringConvertible {
        public var seconds: Double
        public var description: String { "no answer within \(Self.format(seconds)) s" }
        static func format(_ seconds: Double) -> String {
            seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
        }
    }

    /// `body`'s value, or `Exceeded` once `seconds` pass (nil: no limit). The body is then cancelled and awaited, so
    /// nothing it started outlives the call. The caller's cancellation is thrown as it is.
    public static func run<T: Sendable>(_ seconds: Double?, _ body: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        guard let seconds else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next()! else {
                try Task.checkCancellation()
                throw Exceeded(seconds: seconds)
            }
            return value
        }
    }

    /// The same for a body that may ignore cancellation (a client waiting on a peer that never answers): at the
    /// limit, or as soon as `alive` turns false (then `gone` is thrown), the body is cancelled and left to end on its
    /// own, so the caller is never held by it.
    public static func abandoning<T: Sendable>(
        _ seconds: Double, while alive: @escaping @Sendable () -> Bool = { true },
        gone: any Error = CancellationError(),
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let once = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let resume = { @Sendable (result: Result<T, any Error>) in
            once.withLock { continuation in
                continuation?.resume(with: result)
                continuation = nil
            }
        }
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
        defer {
            work?.cancel()
            timer?.cancel()
        }
        return try await withCheckedThrowingContinuation { continuation in
            once.withLock { $0 = continuation }
            // Unstructured on purpose: a body that ignores cancellation must not hold the caller.
            work = Task {
                do { resume(.success(try await body())) } catch { resume(.failure(error)) }
            }
            timer = Task {
                let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
                while ContinuousClock.now < deadline, !Task.isCancelled {
                    guard alive() else { return resume(.failure(gone)) }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                resume(.failure(Exceeded(seconds: seconds)))
            }
        }
    }
}
