import FerryCore
import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs commands under bubblewrap: read-only root, read-write workspace with a read-only `.git`, private `/tmp`, the
/// home directory and Ferry's folders hidden, no network unless allowed, its own user (never root, no capabilities)
/// and PID namespaces, a process cap, rlimits, and a timeout that kills the whole tree.
public struct BubblewrapRunner: CommandRunner {
    public let name = "bubblewrap"
    public let policy: SandboxPolicy
    public let bwrapPath: String
    let hostEnvironment: [String: String]
    let processCap: ProcessCap

    /// How the process count is capped.
    enum ProcessCap: Sendable, Hashable {
        case cgroup(PidsCgroup)
        /// `ulimit -u` inside a user namespace of Ferry's own (unprivileged) user, where it counts only the sandbox.
        case rlimit
        case none
    }

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
        self.processCap = try Self.processCap(for: policy, cgroup: PidsCgroup.available, isRoot: geteuid() == 0)
    }

    static func processCap(for policy: SandboxPolicy, cgroup: PidsCgroup?, isRoot: Bool) throws -> ProcessCap {
        guard policy.maxProcesses > 0 else { return .none }
        if let cgroup { return .cgroup(cgroup) }
        guard !isRoot else {
            throw FerryError(
                .sandboxUnavailable,
                "Ferry runs as root and cannot make a pids cgroup, so nothing would cap the processes a command "
                    + "starts (the kernel does not apply RLIMIT_NPROC to root). Fix: run Ferry as a regular user, "
                    + "give it a writable pids cgroup (/sys/fs/cgroup/pids or a delegated cgroup v2), or set "
                    + "[sandbox] max_processes = 0 in your config to run without a process cap.")
        }
        return .rlimit
    }

    static func locate(in environment: [String: String]) -> String? {
        let dirs = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        return dirs.map { $0 + "/bwrap" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether the bwrap at a path can stop the command from making user namespaces of its own (0.8 and later), asked
    /// of its `--help` once per path.
    static func canDisableUserns(_ bwrapPath: String) async -> Bool {
        if let known = disableUsernsProbes.withLock({ $0[bwrapPath] }) { return known }
        let help = try? await Subprocess.run(
            .path(FilePath(bwrapPath)), arguments: ["--help"], input: .none, output: .string(limit: 256 * 1024),
            error: .combinedWithOutput)
        let supported = help?.standardOutput.contains("--disable-userns") ?? false
        disableUsernsProbes.withLock { $0[bwrapPath] = supported }
        return supported
    }

    private static let disableUsernsProbes = Mutex<[String: Bool]>([:])

    /// The bwrap arguments for a script. Order matters: later mounts sit on top of earlier ones.
    public func arguments(for request: CommandRequest, disableUserns: Bool) -> [String] {
        var args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for mount in policy.mounts(host: hostEnvironment) {
            switch mount {
            case .hide(let path): args += ["--tmpfs", path]
            case .readOnly(let path): args += ["--ro-bind", path, path]
            case .writable(let path): args += ["--bind", path, path]
            }
        }
        // Its own user namespace, always: as root without one, the command would keep every capability and could
        // remount the read-only host writable. Inside it is an ordinary user with no capabilities.
        args += ["--unshare-user"]
        if geteuid() == 0 { args += ["--uid", "1000", "--gid", "1000", "--cap-drop", "ALL"] }
        if disableUserns { args.append("--disable-userns") }
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
        var executable = bwrapPath
        var arguments = arguments(for: request, disableUserns: await Self.canDisableUserns(bwrapPath))
        var group: (cgroup: PidsCgroup, folder: String)?
        if case .cgroup(let cgroup) = processCap {
            let folder: String
            do {
                folder = try cgroup.make(limit: policy.maxProcesses)
            } catch {
                throw FerryError(.sandbox, "could not make a pids cgroup under \(cgroup.parent): \(error)")
            }
            group = (cgroup, folder)
            // The shell joins the group, then becomes bwrap: everything the command starts is counted.
            arguments =
                ["-c", "echo $$ > \"$0\" || exit 125; exec \"$@\"", folder + "/cgroup.procs", bwrapPath] + arguments
            executable = "/bin/sh"
        }
        defer { if let group { group.cgroup.remove(group.folder) } }
        do {
            return try await ProcessExecution.run(
                executable: executable, arguments: arguments, environment: [:],
                workingDirectory: request.workingDirectory, timeoutSeconds: request.timeoutSeconds,
                outputLimit: request.outputLimit,
                // Everything the command started is in its cgroup, whatever session or namespace it is in.
                killTree: { [group] in if let group { group.cgroup.killAll(group.folder) } })
        } catch let error as FerryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
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
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw FerryError(.sandbox, "could not run bash: \(error)")
        }
    }
}
