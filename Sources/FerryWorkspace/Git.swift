import FerryCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The git operations a run needs, on a repository or worktree path.
public struct Git: Sendable {
    public let directory: String

    public init(_ directory: String) { self.directory = directory }

    static let identity = [
        "GIT_AUTHOR_NAME": "Ferry", "GIT_AUTHOR_EMAIL": "ferry@localhost",
        "GIT_COMMITTER_NAME": "Ferry", "GIT_COMMITTER_EMAIL": "ferry@localhost",
        "GIT_TERMINAL_PROMPT": "0",
    ]

    @discardableResult
    public func run(_ arguments: String..., allowFailure: Bool = false) async throws -> String {
        try await run(arguments, allowFailure: allowFailure)
    }

    /// `environment` joins the process's for this command only (a forge's push credential, as
    /// `GIT_CONFIG_COUNT`/`KEY`/`VALUE`, never on the command line where `ps` shows it, never in a config file).
    @discardableResult
    public func run(_ arguments: [String], environment: [String: String] = [:], allowFailure: Bool = false)
        async throws -> String
    {
        let output = try await HostCommand.run(
            "git", ["-c", "core.quotepath=off", "-c", "commit.gpgsign=false"] + arguments, in: directory,
            environment: Self.identity.merging(environment) { $1 })
        if output.status != 0 && !allowFailure {
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw FerryError(.git, "git \(arguments.first ?? "") failed in \(directory): \(message)")
        }
        return output.stdout
    }

    /// The top of the repository that contains `path`, or an error saying it is not one.
    public static func root(of path: String) async throws -> String {
        let output = try await HostCommand.run("git", ["rev-parse", "--show-toplevel"], in: path)
        guard output.status == 0 else {
            throw FerryError(.usage, "\(path) is not inside a git repository (Ferry works on a git repository)")
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func resolve(_ ref: String) async throws -> String {
        let output = try await HostCommand.run(
            "git", ["rev-parse", "--verify", "--end-of-options", "\(ref)^{commit}"], in: directory)
        guard output.status == 0 else {
            throw FerryError(.usage, "'\(ref)' is not a commit in \(directory)")
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Adds a worktree at `path` on a new branch from `base`.
    public func addWorktree(path: String, branch: String, base: String) async throws {
        try await run("worktree", "add", "-q", "-b", branch, "--end-of-options", path, base)
    }

    public func removeWorktree(path: String) async throws {
        // Twice forced: a worktree left locked by an interrupted `worktree add` (missing but locked) goes too.
        try await run("worktree", "remove", "--force", "--force", path, allowFailure: true)
        try await run("worktree", "prune", allowFailure: true)
    }

    /// Stages everything (respecting .gitignore) and returns the diff against `base`, binary-safe.
    public func stagedDiff(against base: String) async throws -> String {
        try await stageAll()
        return try await run("diff", "--cached", "--binary", base)
    }

    /// Files changed against `base`, after staging.
    public func changedFiles(against base: String) async throws -> [String] {
        try await stageAll()
        return try await run("diff", "--cached", "--name-only", base).split(separator: "\n").map(String.init)
    }

    /// `git add -A`, after removing new FIFOs, sockets and device files: git cannot store them, and one of them
    /// would make the whole add fail (and with it the run's commit).
    public func stageAll() async throws {
        let untracked = try await run("ls-files", "-z", "--others", "--exclude-standard").split(separator: "\0")
        for path in untracked {
            let full = directory + "/" + path
            var info = stat()
            guard lstat(full, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            if kind != S_IFREG && kind != S_IFLNK && kind != S_IFDIR {
                try? FileManager.default.removeItem(atPath: full)
            }
        }
        try await run("add", "-A")
    }

    /// Commits what is staged; returns the new commit's id.
    public func commit(message: String) async throws -> String {
        try await run("commit", "-q", "--no-verify", "-m", message)
        return try await run("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Puts `paths` in the work tree back as they are at `commit`: checked out if they exist there, removed if not.
    public func reset(_ paths: [String], to commit: String) async throws {
        for path in paths {
            let listed = try await run(["ls-tree", "--name-only", commit, "--", path])
            if listed.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                try? FileManager.default.removeItem(atPath: directory + "/" + path)
            } else {
                try await run("checkout", commit, "--", path)
            }
        }
    }

    /// Turns a directory into a repository on `main` with one commit of everything in it.
    public static func initialize(_ directory: String, message: String = "initial") async throws {
        let git = Git(directory)
        try await git.run("init", "-q", "-b", "main")
        try await git.run("add", "-A")
        try await git.run("commit", "-q", "-m", message)
    }

    /// Tracked and untracked files, minus what .gitignore excludes.
    public func listFiles() async throws -> [String] {
        let output = try await run("ls-files", "-z", "--cached", "--others", "--exclude-standard")
        return Array(Set(output.split(separator: "\0").map(String.init))).sorted()
    }
}
