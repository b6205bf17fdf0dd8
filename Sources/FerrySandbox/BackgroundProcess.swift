import FerryCore
import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A child process that runs while its holder goes on: an MCP server beside a run, or a server or client a test
/// starts. Started with swift-subprocess, which watches it through a pidfd and reaps only its own children; never
/// with Foundation's `Process`, whose `run()` on Linux reads past a buffer while it counts open descriptors and can
/// crash the whole process (swift-corelibs-foundation #5472, still in Swift 6.3.1).
public final class BackgroundProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A file, made if missing, truncated unless `append`.
        case file(String, append: Bool = false)
        /// A descriptor the caller made, such as a pipe's end; closed here once the child has it.
        case descriptor(FileDescriptor)
        /// The same place as standard output (for standard error).
        case output
        /// Where this process's own stream goes.
        case inherit
    }

    /// How the child ended.
    public enum Exit: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// The shell's convention: the exit code, or 128 plus the signal.
        public var code: Int32 {
            switch self {
            case .exited(let code): code
            case .signaled(let signal): 128 + signal
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): "exited with \(code)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    public let pid: pid_t
    private let watcher: Task<Exit, Never>
    private let ended: Ended
    /// Whether the child leads a session (and so a process group) of its own, which `signal` and `stop` reach.
    public let ownsGroup: Bool

    /// How it ended, once the watcher has reaped it.
    private final class Ended: Sendable {
        let exit = Mutex<Exit?>(nil)
    }

    private init(pid: pid_t, watcher: Task<Exit, Never>, ended: Ended, ownsGroup: Bool) {
        self.pid = pid
        self.watcher = watcher
        self.ended = ended
        self.ownsGroup = ownsGroup
    }

    /// Starts `executable` (a path, or a name looked up on `PATH`) and returns once it runs.
    /// - Parameters:
    ///   - environment: the child's whole environment; `nil` passes this process's on.
    ///   - newSession: puts the child in a session and process group of its own, so a signal reaches all it starts.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null,
        newSession: Bool = false
    ) async throws -> BackgroundProcess {
        // Every stream becomes a descriptor, so one call shape serves all.
        var opened: [FileDescriptor] = []
        func descriptor(_ stream: Stream, number: Int32) throws -> FileDescriptor {
            let reading = number == 0
            let fd: FileDescriptor
            switch stream {
            case .null:
                fd = try FileDescriptor.open("/dev/null", reading ? .readOnly : .writeOnly, options: .closeOnExec)
            case .file(let path, let append):
                fd =
                    reading
                    ? try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
                    : try FileDescriptor.open(
                        FilePath(path), .writeOnly, options: [.create, .closeOnExec, append ? .append : .truncate],
                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
            case .descriptor(let given): fd = given
            case .output: throw FerryError(.io, "only standard error can go where standard output goes")
            case .inherit: fd = try FileDescriptor(rawValue: number).duplicate()
            }
            opened.append(fd)
            return fd
        }
        let input: FileDescriptor
        let output: FileDescriptor
        let error: FileDescriptor
        do {
            input = try descriptor(stdin, number: 0)
            output = try descriptor(stdout, number: 1)
            if case .output = stderr {
                error = try output.duplicate()
                opened.append(error)
            } else {
                error = try descriptor(stderr, number: 2)
            }
        } catch {
            for fd in opened { try? fd.close() }
            throw FerryError(.io, "could not start \(executable): \(error)")
        }

        var env: Environment = .inherit
        if let environment {
            var custom: [Environment.Key: String] = [:]
            for (key, value) in environment { custom[Environment.Key(stringLiteral: key)] = value }
            env = .custom(custom)
        }
        var options = PlatformOptions()
        options.createSession = newSession
        let configuration = Configuration(
            executable: executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments), environment: env, workingDirectory: workingDirectory.map { FilePath($0) },
            platformOptions: options)

        let ended = Ended()
        let (started, startedContinuation) = AsyncStream<Result<pid_t, any Error>>.makeStream()
        let watcher = Task<Exit, Never> {
            let exit: Exit
            do {
                let result = try await Subprocess.run(
                    configuration, input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(error, closeAfterSpawningProcess: true)
                ) { execution in
                    startedContinuation.yield(.success(execution.processIdentifier.value))
                }
                switch result.terminationStatus {
                case .exited(let code): exit = .exited(code)
                case .signaled(let signal): exit = .signaled(signal)
                }
            } catch {
                startedContinuation.yield(.failure(error))
                exit = .exited(127)
            }
            ended.exit.withLock { $0 = exit }
            startedContinuation.finish()
            return exit
        }
        var iterator = started.makeAsyncIterator()
        switch await iterator.next() {
        case .success(let pid):
            return BackgroundProcess(pid: pid, watcher: watcher, ended: ended, ownsGroup: newSession)
        case .failure(let error):
            throw FerryError(.io, "could not start \(executable): \(error)")
        case nil:
            throw FerryError(.io, "could not start \(executable)")
        }
    }

    /// A pipe whose ends close on exec, so no child but the one given an end holds it open. (swift-subprocess also
    /// closes every other descriptor in the children it starts.)
    public static func pipe() throws -> (read: FileDescriptor, write: FileDescriptor) {
        let (read, write) = try FileDescriptor.pipe()
        for fd in [read, write] { _ = fcntl(fd.rawValue, F_SETFD, FD_CLOEXEC) }
        return (read, write)
    }

    public var isRunning: Bool { exit == nil }

    /// How it ended, or nil while it runs.
    public var exit: Exit? { ended.exit.withLock { $0 } }

    /// Waits for it to end.
    @discardableResult
    public func wait() async -> Exit { await watcher.value }

    /// Waits up to `limit` for it to end; nil if it still runs.
    public func wait(upTo limit: Duration) async -> Exit? {
        let deadline = ContinuousClock.now + limit
        while isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return exit
    }

    /// Sends `signal` to the child, or to its whole process group when it leads one and `group` is set. Nothing once
    /// it has ended (its pid may be another process's by then).
    public func signal(_ signal: Int32, group: Bool = false) {
        guard isRunning else { return }
        _ = kill(group && ownsGroup ? -pid : pid, signal)
    }

    /// SIGTERM, up to `grace` to end, then SIGKILL; to the process group when it leads one.
    @discardableResult
    public func stop(grace: Duration = .seconds(2)) async -> Exit {
        signal(SIGTERM, group: true)
        if let exit = await wait(upTo: grace) { return exit }
        // A child of Swift's pool may inherit a signal mask that blocks SIGTERM; SIGKILL cannot be blocked.
        signal(SIGKILL, group: true)
        return await wait()
    }
}
