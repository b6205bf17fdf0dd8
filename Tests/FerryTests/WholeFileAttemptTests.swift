@testable import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@Suite struct WholeFileReplyTests {
    static let calc = "def add(a, b):\n    return a - b\n"
    static let allowed = ["calc.py": calc, "src/util/strings.py": "def up(s):\n    return s\n"]

    @Test func pathLineThenFence() {
        let reply = WholeFileReply.parse(
            "Here is the fix.\n\ncalc.py\n```python\ndef add(a, b):\n    return a + b\n```\nadd() now adds.",
            allowed: Self.allowed)
        #expect(reply.files == [.init(path: "calc.py", content: "def add(a, b):\n    return a + b\n")])
        #expect(reply.problems.isEmpty)
    }

    @Test func decoratedPathLinesAndInfoStrings() {
        for text in [
            "**calc.py**\n```python\nX\n```", "### `calc.py`:\n\n```\nX\n```", "File: ./calc.py\n```py\nX\n```",
            "```python calc.py\nX\n```", "```\ncalc.py\n```python\nX\n```",
        ] {
            let reply = WholeFileReply.parse(text, allowed: Self.allowed)
            #expect(reply.files == [.init(path: "calc.py", content: "X\n")], "\(text)")
        }
    }

    @Test func aFileNameMatchesTheOneFileWithThatEnding() {
        let reply = WholeFileReply.parse("strings.py\n```python\ndef up(s):\n    return s.upper()\n```", allowed: Self.allowed)
        #expect(reply.files.map(\.path) == ["src/util/strings.py"])
    }

    @Test func oneUnnamedBlockIsTheOneFileGiven() {
        let one = ["calc.py": Self.calc]
        #expect(WholeFileReply.parse("```python\nY\n```", allowed: one).files.map(\.path) == ["calc.py"])
        // With two files it cannot be told which, and a shell block is not a Python file.
        #expect(WholeFileReply.parse("```python\nY\n```", allowed: Self.allowed).files.isEmpty)
        #expect(WholeFileReply.parse("```bash\npython3 -m unittest\n```", allowed: one).files.isEmpty)
        // But it is a shell script, and a numbered path line names it.
        let script = ["bin/greet.sh": "#!/usr/bin/env bash\necho \"Hello, $1!\"\n"]
        #expect(WholeFileReply.parse("```bash\n#!/usr/bin/env bash\necho hi\n```", allowed: script).files.count == 1)
        #expect(WholeFileReply.parse("Files:\n\n1. `bin/greet.sh`\n```bash\necho hi\n```", allowed: script).files.first?.path == "bin/greet.sh")
    }

    @Test func withOneFileTheFirstUnnamedBlockCarryingItsDefinitionIsIt() {
        let one = ["calc.py": Self.calc]
        let reply = WholeFileReply.parse(
            "The fix:\n\n```python\nimport math\n```\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThen:\n```python\n# Task\ndef add(a, b):\n```",
            allowed: one)
        #expect(reply.files == [.init(path: "calc.py", content: "def add(a, b):\n    return a + b\n")])
        // Named blocks win over guessing.
        let named = WholeFileReply.parse("```python\ndef add(a, b):\n    pass\n```\ncalc.py\n```python\nZ\n```", allowed: one)
        #expect(named.files.map(\.content) == ["Z\n"])
    }

    @Test func unknownPathsCutOffBlocksAndElisionsAreRefused() {
        let other = WholeFileReply.parse("tests/test_calc.py\n```python\nimport calc\n```", allowed: Self.allowed)
        #expect(other.files.isEmpty)
        #expect(other.problems.first?.contains("tests/test_calc.py is not one of the files") == true)

        let cut = WholeFileReply.parse("calc.py\n```python\ndef add(a, b):\n    return a +", allowed: Self.allowed)
        #expect(cut.files.isEmpty)
        #expect(cut.problems.first?.contains("cut off") == true)

        for elided in ["    # ... rest of the code ...", "    // existing code unchanged", "..."] {
            let reply = WholeFileReply.parse("calc.py\n```python\ndef add(a, b):\n\(elided)\n```", allowed: Self.allowed)
            #expect(reply.files.isEmpty, "\(elided)")
            #expect(reply.problems.first?.contains("leaves code out") == true)
        }
        // `...` that the file itself has (a Python stub) is code, not an elision.
        let stub = ["p.py": "class P:\n    ...\n"]
        #expect(WholeFileReply.parse("p.py\n```python\nclass P:\n    ...\n\nx = 1\n```", allowed: stub).files.count == 1)
    }

    @Test func aBlockMuchShorterThanTheFileIsAFragment() {
        let long = (1...20).map { "def f\($0)():\n    return \($0)\n" }.joined()
        let reply = WholeFileReply.parse("m.py\n```python\ndef f3():\n    return 4\n```", allowed: ["m.py": long])
        #expect(reply.files.isEmpty)
        #expect(reply.problems.first?.contains("has 2 lines but the file has 40") == true)
    }

    @Test func aWhollyIndentedCopyIsDedented() {
        let script = ["bin/b.sh": "#!/usr/bin/env bash\nset -eu\ncp $1 $1.bak\n"]
        let reply = WholeFileReply.parse("bin/b.sh\n```bash\n    #!/usr/bin/env bash\n    set -eu\n\n    cp \"$1\" \"$1.bak\"\n```", allowed: script)
        #expect(reply.files.first?.content == "#!/usr/bin/env bash\nset -eu\n\ncp \"$1\" \"$1.bak\"\n")
        // A file whose lines are all indented anyway keeps them.
        let nested = ["n.txt": "  a\n  b\n"]
        #expect(WholeFileReply.parse("n.txt\n```\n  a\n  c\n```", allowed: nested).files.first?.content == "  a\n  c\n")
    }

    @Test func severalFilesInOrder() {
        let reply = WholeFileReply.parse(
            "calc.py\n```\nA\n```\nsrc/util/strings.py\n```\nB\n```", allowed: Self.allowed)
        #expect(reply.files.map(\.path) == ["calc.py", "src/util/strings.py"])
    }
}

@Suite struct ReproductionTests {
    @Test func addedLinesKeepEveryOriginalLineInOrder() {
        let original = "import x\n\nclass T:\n    def test_a(self):\n        assert 1\n"
        #expect(AttemptPrompts.addedLines(original: original, new: original + "\n    def test_b(self):\n        assert 2\n")
            == "    def test_b(self):\n        assert 2")
        // Inserted in the middle is still adding.
        #expect(AttemptPrompts.addedLines(original: original, new: "import x\nimport y\n\nclass T:\n    def test_a(self):\n        assert 1\n") == "import y")
        // Changing or dropping a line is not, and neither is adding nothing.
        #expect(AttemptPrompts.addedLines(original: original, new: original.replacingOccurrences(of: "assert 1", with: "assert 3")) == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: "import x\n") == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: original) == nil)
    }
}

extension ReproductionTests {
    @Test func theTestFileIsTheOneAboutTheFilesBeingFixed() async throws {
        let files = [
            "bin/greet.sh": "echo hi\n", "tests/test_basic.sh": "test -x bin/greet.sh\n", "tests/test_other.sh": "true\n",
            "Sources/Text.swift": "func titleCase() {}\n", "tests/visible/main.swift": "assert(titleCase(\"a b\") == \"A B\")\n",
            "grades.py": "def grade(s): pass\n", "tests/test_grades.py": "from grades import grade\n",
            "tests/test_misc.py": "import os\n",
        ]
        let root = try await FixtureRepo.make(files)
        func pick(_ task: String, _ path: String) -> String? {
            let editable = [RelevantFiles.File(path: path, text: files[path]!, score: 10)]
            return AttemptFiles.testFile(
                task: task, editable: editable, files: files.keys.sorted(), root: root, maxOutputTokens: 1024)?.path
        }
        #expect(pick("bin/greet.sh NAME fails without a name", "bin/greet.sh") == "tests/test_basic.sh")
        #expect(pick("`titleCase(_:)` in Sources/Text.swift lowercases words", "Sources/Text.swift") == "tests/visible/main.swift")
        #expect(pick("grade(score) in grades.py is off by one", "grades.py") == "tests/test_grades.py")
        #expect(pick("nothing relates", "bin/greet.sh") == "tests/test_basic.sh")
        // Nothing about the file: no test file.
        let lone = try await FixtureRepo.make(["lib.py": "x = 1\n", "tests/test_misc.py": "import os\n"])
        #expect(AttemptFiles.testFile(
            task: "x should be 2", editable: [RelevantFiles.File(path: "lib.py", text: "x = 1\n", score: 10)],
            files: ["lib.py", "tests/test_misc.py"], root: lone, maxOutputTokens: 1024) == nil)
    }
}

extension ReproductionTests {
    @Test func aTaskInPlainWordsOnAFewSourceFilesUsesThem() async throws {
        let files = ["cart.py": "def total(items):\n    return 0\n", "test_cart.py": "import cart\n", "README.md": "# Cart\n"]
        let root = try await FixtureRepo.make(files)
        let chosen = AttemptFiles.smallRepositoryFiles(files: files.keys.sorted(), root: root, maxOutputTokens: 1024)
        #expect(chosen.map(\.path) == ["cart.py"])
        // Too many source files, or one too big to come back whole: none.
        let many = ["a.py", "b.py", "c.py", "d.py"]
        let manyRoot = try await FixtureRepo.make(Dictionary(uniqueKeysWithValues: many.map { ($0, "x = 1\n") }))
        #expect(AttemptFiles.smallRepositoryFiles(files: many, root: manyRoot, maxOutputTokens: 1024).isEmpty)
        let big = try await FixtureRepo.make(["big.py": String(repeating: "x = 1\n", count: 1_000)])
        #expect(AttemptFiles.smallRepositoryFiles(files: ["big.py"], root: big, maxOutputTokens: 1024).isEmpty)
    }
}

@Suite struct TestPathsTests {
    @Test func conventions() {
        for path in [
            "tests/test_a.py", "test_a.py", "a_test.go", "pkg/a_tests.py", "conftest.py", "src/a.test.js",
            "web/__tests__/a.js", "spec/a_spec.rb", "Tests/FerryTests/AgentTests.swift", "FooTest.java",
            "tests/visible/main.swift", "testing/python/approx.py",
        ] {
            #expect(TestPaths.isTest(path), "\(path)")
        }
        for path in ["calc.py", "src/latest.py", "contest.py", "attestation/a.py", "Sources/Stats.swift", "bin/test.sh.in"] {
            #expect(!TestPaths.isTest(path), "\(path)")
        }
    }
}

@Suite struct TestProtectionTests {
    func toolbox(task: String) async throws -> (ToolBox, String) {
        let repo = try await FixtureRepo.make(["calc.py": "x = 1\n", "tests/test_calc.py": "import calc\n"])
        let workspace = try Workspace(root: repo)
        var configuration = ToolBox.Configuration()
        configuration.protectedTests = .allExcept(mentionedIn: task)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: workspace.root))
        return (ToolBox(workspace: workspace, runner: runner, configuration: configuration), repo)
    }

    func call(_ tools: ToolBox, _ name: String, _ args: JSONValue) async -> AgentMachine.ToolResult {
        await tools.execute(ToolCall(id: "t", name: name, arguments: args.jsonString))
    }

    @Test func anExistingTestCannotBeOverwrittenUnlessTheTaskNamesIt() async throws {
        let (tools, repo) = try await toolbox(task: "x should be 2")
        let overwrite = await call(tools, "write_file", ["path": "tests/test_calc.py", "content": "pass\n"])
        #expect(overwrite.isError)
        #expect(overwrite.output.contains("existing test file"))
        #expect(try String(contentsOfFile: repo + "/tests/test_calc.py", encoding: .utf8) == "import calc\n")
        let change = await call(tools, "edit_file", ["path": "tests/test_calc.py", "old": "import calc", "new": "import os"])
        #expect(change.isError)
        #expect(change.output.contains("may only add"))
        // Adding to it, a new test file, and code are all fine.
        #expect(!(await call(tools, "edit_file", ["path": "tests/test_calc.py", "old": "import calc", "new": "import calc\nimport os"])).isError)
        #expect(!(await call(tools, "write_file", ["path": "tests/test_new.py", "content": "pass\n"])).isError)
        #expect(!(await call(tools, "write_file", ["path": "calc.py", "content": "x = 2\n"])).isError)

        // Rewriting keeps a file's mode: an executable script stays executable.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: repo + "/calc.py")
        #expect(!(await call(tools, "write_file", ["path": "calc.py", "content": "x = 3\n"])).isError)
        #expect(!(await call(tools, "edit_file", ["path": "calc.py", "old": "x = 3", "new": "x = 4"])).isError)
        let mode = try FileManager.default.attributesOfItem(atPath: repo + "/calc.py")[.posixPermissions] as? Int
        #expect(mode == 0o755)

        let (named, _) = try await toolbox(task: "rewrite tests/test_calc.py to use pytest")
        #expect(!(await call(named, "write_file", ["path": "tests/test_calc.py", "content": "pass\n"])).isError)
    }
}

@Suite struct ChangeProofTests {
    /// A repo whose one test passes before any change: it does not exercise `double`.
    static let files = [
        "m.py": "def double(x):\n    return x + x\n\ndef half(x):\n    return x * 2\n",
        "tests/__init__.py": "",
        "tests/test_m.py": "import unittest\nfrom m import double\n\nclass T(unittest.TestCase):\n    def test_double(self):\n        self.assertEqual(double(2), 4)\n",
    ]

    func judge(_ repo: String, baseline: TestRun?) async throws -> AgentMachine.Verification {
        let git = Git(repo)
        let base = try await git.resolve("HEAD")
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let command = "python3 -m unittest -q"
        let final = try await TestRun.run(command, in: repo, runner: runner, timeout: 60)
        let changed = try await git.changedFiles(against: base)
        return try await ChangeProof.judge(
            final: final, baseline: baseline, changed: changed, base: base, git: git, root: repo, runner: runner,
            timeout: 60)
    }

    @Test func passingTestsThatNeverFailedProveNothing() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let baseline = try await TestRun.run("python3 -m unittest -q", in: repo, runner: runner, timeout: 60)
        #expect(baseline.passed)
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n".write(toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .passedWithoutProof = try await judge(repo, baseline: baseline) else {
            Issue.record("expected passedWithoutProof"); return
        }
    }

    @Test func aBaselineThatFailedAndNowPassesIsProof() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let failed = TestRun(command: "python3 -m unittest -q", exitCode: 1, timedOut: false, durationSeconds: 0, output: "FAILED")
        try "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n".write(toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        guard case .passed(let detail) = try await judge(repo, baseline: failed) else {
            Issue.record("expected passed"); return
        }
        #expect(detail.contains("failed before the change"))
    }

    @Test func anAddedTestThatFailsWithoutTheCodeChangeIsProofAndTheChangeIsRestored() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let fixed = "def double(x):\n    return x + x\n\ndef half(x):\n    return x / 2\n"
        let test = Self.files["tests/test_m.py"]! + "\n    def test_half(self):\n        from m import half\n        self.assertEqual(half(4), 2)\n"
        try fixed.write(toFile: repo + "/m.py", atomically: true, encoding: .utf8)
        try test.write(toFile: repo + "/tests/test_m.py", atomically: true, encoding: .utf8)
        // A new code file the change adds is taken out for the check and put back after.
        try "VALUE = 3\n".write(toFile: repo + "/extra.py", atomically: true, encoding: .utf8)
        guard case .passed(let detail) = try await judge(repo, baseline: nil) else {
            Issue.record("expected passed"); return
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
            Issue.record("expected passedWithoutProof"); return
        }
    }
}

@Suite struct WholeFileAttemptMachineTests {
    @Test func testsWithoutProofGetOneRequestForATestThenUnverified() {
        var m = AgentMachine(history: [.system("s"), .user("t", pinned: true)], limits: AgentLimits(), contextWindow: 100_000)
        _ = m.handle(.start(now: 0))
        let finish = ModelReply(content: "", toolCalls: [ToolCall(id: "f", name: "finish", arguments: #"{"summary":"s"}"#)])
        _ = m.handle(.modelReplied(finish, cost: 0, now: 1))
        guard case .callModel(let history) = m.handle(.verified(.passedWithoutProof("tests pass"), now: 2)) else {
            Issue.record("expected another model call"); return
        }
        #expect(history.last?.content.contains("Add a test") == true)
        _ = m.handle(.modelReplied(ModelReply(content: "", toolCalls: [ToolCall(id: "g", name: "finish", arguments: "{}")]), cost: 0, now: 3))
        guard case .stop(let outcome) = m.handle(.verified(.passedWithoutProof("tests pass"), now: 4)) else {
            Issue.record("expected stop"); return
        }
        #expect(outcome.status == .unverified)
        #expect(outcome.reason.contains("no test failed without the change"))
    }

    @Test func callsOutsideTheLoopCountAndTheCostLimitHolds() {
        var budget = Budget(limits: AgentLimits(maxCostUSD: 0.01))
        budget.spend(Usage(inputTokens: 500, outputTokens: 50), cost: 0.02)
        var m = AgentMachine(history: [.system("s")], budget: budget, contextWindow: 100_000)
        #expect(m.steps == 1 && m.usage.inputTokens == 500)
        guard case .stop(let outcome) = m.handle(.start(now: 0)) else { Issue.record("expected stop"); return }
        #expect(outcome.limit == .cost)
    }

    @Test func aRepeatedPlanThatEndsInFinishIsStillARepeat() {
        var m = AgentMachine(history: [.system("s"), .user("t", pinned: true)], limits: AgentLimits(), contextWindow: 100_000)
        _ = m.handle(.start(now: 0))
        let calls = [
            ToolCall(id: "a", name: "edit_file", arguments: #"{"path":"t.py","old":"x","new":"y"}"#),
            ToolCall(id: "b", name: "finish", arguments: #"{"summary":"s"}"#),
        ]
        _ = m.handle(.modelReplied(ModelReply(content: "", toolCalls: calls), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "a", name: "edit_file", output: "Error: not found", isError: true), now: 2))
        guard case .callModel(let history) = m.handle(.modelReplied(ModelReply(content: "", toolCalls: calls), cost: 0, now: 3)) else {
            Issue.record("expected the repeat to be refused"); return
        }
        #expect(history.last?.content.contains("You already made this exact call") == true)
        #expect(m.consecutiveMalformed == 1)
    }
}
