import FerryCore
import Testing

/// Reading which tests a run failed, and comparing a run with the baseline test by test.
@Suite struct TestFailuresTests {
    static func run(_ output: String, exit: Int32 = 1, timedOut: Bool = false) -> TestRun {
        TestRun(command: "t", exitCode: exit, timedOut: timedOut, durationSeconds: 1, output: output)
    }

    @Test func pytestSummariesAreReadOnlyWhenTheyAccountForEveryFailure() {
        let output = """
            ..F.E
            =========================== short test summary info ============================
            FAILED tests/test_a.py::test_one - AssertionError: 1 != 2
            ERROR tests/test_b.py::test_two - RuntimeError
            ============= 1 failed, 3 passed, 1 error in 0.12s =============
            """
        let read = TestFailures.read(Self.run(output))
        #expect(
            read == TestFailures(failed: ["tests/test_a.py::test_one", "tests/test_b.py::test_two"], passedCount: 3))
        // `-rN` (no short summary): the count says 1 failed but no line names it.
        #expect(TestFailures.read(Self.run("F..\n1 failed, 2 passed in 0.1s")) == nil)
        // Old pytest's "in 0.43 seconds", and a timed-out run is never read.
        #expect(TestFailures.read(Self.run("8 passed in 0.43 seconds", exit: 0))?.passedCount == 8)
        #expect(TestFailures.read(Self.run(output, timedOut: true)) == nil)
    }

    @Test func sympyAndUnittestOutputsNameTheirFailures() {
        let sympy = """
            sympy/core/tests/test_a.py[3] .F.                                           [FAIL]
            ________________________________________________________________________________
            __________________ sympy/core/tests/test_a.py:test_mod _________________________
            AssertionError
            tests finished: 9 passed, 1 failed, 1 expected to fail, in 1.30 seconds
            """
        #expect(
            TestFailures.read(Self.run(sympy))
                == TestFailures(failed: ["sympy/core/tests/test_a.py:test_mod"], passedCount: 9))
        let unittest = """
            ======================================================================
            FAIL: test_half (tests.test_m.T.test_half)
            ----------------------------------------------------------------------
            Ran 3 tests in 0.001s

            FAILED (failures=1, skipped=1)
            """
        #expect(
            TestFailures.read(Self.run(unittest))
                == TestFailures(failed: ["test_half (tests.test_m.T.test_half)"], passedCount: 1))
    }

    @Test func aComparisonNamesNewFailuresAndWhatTheChangeFixed() {
        func pytest(_ failed: [String], passed: Int) -> TestRun {
            let lines = failed.map { "FAILED \($0) - boom" }.joined(separator: "\n")
            return Self.run("\(lines)\n\(failed.count) failed, \(passed) passed in 1.0s", exit: failed.isEmpty ? 0 : 1)
        }
        let baseline = pytest(["t::env", "t::bug"], passed: 5)
        #expect(
            TestFailures.compare(pytest(["t::env"], passed: 6), baseline: baseline)
                == .noWorse(fixed: ["t::bug"], stillFailing: ["t::env"]))
        #expect(
            TestFailures.compare(pytest(["t::env", "t::ok"], passed: 5), baseline: baseline)
                == .worse(newlyFailing: ["t::ok"]))
        // A failing test that went missing (no more passes than before) is not a fix.
        #expect(TestFailures.compare(pytest(["t::env"], passed: 5), baseline: baseline) == .unknown)
        #expect(TestFailures.compare(pytest(["t::env"], passed: 6), baseline: nil) == .unknown)
        #expect(
            TestFailures.compare(pytest(["t::env"], passed: 6), baseline: Self.run("Segmentation fault")) == .unknown)
    }

    @Test func aVerdictIsTheSentenceBeforeTheTestsOwnDescription() {
        let run = Self.run("FAILED t::a - boom\n1 failed, 2 passed in 0.1s")
        #expect(TestRun.verdict(in: run.describe()) == nil)
        #expect(
            TestRun.verdict(in: "these tests passed before the change and fail with it: t::a\n" + run.describe())
                == "These tests passed before the change and fail with it: t::a.")
    }
}
