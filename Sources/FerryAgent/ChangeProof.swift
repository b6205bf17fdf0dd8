import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation

/// Whether passing tests show that a change does what it is for. Passing tests alone do not: when the suite passed
/// before the change too, it never exercised the problem. A change is shown to work when
/// - the tests failed at the baseline and pass after it, or
/// - the change adds or edits tests, and those tests fail when the rest of the change is taken out.
///
/// The second check puts the base's version of every changed non-test file back for one test run, then restores
/// the change byte for byte, whatever happens in between.
enum ChangeProof {
    struct Result {
        var verification: AgentMachine.Verification
        /// The test run without the change's code, when there was one.
        var withoutChange: TestRun?
    }

    static func judge(
        final: TestRun, baseline: TestRun?, changed: [String], base: String, git: Git, root: String,
        runner: any CommandRunner, timeout: Double
    ) async throws -> Result {
        let detail = "tests pass: \(final.summaryLine ?? final.command)"
        guard final.passed else { return Result(verification: .failed(final.describe())) }
        if let baseline, !baseline.passed {
            return Result(verification: .passed(detail + "; they failed before the change"))
        }
        let tests = changed.filter(TestPaths.isTest)
        let code = changed.filter { !TestPaths.isTest($0) }
        guard !tests.isEmpty, !code.isEmpty else { return Result(verification: .passedWithoutProof(detail)) }

        let without = try await withCodeReverted(code, base: base, git: git, root: root) {
            try await TestRun.run(final.command, in: root, runner: runner, timeout: timeout)
        }
        if without.passed {
            return Result(verification: .passedWithoutProof(detail), withoutChange: without)
        }
        return Result(
            verification: .passed(detail + "; the changed tests (\(tests.joined(separator: ", "))) fail without the change"),
            withoutChange: without)
    }

    /// Runs `body` with `paths` as they are at `base` (absent if they did not exist there), then puts the current
    /// contents back.
    static func withCodeReverted<T>(
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
            for path in paths {
                if try await Self.exists(path, at: base, git: git) {
                    try await git.run("checkout", base, "--", path)
                } else {
                    try? fm.removeItem(atPath: root + "/" + path)
                }
            }
            let result = try await body()
            restore()
            return result
        } catch {
            restore()
            throw error
        }
    }

    static func exists(_ path: String, at commit: String, git: Git) async throws -> Bool {
        let listed = try await git.run(["ls-tree", "--name-only", commit, "--", path])
        return !listed.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }
}
