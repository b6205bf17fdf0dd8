import FerryCore
import Testing

/// The run's setup rules and the budget the phases share.
@Suite struct RunMachineTests {
    static let file = SourceFile(path: "calc.py", text: "def add(a, b):\n    return a - b\n")
    static func settings(
        testCommand: String? = "pytest", firstAttempt: Bool = true, limits: AgentLimits = AgentLimits()
    )
        -> RunMachine.Settings
    {
        .init(
            task: "add() subtracts", limits: limits, contextWindow: 16_384, maxOutputTokens: 1_024,
            testCommand: testCommand,
            firstAttempt: firstAttempt)
    }
    static func tests(exit: Int32?) -> TestRun {
        TestRun(
            command: "pytest", exitCode: exit, timedOut: false, durationSeconds: 0,
            output: exit == 127 ? "pytest: not found" : "")
    }
    static func fix(_ n: Int) -> ModelReply {
        ModelReply(
            content: "calc.py\n```python\ndef add(a, b):\n    return \(n)\n```\n", usage: Usage(inputTokens: 10),
            finishReason: "stop")
    }

    @Test func theBaselineRunsFirstAndDecidesOnTheReproductionTest() {
        var m = RunMachine(settings: Self.settings())
        #expect(m.handle(.start(now: 0)) == .runBaseline(command: "pytest"))
        var failing = m
        #expect(
            m.handle(.baselineRan(Self.tests(exit: 0), now: 1)) == .gatherContext(attempt: true, reproduction: true))
        #expect(
            failing.handle(.baselineRan(Self.tests(exit: 1), now: 1))
                == .gatherContext(attempt: true, reproduction: false))
        #expect(failing.baseline?.exitCode == 1 && failing.testCommand == "pytest")
    }

    @Test func aBaselineWhoseFailuresAreNamedStillGetsAReproductionTest() {
        // Tests that fail for reasons of their own (named test by test) leave a new test's failure visible.
        var m = RunMachine(settings: Self.settings())
        _ = m.handle(.start(now: 0))
        let named = TestRun(
            command: "pytest", exitCode: 1, timedOut: false, durationSeconds: 0,
            output: "FAILED test_net.py::test_fetch - ConnectionError\n1 failed, 4 passed in 0.2s")
        #expect(m.handle(.baselineRan(named, now: 1)) == .gatherContext(attempt: true, reproduction: true))
        let testFile = SourceFile(path: "test_calc.py", text: "def test_a():\n    pass\n")
        guard
            case .callModel(let call) = m.handle(
                .contextGathered(.init(attemptFiles: [Self.file], testFile: testFile), now: 1))
        else {
            Issue.record("expected the reproduction request")
            return
        }
        #expect(call.phase == "reproduce")

        // A failure in the task's own test file may be the task itself: no reproduction test then.
        let own = TestRun(
            command: "pytest", exitCode: 1, timedOut: false, durationSeconds: 0,
            output: "FAILED test_calc.py::test_a - AssertionError\n1 failed in 0.2s")
        #expect(!RunMachine.anchorsReproduction(own, testFile: "test_calc.py"))
        #expect(RunMachine.anchorsReproduction(own, testFile: "test_other.py"))
        let unittest = TestRun(
            command: "python -m unittest", exitCode: 1, timedOut: false, durationSeconds: 0,
            output: "FAIL: test_add (tests.test_calc.T.test_add)\nRan 2 tests in 0.1s\n\nFAILED (failures=1)")
        #expect(!RunMachine.anchorsReproduction(unittest, testFile: "tests/test_calc.py"))
        #expect(RunMachine.anchorsReproduction(unittest, testFile: "tests/test_cal.py"))
        #expect(!RunMachine.anchorsReproduction(nil, testFile: "test_calc.py"))
    }

    @Test func aTestCommandThatCannotStartIsTreatedAsAbsent() {
        var m = RunMachine(settings: Self.settings())
        _ = m.handle(.start(now: 0))
        #expect(
            m.handle(.baselineRan(Self.tests(exit: 127), now: 1)) == .gatherContext(attempt: true, reproduction: false))
        #expect(m.testCommand == nil && m.baseline == nil)
        guard case .testsUnusable(let unusable) = m.takeRecords().first else {
            Issue.record("expected tests.unusable")
            return
        }
        #expect(unusable.output == "pytest: not found")

        // A suite that does not finish within the test timeout before any change cannot judge one either.
        var slow = RunMachine(settings: Self.settings())
        _ = slow.handle(.start(now: 0))
        let timedOut = TestRun(
            command: "pytest", exitCode: nil, timedOut: true, durationSeconds: 60, output: "collected 900 items")
        #expect(slow.handle(.baselineRan(timedOut, now: 60)) == .gatherContext(attempt: true, reproduction: false))
        #expect(slow.testCommand == nil && slow.baseline == nil)
    }

    /// A project's `make test` that needs what the sandbox lacks (here `uv`) gives way to the next detected command;
    /// a configured command has none to give way to, and a command that timed out is not followed by another.
    @Test func aDetectedCommandThatCannotStartGivesWayToTheNext() {
        let makeTest = TestRun(
            command: "make test", exitCode: 2, timedOut: false, durationSeconds: 0.01,
            output: "uv run --group dev pytest tests/\nmake: uv: No such file or directory\n"
                + "make: *** [Makefile:13: test] Error 127\n")
        #expect(RunMachine.isUnusable(makeTest))
        var settings = Self.settings(testCommand: "make test")
        settings.fallbackTestCommands = ["python3 -m pytest -q"]
        var m = RunMachine(settings: settings)
        #expect(m.handle(.start(now: 0)) == .runBaseline(command: "make test"))
        #expect(m.handle(.baselineRan(makeTest, now: 1)) == .runBaseline(command: "python3 -m pytest -q"))
        #expect(m.testCommand == "python3 -m pytest -q")
        guard case .testsUnusable(let unusable) = m.takeRecords().first else {
            Issue.record("expected tests.unusable for make test")
            return
        }
        #expect(unusable.command == "make test")
        let pytest = TestRun(
            command: "python3 -m pytest -q", exitCode: 1, timedOut: false, durationSeconds: 1,
            output: "FAILED tests/test_split.py::test_begin - AssertionError\n1 failed, 80 passed in 0.9s")
        #expect(m.handle(.baselineRan(pytest, now: 2)) == .gatherContext(attempt: true, reproduction: true))
        #expect(m.testCommand == "python3 -m pytest -q" && m.baseline == pytest)

        // Without a command left, the run goes on without tests, as before.
        var last = RunMachine(settings: Self.settings(testCommand: "make test"))
        _ = last.handle(.start(now: 0))
        #expect(last.handle(.baselineRan(makeTest, now: 1)) == .gatherContext(attempt: true, reproduction: false))
        #expect(last.testCommand == nil)
        // One that ran out of time is not followed by another that could take as long.
        var slow = RunMachine(settings: settings)
        _ = slow.handle(.start(now: 0))
        let timedOut = TestRun(command: "make test", exitCode: nil, timedOut: true, durationSeconds: 900, output: "")
        #expect(slow.handle(.baselineRan(timedOut, now: 900)) == .gatherContext(attempt: true, reproduction: false))
    }

    /// Failing tests, even ones whose output mentions a missing program, are a suite to fix, not one that cannot run.
    @Test func aSuiteThatRanIsUsableWhateverItsOutputSays() {
        let failing = TestRun(
            command: "make test", exitCode: 2, timedOut: false, durationSeconds: 1,
            output: "FAILED tests/test_cli.py::test_missing - AssertionError: 'command not found' not in ''\n"
                + "1 failed, 9 passed in 0.3s\nmake: *** [Makefile:2: test] Error 1\n")
        #expect(!RunMachine.isUnusable(failing))
        let compileError = TestRun(
            command: "make test", exitCode: 2, timedOut: false, durationSeconds: 1,
            output: "cc -c calc.c\ncalc.c:3: error: expected ';'\nmake: *** [Makefile:4: calc.o] Error 1\n")
        #expect(!RunMachine.isUnusable(compileError))
        // A shell suite whose own check prints "command not found" (its script calls a function the bug removed).
        let shellSuite = TestRun(
            command: "bash tests/run.sh", exitCode: 1, timedOut: false, durationSeconds: 0,
            output: "tests/run.sh: line 4: greet: command not found\nFAIL: greet prints a name\n")
        #expect(!RunMachine.isUnusable(shellSuite))
        let missing = TestRun(
            command: "make test", exitCode: 2, timedOut: false, durationSeconds: 0,
            output: "/bin/sh: 1: tox: not found\nmake: *** [Makefile:7: test] Error 127\n")
        #expect(RunMachine.isUnusable(missing))
    }

    @Test func withoutATestCommandOrAttemptFilesTheLoopStartsAtOnce() {
        var m = RunMachine(settings: Self.settings(testCommand: nil, firstAttempt: false))
        #expect(m.handle(.start(now: 0)) == .gatherContext(attempt: false, reproduction: false))
        #expect(m.handle(.contextGathered(.init(attemptFiles: [Self.file]), now: 0)) == .prepareLoop(note: ""))
        guard case .callModel(let request) = m.handle(.loopReady(history: [.system("s"), .user("t")], now: 0)) else {
            Issue.record("expected the loop's first call")
            return
        }
        #expect(request.tools && request.phase == nil && request.messages.count == 2)
        #expect(request.temperature == nil)
        // A refused reply (here: no action at all) is asked again with sampling, not at the profile's temperature 0.
        guard case .callModel(let again) = m.handle(.modelReplied(ModelReply(content: "I think so."), cost: 0, now: 1))
        else {
            Issue.record("expected the model to be asked again")
            return
        }
        #expect(again.temperature == AttemptMachine.retryTemperature)
    }

    @Test func policyTheExecutorAsksAbout() {
        let small = RunMachine(settings: Self.settings())
        #expect(small.toolOutputLimit == 6_000)
        #expect(small.repoMapTokens == 1_024)
        #expect(small.relevantFileTokens == 3_276)
        var large = Self.settings()
        large.contextWindow = 200_000
        large.repoMapTokens = 0
        #expect(RunMachine(settings: large).toolOutputLimit == nil)
        #expect(RunMachine(settings: large).repoMapTokens == 0)
        #expect(!RunMachine.offersIndexTools(fileCount: 60) && RunMachine.offersIndexTools(fileCount: 61))
    }

    /// Runs the attempt with fixes that all fail the tests, until it does something other than ask for tests.
    /// Reports files written and, when the machine then asks whether they parse, that they do.
    func written(_ m: inout RunMachine, _ changed: [String], now: Double) -> RunMachine.Action {
        let action = m.handle(.written(changed: changed, now: now))
        guard case .checkSyntax = action else { return action }
        return m.handle(.syntaxChecked(problems: [], now: now))
    }

    /// Answers the proof the run machine starts when a change is to be judged: the files changed, the ignored files
    /// (none), then each test run it asks for, in turn.
    func prove(_ m: inout RunMachine, changed: [String], runs: [TestRun], now: Double) -> RunMachine.Action {
        var action = m.handle(.changesListed(changed, now: now))
        var runs = runs[...]
        while case .prove(let step) = action {
            switch step {
            case .runTests: action = m.handle(.proved(.ran(runs.popFirst() ?? Self.tests(exit: 1), now: now)))
            case .listIgnored: action = m.handle(.proved(.ignored([])))
            case .done: return action
            }
        }
        return action
    }

    func failingAttempt(_ m: inout RunMachine, now: Double = 1, timings: JSONValue? = nil) -> RunMachine.Action {
        _ = m.handle(.start(now: 0))
        _ = m.handle(.baselineRan(Self.tests(exit: 1), now: 0))
        var action = m.handle(.contextGathered(.init(attemptFiles: [Self.file]), now: now))
        var n = 0
        while case .callModel(let request) = action {
            #expect(!request.tools && request.phase == "attempt")
            n += 1
            var reply = Self.fix(n)
            if let timings {
                // The server counts the prompt as Ferry estimates it.
                reply.serverTimings = timings
                reply.usage.inputTokens = request.messages.reduce(0) { $0 + $1.estimatedTokens }
            }
            action = m.handle(.modelReplied(reply, cost: 0.01, now: now))
            guard action == .write(["calc.py": "def add(a, b):\n    return \(n)\n"]) else { return action }
            #expect(written(&m, ["calc.py"], now: now) == .listChanges(summary: nil))
            action = prove(&m, changed: ["calc.py"], runs: [Self.tests(exit: 1)], now: now)
        }
        return action
    }

    @Test func aClosedLoopGateEndsTheRunWhereTheLoopWouldStart() {
        let closed = LoopGate.Decision.skip("none of the last 4 tool loops with m kept a change")
        // After a failed attempt: the run fails with both reasons and no loop prompt is built.
        var settings = Self.settings(limits: AgentLimits(maxSteps: 10))
        settings.loopGate = closed
        var m = RunMachine(settings: settings)
        _ = failingAttempt(&m)
        guard case .stop(let outcome) = written(&m, [], now: 2) else {
            Issue.record("expected the run to stop instead of preparing the loop")
            return
        }
        #expect(outcome.status == .failed && outcome.limit == nil)
        #expect(outcome.reason.contains("the first attempt found no change that passes"))
        #expect(outcome.reason.contains("the tool loop was not started: none of the last 4 tool loops"))
        #expect(m.loopUse == .skipped)
        #expect(m.takeRecords().contains(.loopSkipped(.init("none of the last 4 tool loops with m kept a change"))))

        // Without an attempt to make, the run ends at once.
        var direct = Self.settings(testCommand: nil, firstAttempt: false)
        direct.loopGate = closed
        var bare = RunMachine(settings: direct)
        _ = bare.handle(.start(now: 0))
        guard case .stop(let none) = bare.handle(.contextGathered(.init(), now: 0)) else {
            Issue.record("expected stop")
            return
        }
        #expect(
            none.status == .failed && none.reason.hasPrefix("the first attempt is off; the tool loop was not started"))
        #expect(bare.loopUse == .skipped)

        // An open gate: the loop runs and the record says so.
        var open = RunMachine(settings: Self.settings(testCommand: nil, firstAttempt: false))
        _ = open.handle(.start(now: 0))
        #expect(open.handle(.contextGathered(.init(), now: 0)) == .prepareLoop(note: ""))
        #expect(open.loopUse == nil)
        _ = open.handle(.loopReady(history: [.system("s"), .user("t")], now: 0))
        #expect(open.loopUse == .ran)
    }

    @Test func oneBudgetHoldsAcrossTheAttemptAndTheLoop() {
        // max_steps = 2: the attempt's two calls use it up, and the loop never starts.
        var m = RunMachine(settings: Self.settings(limits: AgentLimits(maxSteps: 2)))
        #expect(failingAttempt(&m) == .write(["calc.py": Self.file.text]))
        guard case .stop(let outcome) = written(&m, [], now: 2) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .limit && outcome.limit == .steps)
        #expect(m.budget.steps == 2 && abs(m.budget.costUSD - 0.02) < 1e-12)
        #expect(m.outcome == outcome)

        // max_steps = 4: the attempt's three calls leave one, too few for a loop to edit and finish.
        var one = RunMachine(settings: Self.settings(limits: AgentLimits(maxSteps: 4)))
        _ = failingAttempt(&one)
        guard case .stop(let short) = written(&one, [], now: 2) else {
            Issue.record("expected stop")
            return
        }
        #expect(short.limit == .steps && short.reason.contains("1 step left, and the tool loop needs 2"))

        // max_steps = 5: two are left for the loop.
        var four = RunMachine(settings: Self.settings(limits: AgentLimits(maxSteps: 5)))
        _ = failingAttempt(&four)
        guard case .prepareLoop(let note) = written(&four, [], now: 2) else {
            Issue.record("expected the loop")
            return
        }
        #expect(note.contains("so it was undone"))
        guard case .callModel = four.handle(.loopReady(history: [.system("s")], now: 2)) else {
            Issue.record("expected a call")
            return
        }
        let read = ModelReply(
            content: "", toolCalls: [ToolCall(id: "r", name: "read_file", arguments: #"{"path":"calc.py"}"#)])
        #expect(four.handle(.modelReplied(read, cost: 0, now: 3)) == .runTool(read.toolCalls[0]))
        guard case .callModel = four.handle(.toolFinished(.init(callID: "r", name: "read_file", output: "x"), now: 3))
        else {
            Issue.record("expected the loop's second call")
            return
        }
        let other = ModelReply(
            content: "", toolCalls: [ToolCall(id: "s", name: "read_file", arguments: #"{"path":"test_calc.py"}"#)])
        guard case .runTool = four.handle(.modelReplied(other, cost: 0, now: 4)) else {
            Issue.record("expected a tool")
            return
        }
        guard
            case .stop(let last) = four.handle(
                .toolFinished(.init(callID: "s", name: "read_file", output: "y"), now: 4))
        else {
            Issue.record("expected the step limit")
            return
        }
        #expect(last.limit == .steps && last.reason == "step limit of 5 reached")
        #expect(four.budget.steps == 5)

        // The time limit counts from the attempt's start, not the loop's.
        var timed = RunMachine(settings: Self.settings(limits: AgentLimits(maxTimeSeconds: 10)))
        _ = failingAttempt(&timed, now: 1)
        _ = written(&timed, [], now: 8)
        guard case .stop(let late) = timed.handle(.loopReady(history: [.system("s")], now: 12)) else {
            Issue.record("expected stop")
            return
        }
        #expect(late.limit == .time)
    }

    @Test func aLoopWhoseFirstPromptAloneTakesMoreThanAThirdOfTheTimeLeftIsNotStarted() {
        // The attempt's replies say the model reads a token in 15 ms (llama.cpp's timings).
        let timings: JSONValue = .object([
            "prompt_n": .number(1_000), "prompt_ms": .number(15_000), "predicted_n": .number(50),
            "predicted_ms": .number(2_000),
        ])
        // A bare first prompt of some 1,600 tokens: 24 s to read.
        let history: [ChatMessage] = [.system("s"), .user(String(repeating: "t", count: 6_400))]
        var short = RunMachine(settings: Self.settings(limits: AgentLimits(maxTimeSeconds: 150)))
        _ = failingAttempt(&short, now: 1, timings: timings)
        guard case .prepareLoop = written(&short, [], now: 90) else {
            Issue.record("expected the loop to be prepared")
            return
        }
        // The clock started with the attempt at 1 s: 61 s left, a third of it less than the prompt alone takes.
        guard case .stop(let outcome) = short.handle(.loopReady(history: history, now: 90)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .limit && outcome.limit == .time)
        #expect(
            outcome.reason.contains("61 s left, and the tool loop's first prompt alone (1608 tokens) takes about 24 s"))

        // A prompt filled to its share (here 1,400 tokens, 21 s of the 20.3 s a third of 61 s is) still starts.
        var brim = RunMachine(settings: Self.settings(limits: AgentLimits(maxTimeSeconds: 150)))
        _ = failingAttempt(&brim, now: 1, timings: timings)
        _ = written(&brim, [], now: 90)
        let filled: [ChatMessage] = [.system("s"), .user(String(repeating: "t", count: 5_600))]
        guard case .callModel = brim.handle(.loopReady(history: filled, now: 90)) else {
            Issue.record("expected the loop's first call")
            return
        }

        // 100 s left: the loop starts with the same prompt.
        var roomy = RunMachine(settings: Self.settings(limits: AgentLimits(maxTimeSeconds: 150)))
        _ = failingAttempt(&roomy, now: 1, timings: timings)
        _ = written(&roomy, [], now: 50)
        guard case .callModel = roomy.handle(.loopReady(history: history, now: 50)) else {
            Issue.record("expected the loop's first call")
            return
        }
        // Without the server's timings (a provider that reports none) nothing is known of the pace: the loop starts.
        var unknown = RunMachine(settings: Self.settings(limits: AgentLimits(maxTimeSeconds: 150)))
        _ = failingAttempt(&unknown, now: 1)
        _ = written(&unknown, [], now: 90)
        guard case .callModel = unknown.handle(.loopReady(history: history, now: 90)) else {
            Issue.record("expected the loop's first call")
            return
        }
    }

    @Test func anAttemptThatSettlesEndsTheRunWithItsTests() {
        var m = RunMachine(settings: Self.settings())
        _ = m.handle(.start(now: 0))
        _ = m.handle(.baselineRan(Self.tests(exit: 1), now: 0))
        _ = m.handle(.contextGathered(.init(attemptFiles: [Self.file]), now: 0))
        _ = m.handle(.modelReplied(Self.fix(5), cost: 0, now: 1))
        #expect(written(&m, ["calc.py"], now: 1) == .listChanges(summary: nil))
        // The proof: the tests with the change (they failed at the baseline and pass now), then the ignored files.
        guard case .stop(let outcome) = prove(&m, changed: ["calc.py"], runs: [Self.tests(exit: 0)], now: 2) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .verified)
        #expect(m.finalTests?.exitCode == 0)
        // The verdict is the run machine's record now: the proof it ran, in the attempt's phase.
        let records = m.takeRecords()
        #expect(records.map(\.type) == ["attempt.started", "attempt.applied", "verify.result"])
        guard case .verifyResult(let result)? = records.last else { return }
        #expect(result.outcome == "passed" && result.phase == "attempt" && result.changedFiles == ["calc.py"])
    }

    @Test func theHostHaltsTheRunAndEventsOutOfTurnFailIt() {
        var m = RunMachine(settings: Self.settings(testCommand: nil, firstAttempt: false))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.contextGathered(.init(), now: 0))
        m.halt("the team's monthly budget is used up")
        guard case .stop(let outcome) = m.handle(.loopReady(history: [.system("s")], now: 0)) else {
            Issue.record("expected stop")
            return
        }
        #expect(
            outcome.status == .limit && outcome.limit == .host
                && outcome.reason == "the team's monthly budget is used up")
        #expect(m.takeRecords().map(\.type) == ["run.halted"])

        var confused = RunMachine(settings: Self.settings())
        guard
            case .stop(let failed) = confused.handle(
                .toolFinished(.init(callID: "x", name: "shell", output: ""), now: 0))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(
            failed.status == .failed && failed.reason == "internal error: unexpected event toolFinished in this phase")
        confused.abort(status: .interrupted, reason: "late")
        #expect(confused.outcome == failed)
    }
}
