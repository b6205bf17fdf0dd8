import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryStore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// Whole runs: a fake model over real HTTP, a real git repository, the real sandbox, the real store.
@Suite struct EndToEndTests {
    static let files = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n",
        "AGENTS.md": "Use unittest.",
    ]

    struct Outcome: Sendable {
        var result: RunResult
        var requests: [JSONValue]
        var store: SQLiteRunStore
        var repo: String
    }

    func run(
        _ flavor: FakeModelServer.Flavor, script: [FakeStep], limits: AgentLimits = AgentLimits(repairRounds: 1),
        testCommand: String? = "python3 -m unittest", files: [String: String] = EndToEndTests.files,
        firstAttempt: FerryConfig.FirstAttempt = .off
    ) async throws -> Outcome {
        let repo = try await FixtureRepo.make(files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-data-\(UUID().uuidString.prefix(8))"
        ).path
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = testCommand
        config.limits = limits
        config.firstAttempt = firstAttempt
        let store = try SQLiteRunStore(path: config.storePath)
        let frozen = config
        return try await FakeModelServer.with(flavor, script: script) { server in
            let profile = ModelProfile(
                name: "t", provider: flavor == .openai ? .openai : .anthropic, baseURL: server.baseURL,
                model: flavor == .openai ? "gpt-4.1-mini" : "claude-sonnet-4-5", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(
                profile: profile, apiKey: "secret-key-abcdef123", client: client,
                retry: RetryPolicy(maxAttempts: 2, baseDelay: 0.01))
            let runner = AgentRunner(model: model, store: store, config: frozen, secrets: ["secret-key-abcdef123"])
            let result: RunResult
            do {
                result = try await runner.run(RunRequest(task: "add() returns the wrong sum; fix it", repo: repo))
            } catch {
                try await client.shutdown()
                throw error
            }
            try await client.shutdown()
            return Outcome(result: result, requests: server.requests, store: store, repo: repo)
        }
    }

    static let usage = Usage(inputTokens: 2_000, outputTokens: 100, cachedInputTokens: 1_000)

    static let fixingScript: [FakeStep] = [
        .call("search", ["pattern": "def add"], usage: usage),
        .call("read_file", ["path": "calc.py"], usage: usage),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"], usage: usage),
        .call("shell", ["command": "python3 -m unittest 2>&1 | tail -3; echo KEY=$OPENAI_API_KEY"], usage: usage),
        .call("finish", ["summary": "add() subtracted; it now adds."], usage: usage),
    ]

    /// Files the tests make, edit or delete are put back after each run: the change is the model's alone. A test
    /// command that writes a report, a log and a formatted file (as `make test` may) changed none of them in the
    /// commit, and each run's trace says what was put back.
    @Test func whatTheTestsLeaveBehindIsNotPartOfTheChange() async throws {
        let command =
            "python3 -m unittest; s=$?; date > last-run.txt; echo '# formatted' >> AGENTS.md; "
            + "mkdir -p reports && echo ok > reports/junit.xml; exit $s"
        let outcome = try await run(.openai, script: Self.fixingScript, testCommand: command)
        let result = outcome.result
        #expect(result.status == .verified)
        #expect(RunReport.changedFiles(in: result.diff) == ["calc.py"])
        let committed = try await Git(outcome.repo).run(
            "diff", "--name-only", result.record.base, try #require(result.record.commitSHA))
        #expect(committed == "calc.py\n")
        let tidied = try await outcome.store.events(of: result.record.id).compactMap { event -> [String]? in
            guard case .baseline(let tests) = event.event else { return nil }
            return tests.tidied
        }
        #expect(tidied == [["AGENTS.md", "last-run.txt", "reports/junit.xml"]])
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func fixesTheBugAndVerifies(flavor: FakeModelServer.Flavor) async throws {
        let outcome = try await run(flavor, script: Self.fixingScript)
        let result = outcome.result
        #expect(result.status == .verified)
        #expect(result.record.steps == 5)

        // The branch and its commit, with the user's branch untouched.
        let git = Git(outcome.repo)
        let branchHead = try await git.run("rev-parse", result.record.branch).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(branchHead == result.record.commitSHA)
        #expect(
            try await git.run("rev-parse", "--abbrev-ref", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
                == "main")
        #expect(try String(contentsOfFile: outcome.repo + "/calc.py", encoding: .utf8).contains("a - b"))
        let message = try await git.run("log", "-1", "--format=%B", result.record.branch)
        #expect(message.hasPrefix("ferry: add() returns the wrong sum"))
        #expect(message.contains("add() subtracted; it now adds."))

        // The diff, in the result and in change.patch.
        #expect(result.diff.contains("-    return a - b\n+    return a + b"))
        let patch = try String(contentsOfFile: result.record.runDirectory + "/change.patch", encoding: .utf8)
        #expect(patch == result.diff)

        // Cost from the reported usage: 5 calls × (1,000 uncached × $0.40 + 1,000 cached × $0.10 + 100 out × $1.60) / 1M
        // for gpt-4.1-mini; Anthropic's sonnet: $3 / $0.30 / $15.
        let prices: (Double, Double, Double) = flavor == .openai ? (0.40, 0.10, 1.60) : (3, 0.30, 15)
        let perCall: Double = (1_000 * prices.0 + 1_000 * prices.1 + 100 * prices.2) / 1e6
        #expect(abs(result.record.costUSD - 5 * perCall) < 1e-12)
        #expect(result.record.inputTokens == 10_000)
        #expect(result.record.cachedTokens == 5_000)
        #expect(result.record.outputTokens == 500)

        // The store has the run and every event; trace.jsonl has the same events.
        let stored = try await outcome.store.run(result.record.id)
        #expect(stored?.status == .verified)
        #expect(stored?.commitSHA == result.record.commitSHA)
        let events = try await outcome.store.events(of: result.record.id)
        #expect(events.first?.type == "run.started")
        #expect(events.last?.type == "run.finished")
        #expect(events.filter { $0.type == "tool.result" }.count == 4)
        #expect(events.contains { $0.type == "tests.baseline" && $0.data["passed"] == false })
        #expect(events.contains { $0.type == "verify.result" && $0.data["outcome"] == "passed" })
        let trace = try String(contentsOfFile: result.record.runDirectory + "/trace.jsonl", encoding: .utf8)
        #expect(trace.split(separator: "\n").count == events.count)
        #expect(!trace.contains("secret-key-abcdef123"))
        for name in ["summary.md", "result.json"] {
            #expect(FileManager.default.fileExists(atPath: result.record.runDirectory + "/" + name))
        }
        let resultJSON = JSONValue.parse(
            try String(contentsOfFile: result.record.runDirectory + "/result.json", encoding: .utf8))
        #expect(resultJSON?["status"] == "verified")

        // The sandbox kept the key out of the shell.
        let shellOutput =
            events.first { $0.type == "tool.result" && $0.data["tool"] == "shell" }?.data["output"]?.stringValue ?? ""
        #expect(shellOutput.contains("KEY=\n") || shellOutput.hasSuffix("KEY="))

        // The model saw AGENTS.md, the task and the baseline, and tool results came back to it.
        let first = outcome.requests[0].jsonString
        #expect(first.contains("Use unittest."))
        #expect(first.contains("add() returns the wrong sum"))
        #expect(first.contains("FAILED"))
        #expect(outcome.requests.count == 5)

        // The worktree is gone; the branch stays.
        #expect(!FileManager.default.fileExists(atPath: result.record.runDirectory + "/worktree"))
    }

    /// A project whose `make test` needs a program the sandbox does not have (its recipe runs `uv`, `tox`, ...): the
    /// run says so and judges the change with the next detected command, pytest, instead of going on without tests.
    @Test func aMakeTestThatCannotRunHereGivesWayToPytest() async throws {
        let files = [
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            "pyproject.toml": "[project]\nname = \"calc\"\n",
            "Makefile": "test:\n\tferry-no-such-runner run pytest tests/\n",
        ]
        let outcome = try await run(
            .openai,
            script: [
                .call(
                    "edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"], usage: Self.usage),
                .call("finish", ["summary": "add() adds."], usage: Self.usage),
            ], testCommand: nil, files: files)
        #expect(outcome.result.status == .verified, "\(outcome.result.record.reason)")
        let events = try await outcome.store.events(of: outcome.result.record.id)
        let unusable = try #require(events.first { $0.type == "tests.unusable" })
        #expect(unusable.data["command"] == "make test")
        #expect(unusable.data["output"]?.stringValue?.contains("Error 127") == true)
        let baselines = events.filter { $0.type == "tests.baseline" }
        #expect(
            baselines.map { $0.data["command"]?.stringValue } == [
                "make test", "python3 -m pytest -q -p no:cacheprovider",
            ])
        #expect(baselines.last?.data["passed"] == false)
        // The model was told the command that works.
        #expect(outcome.requests[0].jsonString.contains("python3 -m pytest -q -p no:cacheprovider"))
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func changeThatLeavesTestsFailingIsFailed(flavor: FakeModelServer.Flavor) async throws {
        let outcome = try await run(
            flavor,
            script: [
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a * b"]),
                .call("finish", ["summary": "fixed"]),
                // The repair round: the model insists.
                .call("finish", ["summary": "fixed, really"]),
            ], limits: AgentLimits(repairRounds: 1))
        #expect(outcome.result.status == .failed)
        #expect(outcome.result.record.reason == "tests fail after the change")
        #expect(outcome.result.final?.passed == false)
        // The failure went back to the model once.
        #expect(outcome.requests.count == 3)
        #expect(outcome.requests[2].jsonString.contains("The tests fail after your change"))
        // The failed change is still kept on its branch for inspection.
        #expect(outcome.result.record.commitSHA != nil)
        #expect(try await outcome.store.run(outcome.result.record.id)?.status == .failed)
    }

    // MARK: The whole-file first attempt

    static func wholeFile(_ body: String, then text: String = "add() now adds.") -> FakeStep {
        .reply(text: "calc.py\n```python\n\(body)```\n\(text)", usage: usage)
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func wholeFileAttemptSettlesTheRunInOneReply(flavor: FakeModelServer.Flavor) async throws {
        let outcome = try await run(
            flavor, script: [Self.wholeFile("def add(a, b):\n    return a + b\n")], firstAttempt: .wholeFile)
        let result = outcome.result
        // The baseline failed and now passes: that is proof.
        #expect(result.status == .verified)
        #expect(result.record.reason.contains("they failed before the change"))
        #expect(result.record.summary == "add() now adds.")
        #expect(result.record.steps == 1)
        #expect(result.record.inputTokens == 2_000)
        #expect(result.diff.contains("-    return a - b\n+    return a + b"))
        // One plain request: the file whole, the task, no tools; the tests are not in it.
        #expect(outcome.requests.count == 1)
        let request = outcome.requests[0]
        #expect(request["tools"] == nil)
        #expect(request.jsonString.contains("def add(a, b):\\n    return a - b"))
        #expect(request.jsonString.contains("add() returns the wrong sum"))
        #expect(!request.jsonString.contains("class T(unittest.TestCase)"))
        let events = try await outcome.store.events(of: result.record.id)
        #expect(events.contains { $0.type == "attempt.started" && $0.data["files"] == ["calc.py"] })
    }

    /// On a model that reads prompts slowly (llama.cpp's timings say 60 ms a token), the loop's first prompt keeps to
    /// what it can read in a third of the time left: a large relevant file shown with time to spare is left out,
    /// and the trace says so. The same run without timings shows it.
    @Test func theLoopsFirstPromptKeepsToWhatTheModelReadsInTheTimeLeft() async throws {
        var files = Self.files
        files["helpers.py"] = (0..<120).map { "def add_\($0)(a, b):\n    return add(a, b) + \($0)\n" }.joined()
        let timings =
            #"{"choices":[],"timings":{"prompt_n":1000,"prompt_ms":60000,"predicted_n":100,"predicted_ms":2000}}"#
        let wrong = FakeReply(
            text: "calc.py\n```python\ndef add(a, b):\n    return a * b\n```\n",
            usage: Usage(inputTokens: 400, outputTokens: 20))
        func attempt(timed: Bool) -> [FakeStep] {
            [
                timed ? .events([timings], then: wrong) : .reply(text: wrong.text, usage: wrong.usage),
                .reply(text: "I am not sure.", usage: wrong.usage), .reply(text: "Still not sure.", usage: wrong.usage),
            ]
        }
        let limits = AgentLimits(maxSteps: 12, maxTimeSeconds: 120, repairRounds: 1)
        let slow = try await run(
            .openai, script: attempt(timed: true) + Self.fixingScript, limits: limits, files: files,
            firstAttempt: .wholeFile)
        let loopStart = try #require(slow.requests.first { $0["tools"] != nil }).jsonString
        #expect(!loopStart.contains("## helpers.py"))
        let events = try await slow.store.events(of: slow.result.record.id).map(\.event)
        let note = events.compactMap { if case .loopContext(let m) = $0 { m.message } else { nil } }.first
        #expect(note?.hasPrefix("the first prompt keeps to what the model reads in a third of the time left") == true)
        #expect(note?.contains(" of the 3 relevant files") == true)
        #expect(slow.result.status == .verified)
        let fast = try await run(
            .openai, script: attempt(timed: false) + Self.fixingScript, limits: limits, files: files,
            firstAttempt: .wholeFile)
        #expect(try #require(fast.requests.first { $0["tools"] != nil }).jsonString.contains("## helpers.py"))
        #expect(try await fast.store.events(of: fast.result.record.id).allSatisfy { $0.event.type != "loop.context" })
    }

    /// A suite with a test that fails for reasons of its own (a service the sandbox does not have), and no test of
    /// what the task is about: the attempt's fix leaves that failure as it was, and is handed back unverified, not
    /// undone as "the tests that failed before still fail".
    @Test func aFixBesideTheProjectsOwnFailuresIsKeptUnverified() async throws {
        let files = [
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
            "test_calc.py":
                "import unittest\nfrom calc import sub\n\nclass T(unittest.TestCase):\n    def test_sub(self):\n"
                + "        self.assertEqual(sub(3, 2), 1)\n",
            "test_service.py":
                "import os, unittest\n\nclass S(unittest.TestCase):\n    def test_service_is_up(self):\n"
                + "        self.assertIn('SERVICE_URL', os.environ)\n",
        ]
        let outcome = try await run(
            .openai,
            script: [
                // The reproduction test it is asked for first, not given.
                .reply(text: "I cannot write a test for this.", usage: Self.usage),
                Self.wholeFile("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"),
            ], files: files, firstAttempt: .wholeFile)
        let result = outcome.result
        #expect(result.status == .unverified, "\(result.record.reason)")
        #expect(result.record.reason.contains("taken for the project's own failures"), "\(result.record.reason)")
        #expect(result.diff.contains("-    return a - b\n+    return a + b"))
        #expect(outcome.requests.count == 2)
    }

    @Test func failedAttemptsAreUndoneAndTheLoopIsToldWhatFailed() async throws {
        let outcome = try await run(
            .openai,
            script: [
                Self.wholeFile("def add(a, b):\n    return a * b\n"),
                .reply(text: "I am not sure what to change.", usage: Self.usage),
                Self.wholeFile("def add(a, b):\n    return b - a\n"),
            ] + Self.fixingScript, firstAttempt: .wholeFile)
        let result = outcome.result
        #expect(result.status == .verified)
        #expect(result.record.steps == 3 + 5)
        #expect(result.record.inputTokens == 8 * 2_000)
        // Retries sample; the first reply does not.
        #expect(outcome.requests[0]["temperature"] == nil)
        #expect(outcome.requests[1]["temperature"]?.doubleValue == 0.7)
        // The test failure went back for the second reply; the reply without a file got told so.
        #expect(outcome.requests[1].jsonString.contains("the tests (`python3 -m unittest`) fail"))
        // The reply without a file is not sent back; the request it answered goes again, with a note.
        #expect(outcome.requests[2].jsonString.contains("A reply that changes no file does nothing"))
        #expect(!outcome.requests[2].jsonString.contains("I am not sure what to change."))
        // The loop started from the base (its edit of "return a - b" applied) and heard about the attempt.
        let loopStart = outcome.requests[3].jsonString
        #expect(loopStart.contains("# Earlier attempt"))
        #expect(loopStart.contains("rewrote calc.py"))
        #expect(outcome.requests[3]["tools"] != nil)
        #expect(result.diff.contains("+    return a + b"))
        #expect(!result.diff.contains("b - a"))
    }

    @Test func passingTestsThatDoNotExerciseTheChangeAreNotVerified() async throws {
        var files = Self.files
        files["test_calc.py"] =
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
        // The reproduction request gets no test file back; the fix goes on without one.
        let outcome = try await run(
            .openai,
            script: [
                .reply(text: "I cannot write a test for this.", usage: Self.usage),
                Self.wholeFile("def add(a, b):\n    return a + b\n"),
            ],
            files: files, firstAttempt: .wholeFile)
        #expect(outcome.result.status == .unverified)
        #expect(outcome.result.record.reason.contains("no test failed without the change"))
        #expect(outcome.result.diff.contains("+    return a + b"))
    }

    /// A suite that passes before the fix: it never calls add(2, 3).
    static let blindFiles: [String: String] = [
        "calc.py": files["calc.py"]!, "AGENTS.md": files["AGENTS.md"]!,
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n",
    ]

    static func testFile(_ body: String) -> FakeStep {
        .reply(text: "test_calc.py\n```python\n\(body)```", usage: usage)
    }

    @Test func aReproductionTestThatOnlyAddsIsCommittedAsTheProof() async throws {
        let withTest =
            Self.blindFiles["test_calc.py"]! + "\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
        let outcome = try await run(
            .openai, script: [Self.testFile(withTest), Self.wholeFile("def add(a, b):\n    return a + b\n")],
            files: Self.blindFiles, firstAttempt: .wholeFile)
        let result = outcome.result
        #expect(result.status == .verified)
        #expect(result.record.reason.contains("fail without the change"))
        #expect(result.record.steps == 2)
        #expect(result.diff.contains("+    def test_add(self):"))
        #expect(result.diff.contains("+    return a + b"))
        // Both replies are capped near what they must hold (the test file plus a test; the files plus prose).
        let testCap = outcome.requests[0]["max_tokens"]?.intValue ?? 0
        #expect(testCap > 0 && testCap < 400)
        #expect((outcome.requests[1]["max_tokens"]?.intValue ?? 0) < 400)
        // The fix request is the plain one: the test judges the fix, it does not steer it.
        #expect(!outcome.requests[1].jsonString.contains("test_add"))
    }

    @Test func aReproductionTestProvesAFixWhereAnUnrelatedTestAlreadyFails() async throws {
        // test_net fails before any change, for reasons of its own; the model's test is the only proof there is.
        var files = Self.blindFiles
        files["test_net.py"] =
            "import unittest\n\nclass N(unittest.TestCase):\n    def test_fetch(self):\n        self.fail('no network')\n"
        let withTest =
            Self.blindFiles["test_calc.py"]! + "\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
        let outcome = try await run(
            .openai, script: [Self.testFile(withTest), Self.wholeFile("def add(a, b):\n    return a + b\n")],
            files: files, firstAttempt: .wholeFile)
        let result = outcome.result
        #expect(result.status == .verified)
        #expect(result.record.reason.contains("fail without the change (test_add"))
        #expect(result.record.reason.contains("still fail (test_fetch"))
        #expect(result.record.steps == 2)
        #expect(result.diff.contains("+    def test_add(self):") && result.diff.contains("+    return a + b"))
        #expect(outcome.requests[0].jsonString.contains("test_calc.py"))
    }

    /// The model's test is wrong (2 + 3 is not 6).
    static let wrongTest =
        blindFiles["test_calc.py"]! + "\n    def test_add(self):\n        self.assertEqual(add(2, 3), 6)\n"

    @Test func whenNoFixPassesTheReproductionTestTheFirstFixTheOwnTestsAcceptStands() async throws {
        let fix = Self.wholeFile("def add(a, b):\n    return a + b\n")
        let outcome = try await run(
            .openai, script: [Self.testFile(Self.wrongTest), fix, fix], files: Self.blindFiles, firstAttempt: .wholeFile
        )
        let result = outcome.result
        #expect(result.status == .unverified)
        #expect(result.record.reason.contains("reproduction test Ferry had written"))
        #expect(result.diff.contains("+    return a + b"))
        #expect(!result.diff.contains("test_calc.py"))
        #expect(result.record.steps == 3)
        // The second request carried the reproduction test's failure.
        #expect(outcome.requests[2].jsonString.contains("AssertionError"))
    }

    @Test func aFixThatPassesTheModelsOwnTestOnlyAfterSeeingItFailIsNotVerified() async throws {
        // Wrong test, then a wrong fix that fits it (2 * 3 == 6, 0 * 0 == 0): the labels must not call it verified.
        let outcome = try await run(
            .openai,
            script: [
                Self.testFile(Self.wrongTest), Self.wholeFile("def add(a, b):\n    return a + b\n"),
                Self.wholeFile("def add(a, b):\n    return a * b\n"),
            ],
            files: Self.blindFiles, firstAttempt: .wholeFile)
        #expect(outcome.result.status == .unverified)
        #expect(outcome.result.record.reason.contains("only after seeing that test fail"))
        #expect(outcome.result.diff.contains("test_calc.py"))
    }

    @Test func aReproductionTestThatEditsExistingTestsOnlyJudges() async throws {
        let rewritten =
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(add(2, 3), 5)\n"
        let outcome = try await run(
            .openai, script: [Self.testFile(rewritten), Self.wholeFile("def add(a, b):\n    return a + b\n")],
            files: Self.blindFiles, firstAttempt: .wholeFile)
        let result = outcome.result
        #expect(result.status == .unverified)
        #expect(result.record.reason.contains("left out of the change"))
        #expect(result.diff.contains("+    return a + b"))
        #expect(!result.diff.contains("test_calc.py"))
    }

    @Test func aReproductionTestThatPassesBeforeTheFixIsDropped() async throws {
        let useless =
            Self.blindFiles["test_calc.py"]! + "\n    def test_one(self):\n        self.assertEqual(add(1, 0), 1)\n"
        let outcome = try await run(
            .openai,
            script: [Self.testFile(useless), Self.wholeFile("def add(a, b):\n    return a + b\n")],
            files: Self.blindFiles, firstAttempt: .wholeFile)
        #expect(outcome.result.status == .unverified)
        #expect(!outcome.result.diff.contains("test_one"))
        let events = try await outcome.store.events(of: outcome.result.record.id)
        #expect(events.contains { $0.type == "attempt.reproduction" && $0.data["kept"] == false })
    }

    @Test func finishingWithoutAChangeIsFailedNotVerified() async throws {
        let outcome = try await run(
            .openai, script: [.call("finish", ["summary": "looks fine to me"])], limits: AgentLimits(repairRounds: 0))
        #expect(outcome.result.status == .failed)
        #expect(outcome.result.record.reason == "no change")
        #expect(outcome.result.record.commitSHA == nil)
        let branches = try await Git(outcome.repo).run("branch", "--list", "ferry/*")
        #expect(branches.isEmpty)
    }

    @Test func noTestCommandMeansUnverified() async throws {
        let outcome = try await run(
            .openai,
            script: [
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
                .call("finish", ["summary": "fixed"]),
            ], testCommand: nil, files: ["calc.py": Self.files["calc.py"]!])
        #expect(outcome.result.status == .unverified)
        #expect(outcome.result.status.exitCode == 3)
        #expect(outcome.result.baseline == nil)
        #expect(outcome.result.record.commitSHA != nil)
    }

    @Test func aTestCommandThatCannotStartIsTreatedAsNone() async throws {
        let outcome = try await run(
            .openai,
            script: [
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
                .call("finish", ["summary": "fixed"]),
            ], testCommand: "no-such-test-runner --all")
        #expect(outcome.result.status == .unverified)
        #expect(outcome.result.record.reason == "no test command could judge the change")
        let events = try await outcome.store.events(of: outcome.result.record.id)
        #expect(events.contains { $0.type == "tests.unusable" && $0.data["command"] == "no-such-test-runner --all" })
        #expect(outcome.requests[0].jsonString.contains("No test command was found"))
    }

    @Test func stepLimitStopsCleanlyAndKeepsThePartialDiff() async throws {
        let outcome = try await run(
            .openai,
            script: [
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return b - a"]),
                .call("read_file", ["path": "calc.py"]),
                .call("read_file", ["path": "calc.py"]),
            ], limits: AgentLimits(maxSteps: 2))
        #expect(outcome.result.status == .limit)
        #expect(outcome.result.limit == .steps)
        #expect(outcome.result.status.exitCode == 4)
        #expect(outcome.result.diff.contains("return b - a"))
        let trace = try String(contentsOfFile: outcome.result.record.runDirectory + "/trace.jsonl", encoding: .utf8)
        #expect(trace.contains("\"limit\":\"steps\""))
    }

    @Test func costLimitStops() async throws {
        let expensive = Usage(inputTokens: 1_000_000, outputTokens: 0)  // $0.40 a call at gpt-4.1-mini prices
        let outcome = try await run(
            .openai,
            script: [
                .call("read_file", ["path": "calc.py"], usage: expensive),
                .call("read_file", ["path": "calc.py"], usage: expensive),
                .call("read_file", ["path": "calc.py"], usage: expensive),
            ], limits: AgentLimits(maxCostUSD: 0.75))
        #expect(outcome.result.status == .limit)
        #expect(outcome.result.limit == .cost)
        #expect(outcome.requests.count == 2)
        #expect(abs(outcome.result.record.costUSD - 0.80) < 1e-9)
    }

    @Test func timeLimitStopsAHangingModelCall() async throws {
        let outcome = try await run(
            .openai,
            script: [
                .call("read_file", ["path": "calc.py"]),
                .delay(seconds: 300, then: FakeReply(text: "too late")),
            ], limits: AgentLimits(maxTimeSeconds: 3))
        #expect(outcome.result.status == .limit)
        #expect(outcome.result.limit == .time)
        // Far below the 300 s the model would hang. The run's own wall time: in the whole suite on two cores, the
        // test's clock also counted up to 90 s of waiting for its turn (making the fixture, the pool's threads).
        #expect(outcome.result.record.wallSeconds > 2.5 && outcome.result.record.wallSeconds < 60)
    }

    @Test func threeMalformedRepliesStopTheRun() async throws {
        let outcome = try await run(
            .openai,
            script: [
                .reply(text: "I think I know."),
                .reply(toolCalls: [FakeToolCall(name: "read_file", arguments: "{bad")]),
                .reply(text: "still thinking"),
            ])
        #expect(outcome.result.status == .failed)
        #expect(outcome.result.record.reason.contains("3 malformed replies"))
    }

    @Test func modelErrorEndsTheRunAndIsRecorded() async throws {
        let outcome = try await run(.openai, script: [.status(401)])
        #expect(outcome.result.status == .failed)
        #expect(outcome.result.record.reason.contains("$K"))
        let stored = try await outcome.store.events(of: outcome.result.record.id)
        #expect(stored.contains { $0.type == "model.error" })
    }
}

@Suite struct InterruptTests {
    @Test func cancellingARunStillRecordsIt() async throws {
        let repo = try await FixtureRepo.make(EndToEndTests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-data-\(UUID().uuidString.prefix(8))"
        ).path
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = "python3 -m unittest"
        config.firstAttempt = .off
        let store = try SQLiteRunStore(path: config.storePath)
        let frozen = config
        let result = try await FakeModelServer.with(
            .openai,
            script: [
                .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
                .delay(seconds: 30, then: FakeReply(text: "never")),
            ]
        ) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
            let client = ModelFactory.httpClient(for: profile)
            let runner = AgentRunner(
                model: ModelFactory.make(profile: profile, apiKey: nil, client: client), store: store, config: frozen)
            let task = Task { try await runner.run(RunRequest(task: "fix add", repo: repo)) }
            while server.requests.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
            task.cancel()
            let result = try await task.value
            try await client.shutdown()
            return result
        }
        #expect(result.record.reason == "interrupted")
        #expect(result.diff.contains("return a + b"))
        #expect(result.record.commitSHA != nil)
        #expect(try await store.run(result.record.id)?.reason == "interrupted")
        #expect(FileManager.default.fileExists(atPath: result.record.runDirectory + "/result.json"))
    }
}
