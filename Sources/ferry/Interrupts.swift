import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Turns SIGINT and SIGTERM into cancellation of one piece of work, instead of killing the process mid-write.
enum Interrupts {
    enum Next<T: Sendable>: Sendable {
        case value(T)
        case interrupted
    }

    /// `quietly`: no "saving the run" line (a server that only stops).
    static func cancelling<T: Sendable>(quietly: Bool = false, _ body: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        defer {
            for source in sources { source.cancel() }
            continuation.finish()
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        return try await withThrowingTaskGroup(of: Next<T>.self) { group in
            group.addTask { .value(try await body()) }
            group.addTask {
                for await _ in signals { return .interrupted }
                return .interrupted
            }
            while let next = try await group.next() {
                switch next {
                case .value(let value):
                    group.cancelAll()
                    return value
                case .interrupted:
                    if Task.isCancelled { continue }
                    if !quietly { FileHandle.standardError.write(Data("\nferry: interrupted; saving the run…\n".utf8)) }
                    group.cancelAll()
                }
            }
            throw CancellationError()
        }
    }
}
