import Foundation

/// What a sandboxed command may touch. Everything has a default.
public struct SandboxPolicy: Sendable, Hashable {
    /// The only tree the command may write to (apart from a private /tmp).
    public var workspace: String
    /// Paths bound read-only even inside the workspace (its `.git`).
    public var readOnlyPaths: [String]
    public var allowNetwork: Bool
    /// Names of host environment variables passed through. Nothing else enters, so API keys never do.
    public var environmentAllowList: [String]
    /// Variables set inside the sandbox.
    public var environment: [String: String]
    /// Resource limits, applied with `ulimit` before the command.
    public var maxFileSizeMB: Int
    public var maxOpenFiles: Int
    public var maxMemoryMB: Int?

    public init(
        workspace: String, readOnlyPaths: [String]? = nil, allowNetwork: Bool = false,
        environmentAllowList: [String] = SandboxPolicy.defaultAllowList, environment: [String: String] = [:],
        maxFileSizeMB: Int = 2048, maxOpenFiles: Int = 4096, maxMemoryMB: Int? = 16_384
    ) {
        self.workspace = workspace
        self.readOnlyPaths = readOnlyPaths ?? [workspace + "/.git"]
        self.allowNetwork = allowNetwork
        self.environmentAllowList = environmentAllowList
        self.environment = environment
        self.maxFileSizeMB = maxFileSizeMB
        self.maxOpenFiles = maxOpenFiles
        self.maxMemoryMB = maxMemoryMB
    }

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
        if let home = host["HOME"], result["PYENV_ROOT"] == nil, FileManager.default.fileExists(atPath: home + "/.pyenv") {
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
        return lines.map { "\($0) 2>/dev/null" }.joined(separator: "; ") + "\n"
    }
}
