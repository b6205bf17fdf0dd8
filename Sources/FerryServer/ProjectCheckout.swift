import FerryCore
import FerryWorkspace
import Foundation

/// Where a worker finds a project's repository: a local path as it is, or a git URL cloned once into the worker's
/// data directory and fetched before each task, so the task starts from the remote's current base.
enum ProjectCheckout {
    static func isURL(_ repo: String) -> Bool {
        ["http://", "https://", "ssh://", "git://", "file://"].contains { repo.hasPrefix($0) }
            || (repo.hasPrefix("git@") && repo.contains(":"))
    }

    /// The repository path and the base ref a run of `project` starts from.
    static func prepare(_ project: Project, dataDirectory: String) async throws -> (repo: String, base: String) {
        guard isURL(project.repo) else { return (project.repo, project.base) }
        let path = dataDirectory + "/repos/" + project.id
        if !FileManager.default.fileExists(atPath: path + "/.git") {
            try FileManager.default.createDirectory(atPath: dataDirectory + "/repos", withIntermediateDirectories: true)
            let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
            try? FileManager.default.removeItem(atPath: partial)
            do {
                try await Git(dataDirectory + "/repos").run("clone", "--quiet", "--no-checkout", project.repo, partial)
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw FerryError(.git, "cannot clone \(project.repo) for project \(project.name): \(error)")
            }
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: partial, toPath: path)
        } else {
            try await Git(path).run("fetch", "--quiet", "--prune", "origin")
        }
        // The remote's branch, not a local one that may be stale; a tag or a commit as it is.
        let remoteBranch = "origin/" + project.base
        let hasBranch = (try? await Git(path).run("rev-parse", "--verify", "--quiet", remoteBranch + "^{commit}")) != nil
        return (path, hasBranch ? remoteBranch : project.base)
    }
}

