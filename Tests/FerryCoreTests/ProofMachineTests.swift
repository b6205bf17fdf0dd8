import FerryCore
import Testing

/// Every path of the proof: what it asks to run, with which files put back, and the verdict each outcome gives,
/// without a repository or a process. The trust suite's hostile changes (a `conftest.py` that passes everything, a
/// deleted or rewritten test, a planted `.pyc`, a test module that patches assertions) appear here as the runs they
/// produce.
@Suite struct ProofMachineTests {
    static let command = "pytest -rA"

    /// A pytest run failing `failed` with `passed` passing (readable test by test).
    static func pytest(_ failed: [String] = [], passed: Int = 3, command: String = command, timedOut: Bool = false)
        -> TestRun
    {
        let lines = failed.map { "FAILED \($0) - AssertionError" }
        let summary =
            failed.isEmpty
            ? "=== \(passed) passed in 0.10s ===" : "=== \(failed.count) failed, \(passed) passed in 0.10s ==="
        return TestRun(
            command: command, exitCode: timedOut ? nil : failed.isEmpty ? 0 : 1, timedOut: timedOut, durationSeconds: 1,
            output: (lines + [summary]).joined(separator: "\n"))
    }

    /// A failing run whose output cannot be read test by test.
    static func unreadable(command: String = command) -> TestRun {
        TestRun(command: command, exitCode: 1, timedOut: false, durationSeconds: 1, output: "Segmentation fault")
    }

    /// Drives a machine: each `runTests` action is answered by the next of `runs`, `listIgnored` by `ignored`.
    /// Returns the proof and the actions asked for.
    static func drive(
        _ input: ProofMachine.Input, runs: [TestRun], ignored: [String] = [], now: Double = 10
    ) -> (proof: ProofMachine.Proof, actions: [ProofMachine.Action]) {
        var machine = ProofMachine(input)
        var actions: [ProofMachine.Action] = []
        var action = machine.start()
        var runs = runs[...]
        while true {
            actions.append(action)
            switch action {
            case .done(let proof): return (proof, actions)
            case .listIgnored: action = machine.handle(.ignored(ignored))
            case .runTests:
                guard let run = runs.popFirst() else {
                    Issue.record("the machine asked for more runs than the test gave: \(actions)")
                    return (
                        ProofMachine.Proof(verification: .noChange, evidence: .noChange, tests: nil, wider: nil),
                        actions
                    )
                }
                action = machine.handle(.ran(run, now: now))
            }
        }
    }

    static func input(
        _ changed: [String], baseline: TestRun? = pytest(), wider: String? = nil, maxTime: Double? = nil
    ) -> ProofMachine.Input {
        var budget = Budget(limits: AgentLimits(maxTimeSeconds: maxTime))
        budget.start(now: 0)
        return ProofMachine.Input(
            changed: changed, testCommand: command, widerCommand: wider, baseline: baseline, testTimeout: 900,
            budget: budget)
    }

    static func runs(_ actions: [ProofMachine.Action]) -> [[String]] {
        actions.compactMap { if case .runTests(_, let revert, _) = $0 { revert } else { nil } }
    }

    // MARK: - Nothing to judge

    @Test func noChangeAndNoTestCommandRunNothing() {
        let none = Self.drive(Self.input([]), runs: [])
        #expect(none.proof.verification == .noChange && none.proof.evidence == .noChange && none.actions.count == 1)
        var input = Self.input(["m.py"])
        input.testCommand = nil
        let untested = Self.drive(input, runs: [])
        #expect(untested.proof.verification == .noTestCommand && untested.actions.count == 1)
    }

    // MARK: - The change's own run

    @Test func failingTestsFailTheChangeNamingTheOnesItBroke() {
        let broke = Self.drive(Self.input(["m.py"]), runs: [Self.pytest(["t.py::test_a"], passed: 2)])
        #expect(broke.proof.evidence == .testsFail(newlyFailing: ["t.py::test_a"]))
        guard case .failed(let text) = broke.proof.verification else {
            Issue.record("\(broke.proof)")
            return
        }
        #expect(text.hasPrefix("these tests passed before the change and fail with it: t.py::test_a"))
        #expect(Self.runs(broke.actions) == [[]])
        let crashed = Self.drive(Self.input(["m.py"]), runs: [Self.unreadable()])
        #expect(crashed.proof.evidence == .testsFail(newlyFailing: nil))
        // Against an unreadable baseline, a failing run cannot be compared either.
        let blind = Self.drive(Self.input(["m.py"], baseline: Self.unreadable()), runs: [Self.pytest(["t.py::test_a"])])
        #expect(blind.proof.evidence == .testsFail(newlyFailing: nil))
    }

    @Test func testsThatAlreadyFailedDoNotCountAgainstTheChange() {
        let baseline = Self.pytest(["t.py::test_net"], passed: 3)
        let still = Self.drive(
            Self.input(["m.py"], baseline: baseline), runs: [Self.pytest(["t.py::test_net"], passed: 3)])
        // Not a pass: the failure may be the task itself, and nothing was fixed.
        #expect(still.proof.evidence == .stillFailing(["t.py::test_net"]))
        guard case .failed(let text) = still.proof.verification else {
            Issue.record("\(still.proof)")
            return
        }
        #expect(text.contains("none of them passes now: t.py::test_net"))
    }

    /// Tests that fail before the change for reasons the task has nothing to do with (a platform difference) do
    /// not make every change a failure: with them failing as before, the change passes without proof. A task that
    /// names them, shares a word with one, or speaks of failing tests keeps them the task's.
    @Test func failuresTheTaskDoesNotConcernLeaveTheChangeUnproven() {
        let cli = ["tests/test_cli.py::test_encoding_stdin_gbk", "tests/test_cli.py::test_encoding_utf8_stdout"]
        let baseline = Self.pytest(cli, passed: 400)
        func judged(_ task: String) -> ProofMachine.Proof {
            var input = Self.input(["sqlparse/keywords.py"], baseline: baseline)
            input.task = task
            return Self.drive(input, runs: [Self.pytest(cli, passed: 400)]).proof
        }
        let other = judged("Fix parsing of PRIMARY KEY (fixes #740).")
        #expect(other.evidence == .othersStillFailing(cli.sorted()))
        guard case .passedWithoutProof(let detail) = other.verification else {
            Issue.record("\(other)")
            return
        }
        #expect(detail.contains("the task concerns none of the tests that still fail"))
        for task in [
            "test_encoding_stdin_gbk fails on Python 3.11", "Reading SQL from stdin with a GBK encoding breaks",
            "The CI is red since the upgrade", "Fix the failing tests",
        ] {
            #expect(judged(task).evidence == .stillFailing(cli.sorted()), "\(task)")
        }
        // A change that breaks one more test still fails, whatever the task.
        var input = Self.input(["sqlparse/keywords.py"], baseline: baseline)
        input.task = "Fix parsing of PRIMARY KEY"
        let broke = Self.drive(input, runs: [Self.pytest(cli + ["tests/test_parse.py::test_x"], passed: 399)])
        #expect(broke.proof.evidence == .testsFail(newlyFailing: ["tests/test_parse.py::test_x"]))
    }

    @Test func theTestsATaskConcernsAreReadFromItsWords() {
        let ids = [
            "tests/test_stats.py::TestAverage::test_average_empty[list]", "sympy/core/tests/test_expr.py:test_subs",
            "test_connect_timeout (tests.test_requests.TestTimeout.test_connect_timeout)",
        ]
        #expect(TestFailures.concerning(ids, task: "average() divides by zero on an empty list") == [ids[0]])
        #expect(TestFailures.concerning(ids, task: "Substitution with subs() drops the sign") == [ids[1]])
        #expect(TestFailures.concerning(ids, task: "A connectTimeout of None is ignored") == [ids[2]])
        #expect(TestFailures.concerning(ids, task: "Add postgres WINDOW keyword").isEmpty)
        #expect(TestFailures.concerning(["t.py::test_add"], task: "add() returns the wrong sum") == ["t.py::test_add"])
        #expect(TestFailures.concerning(ids, task: "Tests fail after upgrading pytest") == ids)
    }

    // MARK: - Proof from the baseline

    @Test func aBaselineFailureTheChangeFixesProvesIt() {
        let fixed = Self.drive(Self.input(["m.py"], baseline: Self.pytest(["t.py::test_a"])), runs: [Self.pytest()])
        #expect(fixed.proof.evidence == .baselineFailedNowPasses)
        guard case .passed(let text) = fixed.proof.verification else {
            Issue.record("\(fixed.proof)")
            return
        }
        #expect(text == "tests pass: 3 passed in 0.10s; they failed before the change")
        #expect(fixed.actions.contains(.listIgnored) && Self.runs(fixed.actions) == [[]])
        // Some fixed, others failing as before: still a proof, by name.
        let partly = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::test_a", "t.py::test_net"], passed: 2)),
            runs: [Self.pytest(["t.py::test_net"], passed: 3)])
        #expect(partly.proof.evidence == .fixed(["t.py::test_a"]))
        guard case .passed(let detail) = partly.proof.verification else {
            Issue.record("\(partly.proof)")
            return
        }
        #expect(detail.contains("1 failed before the change and pass with it (t.py::test_a)"))
    }

    @Test func testsThatPassedBeforeAndAfterProveNothing() {
        let same = Self.drive(Self.input(["m.py"]), runs: [Self.pytest()])
        #expect(same.proof.evidence == .nothingFailedBefore)
        #expect(same.proof.verification == .passedWithoutProof("tests pass: 3 passed in 0.10s"))
    }

    @Test func aChangeToTestsAloneProvesNothing() {
        for changed in [["tests/test_m.py"], ["conftest.py"], ["tests/test_m.py", "pytest.ini"]] {
            let proof = Self.drive(Self.input(changed, baseline: Self.pytest(["t.py::a"])), runs: [Self.pytest()]).proof
            #expect(proof.evidence == .onlyTestsChanged, "\(changed)")
            guard case .passedWithoutProof(let text) = proof.verification else {
                Issue.record("\(proof)")
                continue
            }
            #expect(text.contains("only touches tests or test configuration"))
        }
    }

    // MARK: - R1: the tests as they were at the base

    @Test func theTestsAsTheyWereAtTheBaseJudgeAChangeThatEditedThem() {
        // The hostile `sed -i` on an expected value, a deleted test, a test module that patches assertEqual: with
        // the change's test files put back, the project's tests fail.
        for changed in [["m.py", "tests/test_m.py"], ["m.py", "tests/test_new_patch.py"]] {
            let rewritten = Self.drive(
                Self.input(changed, baseline: Self.pytest(["tests/test_m.py::test_x"])),
                runs: [Self.pytest(), Self.pytest(["tests/test_m.py::test_x"])])
            #expect(rewritten.proof.evidence == .testsRewritten(configurationOnly: false), "\(changed)")
            #expect(Self.runs(rewritten.actions) == [[], [changed[1]]])
            guard case .testsRewritten(let text) = rewritten.proof.verification else {
                Issue.record("\(rewritten.proof)")
                continue
            }
            #expect(text.contains("the tests pass only with the change's edits to \(changed[1])"))
        }
    }

    @Test func aConftestThatPassesEverythingIsPutBackAndTheTestsFail() {
        let hostile = Self.drive(
            Self.input(["m.py", "conftest.py"], baseline: Self.pytest(["t.py::test_a"])),
            runs: [Self.pytest(), Self.pytest(["t.py::test_a"])])
        #expect(hostile.proof.evidence == .testsRewritten(configurationOnly: false))
        #expect(Self.runs(hostile.actions) == [[], ["conftest.py"]])
    }

    @Test func ignoredFilesThatConfigureTheRunArePutBackToo() {
        // A planted .pyc and an ignored conftest.py are in no diff; the machine asks for them and reverts them.
        let planted = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::test_a"])),
            runs: [Self.pytest(), Self.pytest(["t.py::test_a"])],
            ignored: ["__pycache__/test_m.cpython-311.pyc", "build/conftest.py", "notes.txt", "dist/x.whl"])
        #expect(Self.runs(planted.actions) == [[], ["__pycache__/test_m.cpython-311.pyc", "build/conftest.py"]])
        #expect(planted.proof.evidence == .testsRewritten(configurationOnly: false))
        // Nothing ignored that matters: no second run.
        let clean = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::test_a"])), runs: [Self.pytest()], ignored: ["notes.txt"]
        )
        #expect(Self.runs(clean.actions) == [[]] && clean.proof.evidence == .baselineFailedNowPasses)
    }

    @Test func theFilesTheTestCommandNamesAreConfiguration() {
        var input = Self.input(["m.py", "run_tests.sh"])
        input.testCommand = "bash run_tests.sh"
        let proof = Self.drive(
            input,
            runs: [Self.pytest(command: "bash run_tests.sh"), Self.pytest(["t.py::a"], command: "bash run_tests.sh")])
        #expect(Self.runs(proof.actions) == [[], ["run_tests.sh"]])
        #expect(proof.proof.evidence == .testsRewritten(configurationOnly: false))
        #expect(TestPaths.isConfiguration("Makefile", testCommand: "make test"))
        #expect(!TestPaths.isConfiguration("Makefile", testCommand: "pytest"))
    }

    @Test func aTestTheChangeEditsMayStillFailOnlyWhereTheChangesOwnRunFailed() {
        // R1 fails a test, but the change's own run failed it as well (as the baseline did): not a rewrite.
        let baseline = Self.pytest(["t.py::net", "tests/test_m.py::test_a"], passed: 2)
        let proof = Self.drive(
            Self.input(["m.py", "tests/test_m.py"], baseline: baseline),
            runs: [Self.pytest(["t.py::net"], passed: 4), Self.pytest(["t.py::net"], passed: 3)]
        ).proof
        #expect(proof.evidence == .fixed(["tests/test_m.py::test_a"]))
    }

    // MARK: - R2 and R3: the tests the change adds

    @Test func testsTheChangeAddsProveItWhenTheyFailWithoutItsCode() {
        let proved = Self.drive(
            Self.input(["m.py", "tests/test_new.py"]),
            runs: [Self.pytest(passed: 4), Self.pytest(), Self.pytest(["tests/test_new.py::t"])])
        #expect(Self.runs(proved.actions) == [[], ["tests/test_new.py"], ["m.py"]])
        #expect(proved.proof.evidence == .addedTestsFailWithoutCode(newly: nil))
        guard case .passed(let text) = proved.proof.verification else {
            Issue.record("\(proved.proof)")
            return
        }
        #expect(text.hasSuffix("the changed tests (tests/test_new.py) fail without the change"))
        // They pass without the code too: no proof.
        let idle = Self.drive(
            Self.input(["m.py", "tests/test_new.py"]),
            runs: [Self.pytest(passed: 4), Self.pytest(), Self.pytest(passed: 4)])
        #expect(idle.proof.evidence == .addedTestsPassWithoutCode)
        #expect(idle.proof.verification == .passedWithoutProof("tests pass: 4 passed in 0.10s"))
    }

    @Test func theBasesTestConfigurationJudgesTheAddedTests() {
        let changed = ["m.py", "tests/test_new.py", "pytest.ini"]
        // R2 (the change's tests under the base's configuration) fails: only its configuration made them pass.
        let rewired = Self.drive(
            Self.input(changed),
            runs: [Self.pytest(passed: 4), Self.pytest(), Self.pytest(["tests/test_new.py::t"], passed: 3)])
        #expect(Self.runs(rewired.actions) == [[], ["pytest.ini", "tests/test_new.py"], ["pytest.ini"]])
        #expect(rewired.proof.evidence == .testsRewritten(configurationOnly: true))
        // R2 passes, R3 (configuration and code put back) fails: proved.
        let proved = Self.drive(
            Self.input(changed),
            runs: [
                Self.pytest(passed: 4), Self.pytest(), Self.pytest(passed: 4), Self.pytest(["tests/test_new.py::t"]),
            ])
        #expect(
            Self.runs(proved.actions) == [
                [], ["pytest.ini", "tests/test_new.py"], ["pytest.ini"], ["pytest.ini", "m.py"],
            ])
        #expect(proved.proof.evidence == .addedTestsFailWithoutCode(newly: nil))
    }

    @Test func withFailuresLeftOnlyTestsThatFailWithoutTheCodeAndPassWithItProve() {
        let baseline = Self.pytest(["t.py::net"], passed: 3)
        let changed = ["m.py", "tests/test_new.py"]
        let final = Self.pytest(["t.py::net"], passed: 4)
        let proved = Self.drive(
            Self.input(changed, baseline: baseline),
            runs: [
                final, Self.pytest(["t.py::net"], passed: 3),
                Self.pytest(["t.py::net", "tests/test_new.py::t"], passed: 3),
            ])
        #expect(proved.proof.evidence == .addedTestsFailWithoutCode(newly: ["tests/test_new.py::t"]))
        // Without the code, the same failures: nothing shown, and the remaining failures go back to the model.
        let unshown = Self.drive(
            Self.input(changed, baseline: baseline),
            runs: [final, Self.pytest(["t.py::net"], passed: 3), Self.pytest(["t.py::net"], passed: 4)])
        #expect(unshown.proof.evidence == .stillFailing(["t.py::net"]))
        // Without the code everything passes, yet with it a test still fails: not a pass either.
        let odd = Self.drive(
            Self.input(changed, baseline: baseline),
            runs: [final, Self.pytest(["t.py::net"], passed: 3), Self.pytest(passed: 5)])
        #expect(odd.proof.evidence == .stillFailing(["t.py::net"]))
    }

    // MARK: - The wider suite

    static let wide = "pytest -rA tests"

    @Test func aPassIsCheckedAgainstTheWholeSuiteWhenThereIsTime() {
        let passed = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide),
            runs: [Self.pytest(), Self.pytest(passed: 40, command: Self.wide)])
        #expect(passed.proof.evidence == .baselineFailedNowPasses && passed.proof.wider == "passed: 40 passed in 0.10s")
        guard case .runTests(let command, let revert, let timeout) = passed.actions[2] else {
            Issue.record("\(passed.actions)")
            return
        }
        #expect(command == Self.wide && revert.isEmpty && timeout == 900)
        // A test elsewhere that passes without the change and fails with it fails the change, by name; only the
        // change's code (not its tests) is put back for the second run.
        let broke = Self.drive(
            Self.input(["m.py", "tests/test_new.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide),
            runs: [
                Self.pytest(), Self.pytest(), Self.pytest(["t2.py::b"], passed: 39, command: Self.wide),
                Self.pytest(passed: 40, command: Self.wide),
            ])
        #expect(broke.proof.evidence == .widerSuiteBroke(["t2.py::b"]))
        #expect(Self.runs(broke.actions).last == ["m.py"])
        guard case .failed(let text) = broke.proof.verification else {
            Issue.record("\(broke.proof)")
            return
        }
        #expect(
            text.hasPrefix(
                "these tests passed before the change and fail with it (the wider suite, beyond the related tests): t2.py::b"
            ))
        #expect(broke.proof.wider == "failed: 1 tests pass without the change and fail with it (t2.py::b)")
    }

    @Test func theWholeSuiteLeavesTheVerdictWhenItCannotJudge() {
        let input = Self.input(["m.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide)
        // Failing either way: not against the change.
        let either = Self.drive(
            input,
            runs: [
                Self.pytest(), Self.pytest(["t9.py::x"], passed: 39, command: Self.wide),
                Self.pytest(["t9.py::x"], passed: 39, command: Self.wide),
            ])
        #expect(either.proof.evidence == .baselineFailedNowPasses)
        #expect(either.proof.wider == "passed: no test fails that passed without the change; 1 fail either way")
        let slow = Self.drive(
            input, runs: [Self.pytest(), Self.pytest(["t9.py::x"], command: Self.wide, timedOut: true)])
        #expect(slow.proof.evidence == .baselineFailedNowPasses)
        #expect(slow.proof.wider == "could not judge the change: the whole suite did not finish in 900s")
        let garbled = Self.drive(
            input, runs: [Self.pytest(), Self.unreadable(command: Self.wide), Self.unreadable(command: Self.wide)])
        #expect(garbled.proof.evidence == .baselineFailedNowPasses)
        #expect(
            garbled.proof.wider
                == "could not judge the change: the whole suite's output cannot be read test by test (no summary)")
    }

    @Test func theWholeSuiteRunsOnlyInTheTimeTheBudgetLeaves() {
        // 100 s limit, 45 s used: a third of what is left (18 s) is under the 20 s a run is given at least.
        let late = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide, maxTime: 100),
            runs: [Self.pytest()], now: 45)
        #expect(late.proof.wider == "not run: 55s of the run's time left" && late.actions.count == 3)
        // 300 s limit, 60 s used: 80 s for each of the two runs.
        let early = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide, maxTime: 300),
            runs: [Self.pytest(), Self.pytest(command: Self.wide)], now: 60)
        #expect(early.actions.contains(.runTests(command: Self.wide, revert: [], timeout: 80)))
    }

    @Test func theWholeSuiteChecksOnlyPassesAndOnlyWhenItIsWider() {
        let failed = Self.drive(Self.input(["m.py"], wider: Self.wide), runs: [Self.pytest(["t.py::a"], passed: 2)])
        #expect(failed.proof.wider == nil && Self.runs(failed.actions).count == 1)
        let rewritten = Self.drive(
            Self.input(["m.py", "conftest.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.wide),
            runs: [Self.pytest(), Self.pytest(["t.py::a"])])
        #expect(rewritten.proof.wider == nil && rewritten.proof.evidence == .testsRewritten(configurationOnly: false))
        // No related file was found, so the whole suite already judged.
        let same = Self.drive(
            Self.input(["m.py"], baseline: Self.pytest(["t.py::a"]), wider: Self.command), runs: [Self.pytest()])
        #expect(same.proof.wider == nil && Self.runs(same.actions).count == 1)
        // Passed without proof is still checked: a change that breaks a test elsewhere fails either way.
        let idle = Self.drive(
            Self.input(["m.py"], wider: Self.wide), runs: [Self.pytest(), Self.pytest(command: Self.wide)])
        #expect(idle.proof.evidence == .nothingFailedBefore && idle.proof.wider == "passed: 3 passed in 0.10s")
    }

    // MARK: - After the proof

    @Test func aCommitThatIsNotTheJudgedChangeIsNoLongerVerified() {
        let verified = AgentMachine.Outcome(status: .verified, reason: "tests pass", summary: "s")
        let guarded = verified.committed(differingBy: [
            "data.bin left out (12 MB > 10 MB)", "a secret in .env replaced",
        ])
        #expect(guarded.status == .unverified)
        #expect(guarded.reason == "tests pass; data.bin left out (12 MB > 10 MB); a secret in .env replaced")
        #expect(guarded.summary == "s")
        #expect(verified.committed(differingBy: []) == verified)
        let failed = AgentMachine.Outcome(status: .failed, reason: "")
        #expect(failed.committed(differingBy: ["x"]) == AgentMachine.Outcome(status: .failed, reason: "x"))
    }
}
