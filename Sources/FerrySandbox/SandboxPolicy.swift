import FerryCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a sandboxed command may touch. Everything has a default, and the defaults are the strict choice: the host
/// read-only, the home directory and Ferry's own folders hidden, no network, a process cap.
public struct SandboxPolicy: Sendable, Hashable {
    /// The only tree the command may write to (apart from a private /tmp).
    public var workspace: String
    /// Paths bound read-only even inside the workspace (its `.git`, the repository's git dir).
    public var readOnlyPaths: [String]
    public var allowNetwork: Bool
    /// Names of host environment variables passed through. Nothing else enters, so API keys never do.
    public var environmentAllowList: [String]
    /// Variables set inside the sandbox.
    public var environment: [String: String]
    /// Directories replaced by an empty tmpfs, on top of `defaultHiddenPaths` (the home directory, `/root`, `/home`,
    /// Ferry's data, config and cache folders): the user's keys, Ferry's store and other runs' worktrees.
    public var hiddenPaths: [String]
    /// Host paths shown read-only again inside hidden ones: tool caches the user's config names. Toolchains on
    /// `PATH` (pyenv, cargo, …) are added by `mounts(host:)`.
    public var readOnlyBinds: [String]
    /// Resource limits, applied with `ulimit` before the command.
    public var maxFileSizeMB: Int
    public var maxOpenFiles: Int
    public var maxMemoryMB: Int?
    /// Processes and threads the command may have at once (a pids cgroup when Ferry can make one, else
    /// `RLIMIT_NPROC` in a user namespace). 0 turns the cap off.
    public var maxProcesses: Int

    public init(
        workspace: String, readOnlyPaths: [String]? = nil, allowNetwork: Bool = false,
        environmentAllowList: [String] = SandboxPolicy.defaultAllowList, environment: [String: String] = [:],
        hiddenPaths: [String] = [], readOnlyBinds: [String] = [], maxFileSizeMB: Int = 2048, maxOpenFiles: Int = 4096,
        maxMemoryMB: Int? = 16_384, maxProcesses: Int = SandboxPolicy.defaultMaxProcesses
    ) {
        self.workspace = workspace
        self.readOnlyPaths = readOnlyPaths ?? [workspace + "/.git"]
        self.allowNetwork = allowNetwork
        self.environmentAllowList = environmentAllowList
        self.environment = environment
        self.hiddenPaths = hiddenPaths
        self.readOnlyBinds = readOnlyBinds
        self.maxFileSizeMB = maxFileSizeMB
        self.maxOpenFiles = maxOpenFiles
        self.maxMemoryMB = maxMemoryMB
        self.maxProcesses = maxProcesses
    }

    public static let defaultMaxProcesses = 2048

    public static let defaultAllowList = [
        "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYENV_ROOT", "PYENV_VERSION", "JAVA_HOME", "GOPATH",
        "GOROOT", "CARGO_HOME", "RUSTUP_HOME", "VIRTUAL_ENV",
    ]

    /// The environment a command sees: allow-listed host variables plus fixed, harmless ones.
    public func environment(from host: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for name in environmentAllowList {
            if let value = host[name] { result[name] = value }
        }
        if result["PATH"] == nil { result["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        if let home = host["HOME"], result["PYENV_ROOT"] == nil,
            FileManager.default.fileExists(atPath: home + "/.pyenv")
        {
            result["PYENV_ROOT"] = home + "/.pyenv"
        }
        result["HOME"] = "/tmp"
        result["TMPDIR"] = "/tmp"
        result["PAGER"] = "cat"
        result["GIT_PAGER"] = "cat"
        result["PYTHONDONTWRITEBYTECODE"] = "1"
        result["PYTHONUNBUFFERED"] = "1"
        result["NO_COLOR"] = "1"
        for (key, value) in environment { result[key] = value }
        return result
    }

    /// The `ulimit` lines run before the command.
    var limitsPrologue: String {
        var lines = ["ulimit -c 0", "ulimit -f \(maxFileSizeMB * 1024)", "ulimit -n \(maxOpenFiles)"]
        if let maxMemoryMB { lines.append("ulimit -v \(maxMemoryMB * 1024)") }
        if maxProcesses > 0 { lines.append("ulimit -u \(maxProcesses)") }
        return lines.map { "\($0) 2>/dev/null" }.joined(separator: "; ") + "\n"
    }
}

// MARK: - Mounts

extension SandboxPolicy {
    /// One filesystem step of the sandbox, in order: later steps sit on top of earlier ones.
    public enum Mount: Sendable, Hashable {
        /// An empty, writable tmpfs (its contents die with the sandbox).
        case hide(String)
        case readOnly(String)
        case writable(String)
    }

    /// Folders under a hidden directory that hold credentials: never shown again whole, even when a toolchain on
    /// `PATH` lives below them (then only that `PATH` entry is shown).
    static let credentialFolders: Set<String> = [
        ".ssh", ".gnupg", ".aws", ".azure", ".config", ".docker", ".kube", ".local", ".cache", ".password-store",
        ".netrc", ".git-credentials", ".npmrc", ".pypirc", ".gcloud",
    ]

    /// Where toolchains keep themselves; shown read-only when the environment names them.
    static let toolchainVariables = [
        "PYENV_ROOT", "CARGO_HOME", "RUSTUP_HOME", "GOROOT", "GOPATH", "JAVA_HOME", "VIRTUAL_ENV", "NVM_DIR",
    ]

    /// Directories hidden by default: the home directory (keys, shell history, Ferry's own config and store), every
    /// other home, and Ferry's folders wherever XDG puts them.
    public static func defaultHiddenPaths(host: [String: String]) -> [String] {
        var paths = ["/root", "/home"]
        if let home = host["HOME"], !home.isEmpty { paths.append(home) }
        return paths + [
            FerryPaths.data(environment: host), FerryPaths.config(environment: host),
            FerryPaths.cache(environment: host),
        ]
    }

    /// The filesystem the command sees, after `--ro-bind / /`: hidden folders, then the toolchains and binds shown
    /// again inside them, then the workspace, then the read-only paths inside the workspace.
    public func mounts(
        host: [String: String], fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
        resolve: (String) -> String = SandboxPolicy.realPath
    ) -> [Mount] {
        let workspace = resolve(Self.clean(self.workspace))
        let readOnlyPaths = self.readOnlyPaths.map { resolve(Self.clean($0)) }
        // A hidden path that is a symbolic link (/home -> /usr/home) is hidden where it leads: bubblewrap mounts
        // onto the target.
        let hidden = Self.unique(
            (Self.defaultHiddenPaths(host: host) + hiddenPaths).map(Self.clean).filter(fileExists).map(resolve)
        )
        .filter { $0 != "/" }
        func isUnder(_ path: String, _ folder: String) -> Bool { path == folder || path.hasPrefix(folder + "/") }

        var shown: [String] = readOnlyBinds.map { Self.clean(Self.expandTilde($0, host: host)) }
        let pathEntries = (host["PATH"] ?? "").split(separator: ":").map { Self.clean(String($0)) }
        let toolchainDirs = Self.toolchainVariables.compactMap { host[$0] }.filter { !$0.isEmpty }.map(Self.clean)
        for entry in pathEntries + toolchainDirs where entry.hasPrefix("/") {
            guard let folder = hidden.filter({ isUnder(entry, $0) && entry != $0 }).max(by: { $0.count < $1.count })
            else { continue }
            let first = entry.dropFirst(folder.count + 1).split(separator: "/").first.map(String.init) ?? ""
            let candidate = Self.credentialFolders.contains(first) ? entry : folder + "/" + first
            // Ferry's own folders stay hidden whatever PATH says.
            if hidden.contains(where: { isUnder($0, candidate) && $0 != folder && !isUnder(folder, $0) }) { continue }
            shown.append(candidate)
            // cargo's shims run the toolchains rustup keeps beside it.
            if first == ".cargo", host["RUSTUP_HOME"] == nil { shown.append(folder + "/.rustup") }
        }
        var mounts: [Mount] = hidden.map { .hide($0) }
        for path in Self.unique(shown) where fileExists(path) && !isUnder(workspace, path) {
            mounts.append(.readOnly(path))
        }
        mounts.append(.writable(workspace))
        for path in readOnlyPaths.map(Self.clean) where fileExists(path) {
            mounts.append(.readOnly(path))
        }
        // A hidden folder inside the workspace or a shown path (a data directory inside the repository) is hidden
        // again on top.
        for folder in hidden where !isUnder(workspace, folder) {
            let coveredAgain =
                isUnder(folder, workspace) || readOnlyPaths.map(Self.clean).contains { isUnder(folder, $0) }
            if coveredAgain { mounts.append(.hide(folder)) }
        }
        return mounts
    }

    /// The path with symbolic links resolved, or the path itself when that fails.
    public static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." && !part.isEmpty {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func expandTilde(_ path: String, host: [String: String]) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = host["HOME"] else { return path }
        return home + path.dropFirst()
    }

    static func unique(_ paths: [String]) -> [String] {
        var seen: Set<String> = []
        return paths.filter { seen.insert($0).inserted }
    }
}
