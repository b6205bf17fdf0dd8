import FerryCore
import Foundation

/// Runs commands under bubblewrap: read-only root, read-write workspace with a read-only `.git`, private `/tmp`,
/// no network unless allowed, its own PID namespace, rlimits, and a timeout that kills the whole tree.
public struct BubblewrapRunner: CommandRunner {
    public let name = "bubblewrap"
    public let policy: SandboxPolicy
    public let bwrapPath: String
    let hostEnvironment: [String: String]

    public init(policy: SandboxPolicy, hostEnvironment: [String: String] = ProcessInfo.processInfo.environment)
        throws
    {
        guard let path = Self.locate(in: hostEnvironment) else {
            throw FerryError(
                .sandboxUnavailable,
                "bubblewrap (bwrap) is not installed, and Ferry runs every command in it. Install it with "
                    + "`sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap`, or pass "
                    + "`--sandbox none` to run commands without a sandbox.")
        }
        self.policy = policy
        self.bwrapPath = path
        self.hostEnvironment = hostEnvironment
    }

    static func locate(in environment: [String: String]) -> String? {
        let dirs = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        return dirs.map { $0 + "/bwrap" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The bwrap arguments for a script. Order matters: later mounts sit on top of earlier ones.
    public func arguments(for request: CommandRequest) -> [String] {
        var args = [
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--bind", policy.workspace, policy.workspace,
        ]
        for path in policy.readOnlyPaths where FileManager.default.fileExists(atPath: path) {
            args += ["--ro-bind", path, path]
        }
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
        if !policy.allowNetwork { args.append("--unshare-net") }
        args += ["--chdir", request.workingDirectory, "--clearenv"]
        for (key, value) in policy.environment(from: hostEnvironment).sorted(by: { $0.key < $1.key }) {
            args += ["--setenv", key, value]
        }
        args += ["--", "/bin/bash", "-c", policy.limitsPrologue + request.script]
        return args
    }

    public func run(_ request: CommandRequest) async throws -> CommandResult {
        do {
            return try await ProcessExecution.run(
                executable: bwrapPath, arguments: arguments(for: request), environment: [:],
                workingDirectory: request.workingDirectory, timeoutSeconds: request.timeoutSeconds,
                outputLimit: request.outputLimit)
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.sandbox, "could not start bubblewrap: \(error)", underlying: nil)
        }
    }
}

/// Runs commands directly on the host, with the same environment allow-list, rlimits and timeout, but no
/// isolation. Only used when the user passes `--sandbox none`; reports say so.
public struct DirectRunner: CommandRunner {
    public let name = "none"
    public let policy: SandboxPolicy
    let hostEnvironment: [String: String]

    public init(policy: SandboxPolicy, hostEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.policy = policy
        self.hostEnvironment = hostEnvironment
    }

    public func run(_ request: CommandRequest) async throws -> CommandResult {
        do {
            return try await ProcessExecution.run(
                executable: "/bin/bash", arguments: ["-c", policy.limitsPrologue + request.script],
                environment: policy.environment(from: hostEnvironment), workingDirectory: request.workingDirectory,
                timeoutSeconds: request.timeoutSeconds, outputLimit: request.outputLimit)
        } catch {
            throw FerryError(.sandbox, "could not run bash: \(error)")
        }
    }
}
