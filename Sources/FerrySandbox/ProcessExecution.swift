import FerryCore
import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a process in its own session, streams its combined output into a head/tail buffer, and on timeout or
/// cancellation kills its whole process group (and, through `killTree`, whatever escaped it). Shared by both runners.
enum ProcessExecution {
    /// How long output may keep flowing after a timeout kill before Ferry stops waiting for it: a process that
    /// escaped the kill (one that changed its credentials and so lost its parent-death signal) must not hang the run.
    static let drainSeconds = 2.0

    static func run(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        timeoutSeconds: Double, outputLimit: Int, killTree: @escaping @Sendable () -> Void = {}
    ) async throws -> CommandResult {
        try await withTaskCancellationHandler {
            try await execute(
                executable: executable, arguments: arguments, environment: environment,
                workingDirectory: workingDirectory, timeoutSeconds: timeoutSeconds, outputLimit: outputLimit,
                killTree: killTree)
        } onCancel: {
            // Subprocess kills the process group when its task is cancelled; the tree's escapees go here.
            killTree()
        }
    }

    private static func execute(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        timeoutSeconds: Double, outputLimit: Int, killTree: @escaping @Sendable () -> Void
    ) async throws -> CommandResult {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
        let started = ContinuousClock.now
        var env: [Environment.Key: String] = [:]
        for (key, value) in environment { env[Environment.Key(stringLiteral: key)] = value }

        enum Finished: Sendable {
            case output
            case timeout
            case gaveUp
        }
        let buffer = SharedBuffer(limit: outputLimit)

        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(env),
            workingDirectory: FilePath(workingDirectory), platformOptions: options, input: .none,
            output: .sequence, error: .combinedWithOutput
        ) { execution -> Bool in
            try await withThrowingTaskGroup(of: Finished.self) { group in
                group.addTask {
                    for try await chunk in execution.standardOutput {
                        chunk.withUnsafeBytes { bytes in buffer.append(bytes) }
                    }
                    return .output
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(timeoutSeconds * 1000)))
                    return .timeout
                }
                var timedOut = false
                while let next = try await group.next() {
                    switch next {
                    case .timeout:
                        timedOut = true
                        try? execution.send(signal: .kill, toProcessGroup: true)
                        killTree()
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(Int(drainSeconds * 1000)))
                            return .gaveUp
                        }
                    case .output, .gaveUp:
                        group.cancelAll()
                        return timedOut
                    }
                }
                return timedOut
            }
        }
        let timedOut = result.closureResult
        var exitCode: Int32?
        var signal: Int32?
        switch result.terminationStatus {
        case .exited(let code): exitCode = Int32(code)
        case .signaled(let sig): signal = Int32(sig)
        }
        let (text, total) = buffer.snapshot()
        var output = text
        if timedOut {
            output += "\n[ferry: command timed out after \(Int(timeoutSeconds))s; its process tree was killed]"
        }
        let elapsed = ContinuousClock.now - started
        return CommandResult(
            exitCode: timedOut ? nil : exitCode, signal: signal, output: output, timedOut: timedOut,
            durationSeconds: elapsed.inSeconds, totalBytes: total)
    }
}

/// The head/tail buffer shared by the reading task and the caller, so output read before a give-up is kept.
final class SharedBuffer: Sendable {
    private let state: Mutex<HeadTailBuffer>
    init(limit: Int) { state = Mutex(HeadTailBuffer(limit: limit)) }
    func append(_ bytes: UnsafeRawBufferPointer) { state.withLock { $0.append(contentsOf: bytes) } }
    func snapshot() -> (String, Int) { state.withLock { ($0.text, $0.total) } }
}

/// Keeps the first and last bytes of a stream within a budget, counting everything.
struct HeadTailBuffer: Sendable {
    let limit: Int
    private(set) var head: [UInt8] = []
    private var tail: [UInt8] = []
    private(set) var total = 0

    init(limit: Int) { self.limit = max(limit, 64) }

    var headLimit: Int { limit * 2 / 5 }
    var tailLimit: Int { limit - headLimit }

    mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        total += bytes.count
        var slice = bytes[...]
        if head.count < headLimit {
            let take = min(headLimit - head.count, slice.count)
            head.append(contentsOf: slice.prefix(take))
            slice = slice.dropFirst(take)
        }
        guard !slice.isEmpty else { return }
        tail.append(contentsOf: slice)
        if tail.count > tailLimit * 2 { tail.removeFirst(tail.count - tailLimit) }
    }

    var text: String {
        let kept = tail.suffix(tailLimit)
        let cut = total - head.count - kept.count
        if cut <= 0 { return String(decoding: head + kept, as: UTF8.self) }
        return String(decoding: head, as: UTF8.self) + "\n[… \(cut) bytes cut …]\n"
            + String(decoding: kept, as: UTF8.self)
    }
}
