import FerryCore
import FerryWorkspace
import Foundation

/// Turns an instance's `repo` into a local git repository and a base commit.
actor RepoResolver {
    let suiteDirectory: String
    let reposDirectory: String?
    let workDirectory: String
    private var cache: [String: String] = [:]

    init(suiteDirectory: String, reposDirectory: String?, workDirectory: String) {
        self.suiteDirectory = suiteDirectory
        self.reposDirectory = reposDirectory
        self.workDirectory = workDirectory
    }

    /// The repository to branch from, and the base commit.
    func resolve(_ instance: EvalInstance) async throws -> (repo: String, base: String) {
        let repo = try await repository(for: instance.repo)
        if let base = instance.baseCommit, !base.isEmpty {
            let resolved = try? await Git(repo).resolve(base)
            guard let resolved else {
                throw FerryError(.git, "base_commit \(base) is not in \(repo) (is the clone complete?)")
            }
            return (repo, resolved)
        }
        return (repo, try await Git(repo).resolve("HEAD"))
    }

    private func repository(for spec: String) async throws -> String {
        if let cached = cache[spec] { return cached }
        let fm = FileManager.default
        let path: String
        if spec.contains("://") || spec.hasPrefix("git@") {
            path = try await clone(spec)
        } else if spec.hasPrefix("/") || spec.hasPrefix(".") || fm.fileExists(atPath: suiteDirectory + "/" + spec) {
            let local = spec.hasPrefix("/") ? spec : suiteDirectory + "/" + spec
            guard fm.fileExists(atPath: local) else { throw FerryError(.io, "repository \(local) does not exist") }
            path = fm.fileExists(atPath: local + "/.git") ? local : try await commitPlainDirectory(local, name: spec)
        } else if spec.split(separator: "/").count == 2, let reposDirectory {
            let owner = spec.split(separator: "/")[0]
            let name = spec.split(separator: "/")[1]
            let candidates = [
                "\(reposDirectory)/\(owner)__\(name)", "\(reposDirectory)/\(owner)/\(name)",
                "\(reposDirectory)/\(name)",
            ]
            guard
                let found = candidates.first(where: {
                    fm.fileExists(atPath: $0 + "/.git") || fm.fileExists(atPath: $0 + "/HEAD")
                })
            else {
                throw FerryError(
                    .io,
                    "\(spec) is not under --repos \(reposDirectory) (looked for \(candidates.joined(separator: ", ")))")
            }
            path = found
        } else {
            throw FerryError(.io, "cannot find repository '\(spec)': not a path, a URL, or owner/name with --repos")
        }
        cache[spec] = path
        return path
    }

    private func clone(_ url: String) async throws -> String {
        let name = url.split(whereSeparator: { "/:".contains($0) }).suffix(2).joined(separator: "__")
            .replacingOccurrences(of: ".git", with: "")
        let target = workDirectory + "/repos/" + name
        if FileManager.default.fileExists(atPath: target + "/.git") { return target }
        try FileManager.default.createDirectory(atPath: workDirectory + "/repos", withIntermediateDirectories: true)
        let output = try await HostCommand.run("git", ["clone", "-q", url, target + ".partial"], in: workDirectory)
        guard output.status == 0 else {
            try? FileManager.default.removeItem(atPath: target + ".partial")
            throw FerryError(
                .git, "could not clone \(url): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        try FileManager.default.moveItem(atPath: target + ".partial", toPath: target)
        return target
    }

    /// A plain directory becomes a repository with one commit, with a fixed author and date so its id is stable.
    private func commitPlainDirectory(_ directory: String, name: String) async throws -> String {
        let safe = name.replacingOccurrences(of: "/", with: "__").replacingOccurrences(of: ".", with: "_")
        let target = workDirectory + "/repos/" + safe
        let fm = FileManager.default
        try? fm.removeItem(atPath: target)
        try fm.createDirectory(atPath: workDirectory + "/repos", withIntermediateDirectories: true)
        try fm.copyItem(atPath: directory, toPath: target)
        let env = [
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
            "GIT_AUTHOR_NAME": "Ferry Eval", "GIT_AUTHOR_EMAIL": "eval@ferry", "GIT_COMMITTER_NAME": "Ferry Eval",
            "GIT_COMMITTER_EMAIL": "eval@ferry",
        ]
        for args in [
            ["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "base"],
        ] {
            let output = try await HostCommand.run("git", args, in: target, environment: env)
            guard output.status == 0 else { throw FerryError(.git, "could not commit \(directory): \(output.stderr)") }
        }
        return target
    }
}
