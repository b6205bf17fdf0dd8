import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation

/// The wider suite: a run whose test command names `{related_tests}` is judged by a few related test files; when
/// those pass, and the time budget allows, the whole suite (the command without the placeholder) runs with the
/// change and, if anything fails, without it, so a change that breaks a test elsewhere is caught. Tests that fail
/// either way do not count against it. A suite that cannot finish in the time left, or whose output cannot be read
/// test by test, leaves the verdict as it was, and the trace says so.
extension RunExecutor {
    /// The least time a wider run is given; with less left, it is not tried.
    static let minimumWiderSeconds = 20.0

    func widerCheck(_ verification: AgentMachine.Verification, changed: [String]) async throws -> AgentMachine.Verification {
        switch verification {
        case .passed, .passedWithoutProof: break
        default: return verification
        }
        guard let configured = config.testCommand, configured.contains(RelatedTests.placeholder) else { return verification }
        let wide = RelatedTests.wholeSuite(configured)
        // No related file was found, so the whole suite already judged it.
        guard wide != machine.testCommand else { return verification }
        // Two runs at most (with the change, then without it), in what is left of the run's time.
        let left = config.limits.maxTimeSeconds.map { $0 - elapsed() } ?? .infinity
        let timeout = min(config.testTimeoutSeconds, left / 3)
        guard timeout >= Self.minimumWiderSeconds else {
            await recorder.record(.testsWider(.init("not run: \(Int(max(left, 0)))s of the run's time left")))
            return verification
        }
        let with = try await TestRun.run(wide, in: workspace.root, runner: runner, timeout: timeout)
        if with.passed {
            await recorder.record(.testsWider(.init("passed: \(with.summaryLine ?? wide)")))
            return verification
        }
        guard !with.timedOut else {
            await recorder.record(.testsWider(.init("could not judge the change: the whole suite did not finish in \(Int(timeout))s")))
            return verification
        }
        let code = changed.filter { !TestPaths.isTest($0) }
        let without = try await ChangeProof.withReverted(code, base: base, git: git, root: workspace.root) {
            try await TestRun.run(wide, in: workspace.root, runner: runner, timeout: timeout)
        }
        switch TestFailures.compare(with, baseline: without) {
        case .worse(let newly):
            await recorder.record(.testsWider(.init("failed: \(newly.count) tests pass without the change and fail with it (\(TestFailures.list(newly)))")))
            return .failed(
                "these tests passed before the change and fail with it (the wider suite, beyond the related tests): "
                    + TestFailures.list(newly) + "\n" + with.describe())
        case .noWorse(_, let still):
            await recorder.record(.testsWider(.init("passed: no test fails that passed without the change; \(still.count) fail either way")))
            return verification
        case .unknown:
            await recorder.record(.testsWider(.init("could not judge the change: the whole suite's output cannot be read test by test (\(with.summaryLine ?? "no summary"))")))
            return verification
        }
    }
}
