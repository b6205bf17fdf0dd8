import FerryCore
import FerryWorkspace
import Foundation

/// An instance's repository as it stood at its base commit: a new repository holding the base commit and its
/// ancestors, nothing else. A suite's repository is a clone with the project's whole history, and for a mined suite
/// every fix lies in its future: with it in reach, `git log --all`, a tag, a branch, a remote, the reflog or
/// `git cat-file --batch-all-objects` hand the model the answer (SWE-bench's own harness had to strip future history
/// for the same reason). The agent runs on this copy, so none of that is there to find; scoring still uses the
/// suite's repository.
enum BaseOnlyRepository {
    /// Makes it at `path` (replacing anything there) from `source`'s commit `base` (a full commit id), on a branch
    /// `main`. Only the objects the fetch of `base` brings are stored: no tags (`--no-tags`), no remote, no
    /// `FETCH_HEAD`, and the one reflog entry the branch's creation writes is expired.
    static func make(from source: String, base: String, at path: String) async throws {
        let fm = FileManager.default
        let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: partial)
        try? fm.removeItem(atPath: path)
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        do {
            let git = Git(partial)
            try await git.run("init", "-q", "-b", "main")
            // Protocol v2 serves a commit that is no branch's tip; the fetch brings it and what it reaches.
            try await git.run(
                "-c", "protocol.version=2", "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--", source, base)
            try await git.run("update-ref", "refs/heads/main", base)
            try await git.run("reflog", "expire", "--expire=now", "--all")
            try? fm.removeItem(atPath: partial + "/.git/FETCH_HEAD")
            try? fm.removeItem(atPath: partial + "/.git/logs")
            try fm.moveItem(atPath: partial, toPath: path)
        } catch {
            try? fm.removeItem(atPath: partial)
            throw FerryError(
                .git,
                "could not copy \(source) at \(base) without its later history: \((error as? FerryError)?.message ?? "\(error)")"
            )
        }
    }
}
