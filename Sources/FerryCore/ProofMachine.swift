import Foundation

/// Whether a change is shown to work: every verdict `verified` rests on, decided from test runs alone. The evidence
/// must come from the project's own tests as they were at the base commit, because the change itself (the model's
/// shell included) can rewrite tests, add a `conftest.py` that marks everything passed, or edit the test
/// configuration. The executor runs what the machine asks for (a test command, with some files put back as they were
/// at the base) and hands back what happened; the machine decides.
///
/// 1. No change, or no test command: said so, nothing run.
/// 2. The tests with the change must pass, or, read test by test, fail only tests that failed at the baseline.
/// 3. `R1`: with the change's test files and test configuration put back as at the base, they must still pass (or fail
///    no test the change's own run passed), else the tests were rewritten.
/// 4. Proof: the tests failed at the baseline and pass now; or some that failed pass now and none newly fails; or the
///    change adds tests that, under the base's test configuration (`R2`), pass with its code and fail without it
///    (`R3`). Anything else passes without proof (or, where failures remain, fails: they may be the task itself).
/// 5. The wider suite: when the judging command ran only the related tests and the run's `Budget` leaves time for
///    two runs, the whole suite runs with the change and, if anything fails, without its code; a test that passes
///    without the change and fails with it fails the change by name.
public struct ProofMachine: Sendable {
    public struct Input: Sendable {
        /// The files the change touches; empty means no change.
        public var changed: [String]
        /// The command that judges (the related tests, or the whole suite); nil when the project has none.
        public var testCommand: String?
        /// The whole suite, when `testCommand` runs only the tests related to the task.
        public var widerCommand: String?
        public var baseline: TestRun?
        public var testTimeout: Double
        /// The run's budget: the wider suite runs only in the time it leaves.
        public var budget: Budget
        /// The task, when known: tests that failed at the baseline and that it does not concern
        /// (`TestFailures.concerning`) are the project's own failures, not the task's. Without it, any may be.
        public var task: String?

        public init(
            changed: [String], testCommand: String?, widerCommand: String? = nil, baseline: TestRun?,
            testTimeout: Double,
            budget: Budget = Budget(limits: AgentLimits()), task: String? = nil
        ) {
            self.changed = changed
            self.testCommand = testCommand
            self.widerCommand = widerCommand
            self.baseline = baseline
            self.testTimeout = testTimeout
            self.budget = budget
            self.task = task
        }
    }

    public enum Action: Sendable, Hashable {
        /// Run `command` in the worktree with `revert` put back as it was at the base commit (removed if new there),
        /// then put back as it is now.
        case runTests(command: String, revert: [String], timeout: Double)
        /// List the files `.gitignore` hides from the diff (an ignored `conftest.py` still configures a test run).
        case listIgnored
        case done(Proof)
    }

    public enum Event: Sendable {
        case ran(TestRun, now: Double)
        case ignored([String])
    }

    /// Why the verdict is what it is, as data.
    public enum Evidence: Sendable, Hashable {
        case noChange
        case noTestCommand
        /// The tests fail with the change; `newlyFailing` names those that passed at the baseline, when known.
        case testsFail(newlyFailing: [String]?)
        /// As the tests were at the base commit, they fail with the change (`configurationOnly`: only the change's
        /// own test configuration makes the tests it adds pass).
        case testsRewritten(configurationOnly: Bool)
        /// The change touches only tests or their configuration.
        case onlyTestsChanged
        case baselineFailedNowPasses
        case fixed([String])
        /// No test newly fails, none was fixed, and the ones that failed before still fail.
        case stillFailing([String])
        /// As `stillFailing`, but the task concerns none of those tests: they are the project's own failures, and the
        /// change passes without proof.
        case othersStillFailing([String])
        /// The tests passed before the change as after it, and the change adds no test.
        case nothingFailedBefore
        /// The tests the change adds pass without its code too.
        case addedTestsPassWithoutCode
        /// The tests the change adds fail without its code (`newly`: by name, when the runs were read test by test).
        case addedTestsFailWithoutCode(newly: [String]?)
        /// The whole suite, beyond the related tests, has tests that pass without the change and fail with it.
        case widerSuiteBroke([String])
    }

    public struct Proof: Sendable, Hashable {
        public var verification: AgentMachine.Verification
        public var evidence: Evidence
        /// The change's own run of the judging command (nil when nothing ran).
        public var tests: TestRun?
        /// What the wider suite did, for the trace (`tests.wider`); nil when it did not apply.
        public var wider: String?

        public init(verification: AgentMachine.Verification, evidence: Evidence, tests: TestRun?, wider: String?) {
            self.verification = verification
            self.evidence = evidence
            self.tests = tests
            self.wider = wider
        }
    }

    enum Stage: Sendable {
        case start, final, ignored, ownTests, withCode, withoutCode, widerWith, widerWithout, done
    }

    public let input: Input
    var stage = Stage.start
    var final: TestRun?
    var comparison: TestFailures.Comparison?
    var configuration: [String] = []
    var tests: [String] = []
    var code: [String] = []
    var judged: TestRun?
    var withCode: TestRun?
    /// A passing verdict waiting for the wider suite.
    var pending: Proof?
    var widerWith: TestRun?
    var widerTimeout = 0.0
    /// The run's clock at the start or the last test run: what the budget's time left is measured from.
    public private(set) var now = 0.0

    /// The least time a wider run is given; with less left, it is not tried.
    public static let minimumWiderSeconds = 20.0

    public init(_ input: Input) {
        self.input = input
    }

    /// Starts the proof at `now` on the run's clock.
    public mutating func start(now: Double = 0) -> Action {
        precondition(stage == .start, "a proof starts once")
        self.now = now
        guard !input.changed.isEmpty else { return finish(.noChange, .noChange) }
        guard let command = input.testCommand else { return finish(.noTestCommand, .noTestCommand) }
        stage = .final
        return .runTests(command: command, revert: [], timeout: input.testTimeout)
    }

    public mutating func handle(_ event: Event) -> Action {
        if case .ran(_, let now) = event { self.now = now }
        switch (stage, event) {
        case (.final, .ran(let run, _)): return afterFinal(run)
        case (.ignored, .ignored(let ignored)): return afterIgnored(ignored)
        case (.ownTests, .ran(let run, _)): return afterOwnTests(run)
        case (.withCode, .ran(let run, _)): return afterWithCode(run)
        case (.withoutCode, .ran(let run, _)): return afterWithoutCode(run)
        case (.widerWith, .ran(let run, _)): return afterWiderWith(run)
        case (.widerWithout, .ran(let run, _)): return afterWiderWithout(run)
        default:
            // A driver that answers out of turn gets a failed verdict, never a trap.
            let name = String(describing: event).prefix { $0 != "(" }
            return finish(.failed("internal error: the proof got \(name) out of turn"), .testsFail(newlyFailing: nil))
        }
    }

    var command: String { input.testCommand ?? "" }

    // MARK: - The change's own run

    mutating func afterFinal(_ run: TestRun) -> Action {
        final = run
        // Tests that already failed at the baseline do not count against the change, test by test, when both runs
        // can be read that way: a change is failed by a test it breaks, not by one that was broken before it.
        comparison = run.passed ? nil : TestFailures.compare(run, baseline: input.baseline)
        guard run.passed || comparison?.isNoWorse == true else {
            if case .worse(let newly)? = comparison {
                return finish(
                    .failed(
                        "these tests passed before the change and fail with it: \(TestFailures.list(newly))\n"
                            + run.describe()),
                    .testsFail(newlyFailing: newly))
            }
            return finish(.failed(run.describe()), .testsFail(newlyFailing: nil))
        }
        stage = .ignored
        return .listIgnored
    }

    var detail: String {
        guard let final else { return "" }
        if case .noWorse(_, let still)? = comparison {
            return "no test that passed before fails now (\(final.summaryLine ?? command)); \(still.count) failed "
                + "before the change and still fail (\(TestFailures.list(still)))"
        }
        return "tests pass: \(final.summaryLine ?? command)"
    }

    static func list(_ paths: [String]) -> String {
        paths.count <= 4
            ? paths.joined(separator: ", ") : paths.prefix(4).joined(separator: ", ") + " and \(paths.count - 4) more"
    }

    mutating func afterIgnored(_ ignored: [String]) -> Action {
        // Files .gitignore hides are in no diff, yet a test run reads them: an ignored conftest.py or .pth file, or a
        // planted .pyc, counts as configuration the change added.
        let hidden = ignored.filter { TestPaths.isConfiguration($0, testCommand: command) || $0.hasSuffix(".pyc") }
        configuration = input.changed.filter { TestPaths.isConfiguration($0, testCommand: command) } + hidden
        tests = input.changed.filter { TestPaths.isTest($0) && !configuration.contains($0) }
        code = input.changed.filter { !configuration.contains($0) && !tests.contains($0) }
        guard !code.isEmpty else {
            return conclude(
                .passedWithoutProof(
                    detail
                        + "; the change only touches tests or test configuration (\(Self.list(input.changed))), which "
                        + "cannot show that code works"),
                .onlyTestsChanged)
        }
        guard infrastructure.isEmpty else {
            // R1: the project's tests as they were at the base, against the changed code.
            stage = .ownTests
            return .runTests(command: command, revert: infrastructure, timeout: input.testTimeout)
        }
        judged = final
        return decide()
    }

    var infrastructure: [String] { configuration + tests }

    /// Whether a run with some of the change's files put back still passes, or fails only tests the change's own run
    /// failed: those files hid no failure.
    func holdsUp(_ run: TestRun) -> Bool {
        guard let final else { return false }
        return run.passed || TestFailures.failures(of: run, within: final)
    }

    mutating func afterOwnTests(_ own: TestRun) -> Action {
        judged = own
        guard holdsUp(own) else {
            return finish(
                .testsRewritten(
                    "the tests pass only with the change's edits to \(Self.list(infrastructure)); the project's tests as "
                        + "they were at the base commit fail with the change (\(own.summaryLine ?? own.describe(tailBytes: 300)))"
                ),
                .testsRewritten(configurationOnly: false))
        }
        return decide()
    }

    // MARK: - Proof

    /// With the tests as they were at the base judged: a proof from the baseline, or on to the tests the change adds.
    mutating func decide() -> Action {
        guard let judged else { preconditionFailure("decide before the tests were judged") }
        if let baseline = input.baseline, !baseline.passed, judged.passed {
            return conclude(
                .passed(
                    detail + "; they failed before the change"
                        + (infrastructure.isEmpty ? "" : ", and pass as they were at the base commit")),
                .baselineFailedNowPasses)
        }
        let judgedComparison =
            infrastructure.isEmpty ? comparison : TestFailures.compare(judged, baseline: input.baseline)
        if case .noWorse(let fixed, _)? = judgedComparison, !fixed.isEmpty, !judged.passed {
            return conclude(
                .passed(
                    detail + "; \(fixed.count) failed before the change and pass with it (\(TestFailures.list(fixed)))"
                        + (infrastructure.isEmpty ? "" : ", as the tests were at the base commit")),
                .fixed(fixed))
        }
        guard !tests.isEmpty else {
            return judged.passed ? conclude(.passedWithoutProof(detail), .nothingFailedBefore) : unshown()
        }
        // R2 and R3: the tests the change adds, under the base's test configuration, with and without its code.
        guard configuration.isEmpty else {
            stage = .withCode
            return .runTests(command: command, revert: configuration, timeout: input.testTimeout)
        }
        withCode = final
        return runWithoutCode()
    }

    /// Tests still fail (as they did before) and none of them was fixed: the failures may be the task itself, so this
    /// is not a pass of any kind, and the model hears which tests still fail.
    mutating func unshown() -> Action {
        guard let judged else { preconditionFailure("unshown before the tests were judged") }
        let still = TestFailures.read(judged)?.failed.sorted() ?? []
        if let task = input.task, !still.isEmpty, TestFailures.concerning(still, task: task).isEmpty,
            TestFailures.compare(judged, baseline: input.baseline).isNoWorse
        {
            return conclude(
                .passedWithoutProof(
                    detail + "; the task concerns none of the tests that still fail, so they are taken for the "
                        + "project's own failures"),
                .othersStillFailing(still))
        }
        return finish(
            .failed(
                "no test that passed before the change fails with it, but the tests that failed before still fail and "
                    + "none of them passes now: \(TestFailures.list(still))\n" + judged.describe()),
            .stillFailing(still))
    }

    mutating func afterWithCode(_ with: TestRun) -> Action {
        withCode = with
        guard holdsUp(with) else {
            return finish(
                .testsRewritten(
                    "the tests the change adds (\(Self.list(tests))) pass only with its edits to the test configuration "
                        + "(\(Self.list(configuration)))"),
                .testsRewritten(configurationOnly: true))
        }
        return runWithoutCode()
    }

    mutating func runWithoutCode() -> Action {
        stage = .withoutCode
        return .runTests(command: command, revert: configuration + code, timeout: input.testTimeout)
    }

    mutating func afterWithoutCode(_ without: TestRun) -> Action {
        guard let withCode else { preconditionFailure("without before with") }
        if without.passed {
            return withCode.passed ? conclude(.passedWithoutProof(detail), .addedTestsPassWithoutCode) : unshown()
        }
        if !withCode.passed {
            // Tests failed with the code too (as they did at the baseline): only tests that fail without the code
            // and pass with it show anything.
            guard case .worse(let newly) = TestFailures.compare(without, baseline: withCode) else { return unshown() }
            return conclude(
                .passed(detail + "; the changed tests fail without the change (\(TestFailures.list(newly)))"),
                .addedTestsFailWithoutCode(newly: newly))
        }
        return conclude(
            .passed(detail + "; the changed tests (\(Self.list(tests))) fail without the change"),
            .addedTestsFailWithoutCode(newly: nil))
    }

    // MARK: - The wider suite

    /// A pass goes on to the wider suite when there is one and time for it; anything else is final.
    mutating func conclude(_ verification: AgentMachine.Verification, _ evidence: Evidence) -> Action {
        let proof = Proof(verification: verification, evidence: evidence, tests: final, wider: nil)
        // No related file was found, so the whole suite already judged it.
        guard let wide = input.widerCommand, wide != input.testCommand else { return .done(settle(proof)) }
        pending = proof
        // Two runs at most (with the change, then without it), in what is left of the run's time.
        let left = input.budget.secondsLeft(now: now) ?? .infinity
        return startWider(wide, left: left)
    }

    mutating func startWider(_ wide: String, left: Double) -> Action {
        widerTimeout = min(input.testTimeout, left / 3)
        guard widerTimeout >= Self.minimumWiderSeconds else {
            return widerDone("not run: \(Int(max(left.isFinite ? left : 0, 0)))s of the run's time left")
        }
        stage = .widerWith
        return .runTests(command: wide, revert: [], timeout: widerTimeout)
    }

    mutating func afterWiderWith(_ with: TestRun) -> Action {
        widerWith = with
        if with.passed { return widerDone("passed: \(with.summaryLine ?? with.command)") }
        guard !with.timedOut else {
            return widerDone("could not judge the change: the whole suite did not finish in \(Int(widerTimeout))s")
        }
        stage = .widerWithout
        return .runTests(
            command: with.command, revert: input.changed.filter { !TestPaths.isTest($0) }, timeout: widerTimeout)
    }

    mutating func afterWiderWithout(_ without: TestRun) -> Action {
        guard let with = widerWith, var proof = pending else {
            preconditionFailure("the wider suite without its first run")
        }
        switch TestFailures.compare(with, baseline: without) {
        case .worse(let newly):
            proof.verification = .failed(
                "these tests passed before the change and fail with it (the wider suite, beyond the related tests): "
                    + TestFailures.list(newly) + "\n" + with.describe())
            proof.evidence = .widerSuiteBroke(newly)
            proof.wider =
                "failed: \(newly.count) tests pass without the change and fail with it (\(TestFailures.list(newly)))"
            pending = proof
            return .done(settle(proof))
        case .noWorse(_, let still):
            return widerDone("passed: no test fails that passed without the change; \(still.count) fail either way")
        case .unknown:
            return widerDone(
                "could not judge the change: the whole suite's output cannot be read test by test (\(with.summaryLine ?? "no summary"))"
            )
        }
    }

    mutating func widerDone(_ note: String) -> Action {
        guard var proof = pending else { preconditionFailure("the wider suite without a verdict") }
        proof.wider = note
        return .done(settle(proof))
    }

    mutating func finish(_ verification: AgentMachine.Verification, _ evidence: Evidence) -> Action {
        .done(settle(Proof(verification: verification, evidence: evidence, tests: final, wider: nil)))
    }

    mutating func settle(_ proof: Proof) -> Proof {
        stage = .done
        return proof
    }
}

extension AgentMachine.Outcome {
    /// The outcome once the change is committed. When the commit differs from the change the tests judged (an
    /// oversized file left out, a secret replaced: `notes` says which), a `verified` claim no longer holds: it becomes
    /// `unverified`, and the reason says why. Any other outcome only gains the notes.
    public func committed(differingBy notes: [String]) -> Self {
        guard !notes.isEmpty else { return self }
        var outcome = self
        if outcome.status == .verified { outcome.status = .unverified }
        outcome.reason += (outcome.reason.isEmpty ? "" : "; ") + notes.joined(separator: "; ")
        return outcome
    }
}
