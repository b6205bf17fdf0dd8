import FerryCore
import FerryModels
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryAgent

@Suite struct ChangeProofTests {
    /// A repo whose one test passes before any change: it does not exercise `double`.
    static let files = [
        "m.py": "def double(x):\n    return x + x\n\ndef half(x):\n    return x * 2\n",
        "tests/__init__.py": "",
        "tests/test_m.py":
            "import unittest\nfrom m import double\n\nclass T(unittest.TestCase):\n    def test_double(self):\n        self.assertEqual(double(2), 4)\n",
    ]

    func judge(_ repo: String, baseline: TestRun?) async throws -> AgentMachine.Verification {
        let git = Git(repo)
        let base = try await git.resolve("HEAD")
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let command = "python3 -m unittest -q"
        let changed = try await git.changedFiles(against: base)
        // The machine decides; ChangeProof performs each step in the real repository, as a run's executor does.
        var machine = ProofMachine(.init(changed: changed, testCommand: command, baseline: baseline, testTimeout: 60))
        var action = machine.start()
        while true {
            if case .done(let proof) = action { return proof.verification }
            action = machine.handle(
                try await ChangeProof.perform(action, base: base, git: git, root: repo, runner: runner, now: { 0 }))
        }
    }

    @Test func passingTestsThatNeverFailedProveNothing() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let baseline = try await TestRun.run("python3 -m unittest -q", in: repo, runner: runner, timeout: 60)
        #expect(baseline.passed)
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n".write(
            toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .passedWithoutProof = try await judge(repo, baseline: baseline) else {
            Issue.record("expected passedWithoutProof")
            return
        }
    }

    @Test func aBaselineThatFailedAndNowPassesIsProof() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let failed = TestRun(
            command: "python3 -m unittest -q", exitCode: 1, timedOut: false, durationSeconds: 0, output: "FAILED")
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n".write(
            toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .passed(let detail) = try await judge(repo, baseline: failed) else {
            Issue.record("expected passed")
            return
        }
        #expect(detail.contains("failed before the change"))
    }

    @Test func anAddedTestThatFailsWithoutTheCodeChangeIsProofAndTheChangeIsRestored() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let fixed = "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n"
        let test =
            Self.files["tests/test_m.py"]!
            + "\n    def test_half(self):\n        from m import half\n        self.assertEqual(half(4), 2)\n"
        try fixed.write(toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        try test.write(toFile: repo + "/tests/test_m.py", atomically: true, encoding: .utf8)
        // A new code file the change adds is taken out for the check and put back after.
        try "VALUE = 3\n".write(toFile: repo + "/extra.py", atomically: true, encoding: .utf8)
        guard case .passed(let detail) = try await judge(repo, baseline: nil) else {
            Issue.record("expected passed")
            return
        }
        #expect(detail.contains("tests/test_m.py"))
        #expect(try String(contentsOfFile: repo + "/m.py", encoding: .utf8) == fixed)
        #expect(try String(contentsOfFile: repo + "/tests/test_m.py", encoding: .utf8) == test)
        #expect(try String(contentsOfFile: repo + "/extra.py", encoding: .utf8) == "VALUE = 3\n")

        // A test added alongside that passes either way proves nothing.
        let repo2 = try await FixtureRepo.make(Self.files)
        try fixed.write(toFile: repo2 + "/m.py", atomically: true, encoding: .utf8)
        try (Self.files["tests/test_m.py"]! + "\n    def test_more(self):\n        self.assertEqual(double(0), 0)\n")
            .write(toFile: repo2 + "/tests/test_m.py", atomically: true, encoding: .utf8)
        guard case .passedWithoutProof = try await judge(repo2, baseline: nil) else {
            Issue.record("expected passedWithoutProof")
            return
        }
    }

    /// A project with a test that fails whatever the change (it needs a service this machine lacks), and a bug in
    /// `half` that `test_half` shows.
    static let brokenFiles = [
        "m.py": "def double(x):\n    return x + x\n\ndef half(x):\n    return x * 2\n",
        "tests/__init__.py": "",
        "tests/test_m.py": """
        import os, unittest
        from m import double, half

        class T(unittest.TestCase):
            def test_double(self):
                self.assertEqual(double(2), 4)
            def test_half(self):
                self.assertEqual(half(4), 2)
            def test_service(self):
                self.assertTrue(os.environ.get("FERRY_NEVER_SET"), "needs the service")

        """,
    ]

    @Test func testsThatFailedBeforeTheChangeDoNotCountAgainstItTestByTest() async throws {
        let repo = try await FixtureRepo.make(Self.brokenFiles)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let baseline = try await TestRun.run("python3 -m unittest -q", in: repo, runner: runner, timeout: 60)
        #expect(!baseline.passed)
        #expect(TestFailures.read(baseline)?.failed.count == 2)

        // The fix: test_half passes now, test_service still fails as before. That is proof.
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n".write(
            toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .passed(let detail) = try await judge(repo, baseline: baseline) else {
            Issue.record("expected passed")
            return
        }
        #expect(detail.contains("1 failed before the change and pass with it (test_half"))
        #expect(detail.contains("1 failed before the change and still fail (test_service"))

        // A change that breaks a test that passed: failed, naming it, whatever else failed before.
        try "def double(x):\n    return x * 3\n\ndef half(x):\n    return x / 2\n".write(
            toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .failed(let why) = try await judge(repo, baseline: baseline) else {
            Issue.record("expected failed")
            return
        }
        #expect(why.contains("passed before the change and fail with it: test_double"))

        // A change that breaks nothing but fixes none of the failing tests: they may be the task, so it fails, and
        // the message says which still fail.
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x * 2  # unchanged behaviour\n".write(
            toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .failed(let note) = try await judge(repo, baseline: baseline) else {
            Issue.record("expected failed")
            return
        }
        #expect(note.contains("none of them passes now: test_half"))

        // A test the change adds, failing without its code, is proof even while test_service fails throughout.
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x * 2\n\ndef third(x):\n    return x / 3\n"
            .write(toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        let added =
            Self.brokenFiles["tests/test_m.py"]!
            + "    def test_third(self):\n        from m import third\n        self.assertEqual(third(9), 3)\n"
        try added.write(toFile: repo + "/tests/test_m.py", atomically: true, encoding: .utf8)
        guard case .passed(let proof) = try await judge(repo, baseline: baseline) else {
            Issue.record("expected passed")
            return
        }
        #expect(proof.contains("the changed tests fail without the change (test_third"))
    }
}
