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
    static func judge(
        final: TestRun, baseline: TestRun?, changed: [String], base: String, git: Git, root: String,
        runner: any CommandRunner, timeout: Double
    ) async throws -> AgentMachine.Verification {
        let detail = "tests pass: \(final.summaryLine ?? final.command)"
        guard final.passed else { return .failed(final.describe()) }
        if let baseline, !baseline.passed { return .passed(detail + "; they failed before the change") }
        let tests = changed.filter(TestPaths.isTest)
        let code = changed.filter { !TestPaths.isTest($0) }
        guard !tests.isEmpty, !code.isEmpty else { return .passedWithoutProof(detail) }

        let without = try await withCodeReverted(code, base: base, git: git, root: root) {
            try await TestRun.run(final.command, in: root, runner: runner, timeout: timeout)
        }
        if without.passed { return .passedWithoutProof(detail) }
        return .passed(detail + "; the changed tests (\(tests.joined(separator: ", "))) fail without the change")
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
