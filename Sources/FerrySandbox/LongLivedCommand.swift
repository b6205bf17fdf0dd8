import FerryCore
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A command that keeps running beside the agent — an MCP server the run's config names — under the same sandbox
/// policy as the agent's commands, talking over its stdin and stdout. `stop()` ends it and everything it started.
public final class LongLivedCommand: Sendable {
    let process: BackgroundProcess
    /// Read the command's stdout here; write its stdin there. Closed by `stop()` or when this goes.
    public let output: FileDescriptor
    public let input: FileDescriptor
    let stderrPath: String
    let cleanup: @Sendable () -> Void

    init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        cleanup: @escaping @Sendable () -> Void
    ) async throws {
        let stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-mcp-\(UUID().uuidString.prefix(8)).log"
        ).path
        // Ferry's ends close on exec, so no other child holds them open.
        let (stdinRead, stdinWrite) = try BackgroundProcess.pipe()
        let (stdoutRead, stdoutWrite) = try BackgroundProcess.pipe()
        do {
            process = try await BackgroundProcess.start(
                executable, arguments, environment: environment, workingDirectory: workingDirectory,
                stdin: .descriptor(stdinRead), stdout: .descriptor(stdoutWrite), stderr: .file(stderrPath),
                newSession: true)
        } catch {
            for fd in [stdinWrite, stdoutRead] { try? fd.close() }
            cleanup()
            try? FileManager.default.removeItem(atPath: stderrPath)
            throw FerryError(.sandbox, "could not start \(arguments.last ?? executable): \(error)")
        }
        self.stderrPath = stderrPath
        self.cleanup = cleanup
        output = stdoutRead
        input = stdinWrite
    }

    /// The stderr log only serves while the command is held; a holder that never called `stop()` leaves none behind,
    /// nor a running command.
    deinit {
        if process.isRunning {
            process.signal(SIGKILL, group: true)
            cleanup()
        }
        try? input.close()
        try? output.close()
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    public var isRunning: Bool { process.isRunning }

    /// The tail of what the command wrote to stderr (for an error message).
    public var stderrTail: String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return String(text.suffix(800))
    }

    /// SIGTERM, a second to go, then SIGKILL; the process group and the sandbox's cgroup with it.
    public func stop() async {
        await process.stop(grace: .seconds(1))
        cleanup()
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

extension BubblewrapRunner {
    /// Starts `request.script` in the sandbox and returns at once; bwrap's `--die-with-parent` ends it with Ferry.
    public func launch(_ request: CommandRequest) async throws -> LongLivedCommand {
        var executable = bwrapPath
        var arguments = arguments(for: request, disableUserns: await Self.canDisableUserns(bwrapPath))
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
        return try await LongLivedCommand(
            executable: executable, arguments: arguments, environment: [:], workingDirectory: request.workingDirectory,
            cleanup: cleanup)
    }
}

extension DirectRunner {
    /// Starts `request.script` with the policy's environment and limits, but no isolation (`--sandbox none`).
    public func launch(_ request: CommandRequest) async throws -> LongLivedCommand {
        try await LongLivedCommand(
            executable: "/bin/bash", arguments: ["-c", policy.limitsPrologue + request.script],
            environment: policy.environment(from: hostEnvironment), workingDirectory: request.workingDirectory,
            cleanup: {})
    }
}

/// A runner that can also start long-lived commands.
public protocol LaunchingRunner: CommandRunner {
    func launch(_ request: CommandRequest) async throws -> LongLivedCommand
}

extension BubblewrapRunner: LaunchingRunner {}
extension DirectRunner: LaunchingRunner {}
