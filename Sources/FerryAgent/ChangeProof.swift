import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation

/// Runs what the `ProofMachine` asks for, in a worktree: the judging tests, with files put back as they were at the
/// base commit when it asks, and the files `.gitignore` hides. It decides nothing; the machine does.
enum ChangeProof {
    /// Performs one step the machine asked for and reports what happened.
    static func perform(
        _ step: ProofMachine.Action, base: String, git: Git, root: String, runner: any CommandRunner, now: () -> Double
    ) async throws -> ProofMachine.Event {
        switch step {
        case .listIgnored:
            let ignored = try await git.run("ls-files", "-z", "--others", "--ignored", "--exclude-standard")
                .split(separator: "\0").map(String.init)
            return .ignored(ignored)
        case .runTests(let command, let revert, let timeout):
            let run = try await withReverted(revert, base: base, git: git, root: root) {
                try await TestRun.run(command, in: root, runner: runner, timeout: timeout)
            }
            return .ran(run, now: now())
        case .done:
            throw FerryError(.tool, "internal error: a finished proof has no step to perform")
        }
    }

    /// Runs `body` with `paths` as they are at `base` (absent if they did not exist there), then puts the current
    /// contents back.
    static func withReverted<T>(
        _ paths: [String], base: String, git: Git, root: String, _ body: () async throws -> T
    ) async throws -> T {
        let fm = FileManager.default
        var saved: [(path: String, data: Data?)] = []
        for path in paths { saved.append((path, fm.contents(atPath: root + "/" + path))) }
        func restore() {
            for (path, data) in saved {
                let full = root + "/" + path
                if let data {
                    try? fm.createDirectory(
                        atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try? Workspace.write(data, to: full)
                } else {
                    try? fm.removeItem(atPath: full)
                }
            }
        }
        do {
            try await git.reset(paths, to: base)
            let result = try await body()
            restore()
            return result
        } catch {
            restore()
            throw error
        }
    }
}
