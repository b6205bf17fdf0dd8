import FerryCore
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A command that keeps running beside the agent — an MCP server the run's config names — under the same sandbox
/// policy as the agent's commands, talking over its stdin and stdout. `stop()` ends it and everything it started.
public final class LongLivedCommand: @unchecked Sendable {
    let process: Process
    /// Read the command's stdout here; write its stdin there.
    public let output: FileDescriptor
    public let input: FileDescriptor
    let stderrPath: String
    let cleanup: @Sendable () -> Void

    init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        cleanup: @escaping @Sendable () -> Void
    ) throws {
        let stdin = Pipe()
        let stdout = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        process.standardInput = stdin
        process.standardOutput = stdout
        let stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-mcp-\(UUID().uuidString.prefix(8)).log"
        ).path
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        do {
            try process.run()
        } catch {
            cleanup()
            throw FerryError(.sandbox, "could not start \(arguments.last ?? executable): \(error)")
        }
        self.process = process
        self.stderrPath = stderrPath
        self.cleanup = cleanup
        output = FileDescriptor(rawValue: stdout.fileHandleForReading.fileDescriptor)
        input = FileDescriptor(rawValue: stdin.fileHandleForWriting.fileDescriptor)
        // The pipes' handles own the descriptors; they live as long as this.
        pipes = (stdin, stdout)
    }

    private let pipes: (Pipe, Pipe)

    /// The stderr log only serves while the command is held; a holder that never called `stop()` leaves none behind.
    deinit { try? FileManager.default.removeItem(atPath: stderrPath) }

    public var isRunning: Bool { process.isRunning }

    /// The tail of what the command wrote to stderr (for an error message).
    public var stderrTail: String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return String(text.suffix(800))
    }

    /// SIGTERM, a second to go, then SIGKILL; the process group and the sandbox's cgroup with it.
    public func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            }
        }
        cleanup()
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

extension BubblewrapRunner {
    /// Starts `request.script` in the sandbox and returns at once; bwrap's `--die-with-parent` ends it with Ferry.
    public func launch(_ request: CommandRequest) throws -> LongLivedCommand {
        var executable = bwrapPath
        var arguments = arguments(for: request)
        var cleanup: @Sendable () -> Void = {}
        if case .cgroup(let cgroup) = processCap {
            let folder = try cgroup.make(limit: policy.maxProcesses)
            arguments =
                ["-c", "echo $$ > \"$0\" || exit 125; exec \"$@\"", folder + "/cgroup.procs", bwrapPath] + arguments
            executable = "/bin/sh"
            cleanup = {
                cgroup.killAll(folder)
                cgroup.remove(folder)
            }
        }
        return try LongLivedCommand(
            executable: executable, arguments: arguments, environment: [:], workingDirectory: request.workingDirectory,
            cleanup: cleanup)
    }
}

extension DirectRunner {
    /// Starts `request.script` with the policy's environment and limits, but no isolation (`--sandbox none`).
    public func launch(_ request: CommandRequest) throws -> LongLivedCommand {
        try LongLivedCommand(
            executable: "/bin/bash", arguments: ["-c", policy.limitsPrologue + request.script],
            environment: policy.environment(from: hostEnvironment), workingDirectory: request.workingDirectory,
            cleanup: {})
    }
}

/// A runner that can also start long-lived commands.
public protocol LaunchingRunner: CommandRunner {
    func launch(_ request: CommandRequest) throws -> LongLivedCommand
}

extension BubblewrapRunner: LaunchingRunner {}
extension DirectRunner: LaunchingRunner {}
