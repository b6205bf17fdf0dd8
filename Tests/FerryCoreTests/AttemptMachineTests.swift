import FerryCore
import Testing

/// The whole-file attempt's rules, driven without a model, a worktree or tests: every event and every outcome.
@Suite struct AttemptMachineTests {
    static let file = SourceFile(path: "calc.py", text: "def add(a, b):\n    return a - b\n")
    static let testFile = SourceFile(
        path: "test_calc.py",
        text:
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(add(0, 0), 0)\n"
    )
    static let fixed = "def add(a, b):\n    return a + b\n"

    static func reply(
        _ content: String, finish: String? = "stop", usage: Usage = Usage(inputTokens: 100, outputTokens: 20)
    )
        -> ModelReply
    {
        ModelReply(content: content, usage: usage, finishReason: finish)
    }
    static func fix(_ text: String = fixed) -> ModelReply {
        reply("I will fix add.\n\ncalc.py\n```python\n\(text)```\n")
    }
    static func test(passed: Bool, timedOut: Bool = false) -> TestRun {
        TestRun(
            command: "pytest", exitCode: timedOut ? nil : passed ? 0 : 1, timedOut: timedOut, durationSeconds: 0.1,
            output: passed ? "1 passed" : "1 failed\nAssertionError: 1 != 5")
    }
    static let addedTest = testFile.text + "\n    def test_b(self):\n        self.assertEqual(add(2, 3), 5)\n"

    func machine(
        testCommand: String? = "pytest", testFile: SourceFile? = nil, limits: AgentLimits = AgentLimits(),
        retries: LoopGate.Decision = .start
    ) -> AttemptMachine {
        AttemptMachine(
            plan: .init(
                task: "add() subtracts", files: [Self.file], agents: nil, testCommand: testCommand, testFile: testFile,
                retries: retries),
            budget: Budget(limits: limits))
    }

    /// Reports files written and, when the machine then asks whether they parse, that they do.
    func written(_ m: inout AttemptMachine, _ changed: [String], now: Double) -> AttemptMachine.Action {
        let action = m.handle(.written(changed: changed, now: now))
        guard case .checkSyntax = action else { return action }
        return m.handle(.syntaxChecked(problems: [], now: now))
    }

    func expectStop(_ action: AttemptMachine.Action, _ status: RunStatus, limit: LimitKind? = nil) -> AgentMachine
        .Outcome?
    {
        switch action {
        case .settle(let outcome), .stop(let outcome):
            #expect(outcome.status == status)
            #expect(outcome.limit == limit)
            return outcome
        default:
            Issue.record("expected the attempt to end with \(status), got \(action)")
            return nil
        }
    }

    // MARK: - Fixes

    @Test func aFixTheTestsProveSettlesVerified() {
        var m = machine()
        guard case .callModel(let call) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return
        }
        #expect(call.phase == "attempt" && call.temperature == nil)
        #expect(call.maxTokens == 300 + AttemptPrompts.tokens(Self.file.text))
        #expect(call.messages.last?.content.hasSuffix("# Task\nadd() subtracts\n") == true)
        #expect(m.handle(.modelReplied(Self.fix(), cost: 0.01, now: 1)) == .write(["calc.py": Self.fixed]))
        #expect(written(&m, ["calc.py"], now: 1) == .verify)
        let outcome = expectStop(
            m.handle(.verified(.passed("1 test fixed"), tests: Self.test(passed: true), now: 2)), .verified)
        #expect(outcome?.reason == "1 test fixed")
        #expect(outcome?.summary == "I will fix add.")
        #expect(m.finalTests == Self.test(passed: true))
        #expect(m.budget.steps == 1 && abs(m.budget.costUSD - 0.01) < 1e-12)
        #expect(m.takeRecords().map(\.type) == ["attempt.started", "attempt.applied"])
    }

    @Test func passingTestsWithoutProofSettleUnverified() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 1))
        _ = written(&m, ["calc.py"], now: 1)
        let outcome = expectStop(
            m.handle(.verified(.passedWithoutProof("2 passed"), tests: Self.test(passed: true), now: 2)), .unverified)
        #expect(outcome?.reason.contains("no test failed without the change") == true)
    }

    @Test func withoutATestCommandTheChangeStandsUnverified() {
        var m = machine(testCommand: nil)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 1))
        let outcome = expectStop(written(&m, ["calc.py"], now: 1), .unverified)
        #expect(outcome?.reason == "no test command could judge the change")
        #expect(
            m.takeRecords().contains {
                if case .verifyResult(let r) = $0 { r.outcome == "no_test_command" } else { false }
            })
    }

    @Test func failingFixesGoBackWithTheOutputThenTheFilesAreUndoneAndTheLoopIsTold() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        for number in 1...AttemptMachine.maxReplies {
            let rewritten = "def add(a, b):\n    return \(number)\n"
            #expect(m.handle(.modelReplied(Self.fix(rewritten), cost: 0, now: 1)) == .write(["calc.py": rewritten]))
            _ = written(&m, ["calc.py"], now: 1)
            let next = m.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: 2))
            if number < AttemptMachine.maxReplies {
                guard case .callModel(let call) = next else {
                    Issue.record("expected a retry")
                    return
                }
                #expect(call.temperature == AttemptMachine.retryTemperature)
                #expect(call.messages.last?.content.contains("the tests (`pytest`) fail") == true)
                #expect(call.messages.last?.content.contains("AssertionError") == true)
            } else {
                // Undo: the files go back as they were.
                #expect(next == .write(["calc.py": Self.file.text]))
            }
        }
        guard case .handOver(let note) = written(&m, [], now: 3) else {
            Issue.record("expected a handover")
            return
        }
        #expect(note.contains("A first attempt rewrote calc.py; the tests then failed, so it was undone"))
        #expect(m.calls == 3 && m.budget.steps == 3)
        #expect(m.takeRecords().last?.type == "attempt.finished")
    }

    @Test func aTestByTestVerdictReachesTheModelByName() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix("def add(a, b):\n    return 0\n"), cost: 0, now: 1))
        _ = written(&m, ["calc.py"], now: 1)
        let verdict = AgentMachine.Verification.failed(
            "these tests passed before the change and fail with it: t.py::test_zero\n[exit code 1]")
        guard case .callModel(let call) = m.handle(.verified(verdict, tests: Self.test(passed: false), now: 2)) else {
            Issue.record("expected a retry")
            return
        }
        #expect(
            call.messages.last?.content.contains(
                "These tests passed before the change and fail with it: t.py::test_zero.") == true)
    }

    @Test func theSameReplyAgainEndsTheAttempt() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix("x = 1\n"), cost: 0, now: 1))
        _ = written(&m, ["calc.py"], now: 1)
        _ = m.handle(.verified(.failed("f"), tests: Self.test(passed: false), now: 1))
        #expect(m.handle(.modelReplied(Self.fix("x = 1\n"), cost: 0, now: 2)) == .write(["calc.py": Self.file.text]))
        guard case .handOver = written(&m, [], now: 2) else {
            Issue.record("expected a handover")
            return
        }
    }

    @Test func aReplyThatChangesNothingIsToldSoAndACutOffReplyWritesNothing() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        // Cut off at the length limit: nothing is written but the originals.
        #expect(
            m.handle(
                .modelReplied(
                    Self.reply("calc.py\n```python\n" + Self.fixed + "```", finish: "length"), cost: 0, now: 1))
                == .write(["calc.py": Self.file.text]))
        guard case .callModel(let call) = written(&m, [], now: 1) else {
            Issue.record("expected a retry")
            return
        }
        #expect(call.messages.last?.content.contains("cut off at the length limit") == true)
        _ = m.handle(.modelReplied(Self.reply("It looks right to me."), cost: 0, now: 2))
        guard case .callModel(let again) = written(&m, [], now: 2) else {
            Issue.record("expected a retry")
            return
        }
        #expect(again.messages.last?.content.hasSuffix(AttemptPrompts.unchangedNote(symbols: false)) == true)
        #expect(!again.messages.contains { $0.content == "It looks right to me." })
    }

    /// A reply that changes nothing is not shown to the model again (a small model copies its own reply: on click
    /// the third reply was the first, word for word). The request it answered goes again with a note at its end, so
    /// the server reads it from its cache; a reply the same as a forgotten one ends the attempt.
    @Test func aReplyThatChangesNothingIsLeftOutAndTheRequestGoesAgainWithANote() {
        var m = machine()
        guard case .callModel(let first) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return
        }
        _ = m.handle(.modelReplied(Self.fix(Self.file.text), cost: 0, now: 1))
        guard case .callModel(let second) = written(&m, [], now: 1) else {
            Issue.record("expected a retry")
            return
        }
        #expect(second.messages.count == first.messages.count)
        let prompt = first.messages.last?.content ?? ""
        #expect(second.messages.last?.content == prompt + AttemptPrompts.unchangedNote(symbols: false))
        #expect(second.temperature == AttemptMachine.retryTemperature)
        // Prose that changes nothing: the same request again, the note once.
        _ = m.handle(.modelReplied(Self.reply("The code is right."), cost: 0, now: 2))
        guard case .callModel(let third) = written(&m, [], now: 2) else {
            Issue.record("expected a third reply")
            return
        }
        #expect(third.messages == second.messages)
        // A reply that does not parse stays, with the reason: the model must see what was wrong with it.
        var n = machine()
        _ = n.handle(.start(now: 0))
        _ = n.handle(
            .modelReplied(Self.reply("calc.py\n```python\n" + Self.fixed + "```", finish: "length"), cost: 0, now: 1))
        guard case .callModel(let retry) = written(&n, [], now: 1) else {
            Issue.record("expected a retry")
            return
        }
        #expect(retry.messages.count == first.messages.count + 2)
        #expect(retry.messages.last?.content.contains("cut off at the length limit") == true)
        // The forgotten reply given again ends the attempt: it would be judged the same.
        var o = machine()
        _ = o.handle(.start(now: 0))
        _ = o.handle(.modelReplied(Self.fix(Self.file.text), cost: 0, now: 1))
        _ = written(&o, [], now: 1)
        #expect(
            o.handle(.modelReplied(Self.fix(Self.file.text), cost: 0, now: 2)) == .write(["calc.py": Self.file.text]))
        guard case .handOver = written(&o, [], now: 2) else {
            Issue.record("expected the attempt to hand over")
            return
        }
        #expect(o.calls == 2)
    }

    /// A reply that only adds or drops blank lines or trailing spaces changed nothing the code does: it goes the way
    /// of a reply that changed nothing, not to the tests (which would pass, and hand it back as the change). A task
    /// about layout is the exception.
    @Test func aReplyThatOnlyMovesBlankLinesChangesNothing() {
        var m = machine()
        guard case .callModel(let first) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return
        }
        let spaced = "def add(a, b):\n\n    return a - b   \n\n"
        _ = m.handle(.modelReplied(Self.fix(spaced), cost: 0, now: 1))
        guard case .callModel(let second) = written(&m, ["calc.py"], now: 1) else {
            Issue.record("expected a retry")
            return
        }
        #expect(
            second.messages.last?.content == (first.messages.last?.content ?? "")
                + AttemptPrompts.unchangedNote(symbols: false))
        #expect(AttemptPrompts.layoutOnly(Self.file.text, spaced, task: "add() subtracts"))
        #expect(!AttemptPrompts.layoutOnly(Self.file.text, spaced, task: "Remove the trailing whitespace in calc.py"))
        #expect(!AttemptPrompts.layoutOnly(Self.file.text, "def add(a, b):\n  return a - b\n", task: "add() subtracts"))
        #expect(!AttemptPrompts.layoutOnly(Self.file.text, Self.fixed, task: "add() subtracts"))
    }

    /// Two replies that change nothing do not end the attempt: the third is sampled and mostly read from the
    /// server's cache, while what follows the attempt, the tool loop, reads a new prompt of thousands of tokens (on
    /// ferry-easy, ending here sent `py-grade-boundary` into an 8,000-token loop).
    @Test func twoRepliesThatChangeNothingStillLeaveTheThirdReply() {
        var m = machine(limits: AgentLimits(maxSteps: 10))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix(Self.file.text), cost: 0, now: 1))
        _ = written(&m, [], now: 1)
        _ = m.handle(.modelReplied(Self.reply("The code is right as it is."), cost: 0, now: 2))
        guard case .callModel(let call) = written(&m, [], now: 2) else {
            Issue.record("expected the third reply to be asked for")
            return
        }
        #expect(call.temperature == AttemptMachine.retryTemperature)
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 3))
        #expect(written(&m, ["calc.py"], now: 3) == .verify)
        #expect(m.calls == 3)
    }

    @Test func aModelErrorUndoesAndHandsOver() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        #expect(m.handle(.modelFailed("503", now: 1)) == .write(["calc.py": Self.file.text]))
        guard case .handOver(let note) = written(&m, [], now: 1) else {
            Issue.record("expected a handover")
            return
        }
        #expect(note.contains("produced no usable change"))
    }

    // MARK: - The reproduction test

    /// Starts with a test file, has the model add a test, and reports the tests as `reproduces` says.
    func reproduce(_ m: inout AttemptMachine, content: String = addedTest, failsNow: Bool = true)
        -> AttemptMachine.Action
    {
        guard case .callModel(let call) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return .runTests
        }
        #expect(call.phase == "reproduce")
        #expect(call.maxTokens == AttemptPrompts.tokens(Self.testFile.text) + 200)
        #expect(
            m.handle(.modelReplied(Self.reply("test_calc.py\n```python\n\(content)```\n"), cost: 0, now: 1))
                == .write(["test_calc.py": content]))
        #expect(written(&m, ["test_calc.py"], now: 1) == .runTests)
        return m.handle(.testsRan(Self.test(passed: !failsNow), now: 1))
    }

    @Test func aReproductionThatFailsNowIsKeptAndAFirstFixThatPassesItIsVerified() {
        var m = machine(testFile: Self.testFile)
        guard case .callModel(let call) = reproduce(&m) else {
            Issue.record("expected the fix request")
            return
        }
        #expect(call.phase == "attempt")
        // The first request does not show the test.
        #expect(call.messages.allSatisfy { !$0.content.contains("test_b") })
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 2))
        // The reproduction test is not counted as the attempt's change.
        #expect(written(&m, ["calc.py", "test_calc.py"], now: 2) == .verify)
        _ = expectStop(m.handle(.verified(.passed("1 fixed"), tests: Self.test(passed: true), now: 3)), .verified)
        let kept = m.takeRecords().compactMap { if case .attemptReproduction(let r) = $0 { r } else { nil } }
        #expect(kept.map(\.kept) == [true] && kept.first?.addsOnly == true)
    }

    @Test func aReproductionThatPassesBeforeAnyFixIsDropped() {
        var m = machine(testFile: Self.testFile)
        #expect(reproduce(&m, failsNow: false) == .write(["test_calc.py": Self.testFile.text]))
        guard case .callModel(let call) = written(&m, [], now: 1) else {
            Issue.record("expected the fix request")
            return
        }
        #expect(call.phase == "attempt")
        let dropped = m.takeRecords().compactMap { if case .attemptReproduction(let r) = $0 { r } else { nil } }
        #expect(dropped.map(\.kept) == [false])
        #expect(dropped.first?.reason == "it passes before any fix, so it shows nothing")
    }

    @Test func aReproductionReplyWithoutTheFileGoesOnWithoutOne() {
        var m = machine(testFile: Self.testFile)
        _ = m.handle(.start(now: 0))
        guard case .callModel(let call) = m.handle(.modelReplied(Self.reply("I cannot."), cost: 0, now: 1)) else {
            Issue.record("expected the fix request")
            return
        }
        #expect(call.phase == "attempt")
        // A failed reproduction request goes on too.
        var failed = machine(testFile: Self.testFile)
        _ = failed.handle(.start(now: 0))
        guard case .callModel = failed.handle(.modelFailed("500", now: 1)) else {
            Issue.record("expected the fix request")
            return
        }
    }

    @Test func aFixThatCameAfterSeeingTheTestFailIsNotProof() {
        var m = machine(testFile: Self.testFile)
        _ = reproduce(&m)
        _ = m.handle(.modelReplied(Self.fix("def add(a, b):\n    return 5\n"), cost: 0, now: 2))
        _ = written(&m, ["calc.py", "test_calc.py"], now: 2)
        guard
            case .callModel(let retry) = m.handle(
                .verified(.failed("1 failed"), tests: Self.test(passed: false), now: 3))
        else {
            Issue.record("expected a retry")
            return
        }
        #expect(retry.messages.last?.content.contains("AssertionError") == true)
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 4))
        _ = written(&m, ["calc.py", "test_calc.py"], now: 4)
        let outcome = expectStop(
            m.handle(.verified(.passed("1 fixed"), tests: Self.test(passed: true), now: 5)), .unverified)
        #expect(outcome?.reason.contains("the test may have steered it") == true)
    }

    @Test func aReproductionThatEditsExistingTestsOnlyJudgesAndTheOwnTestsDecide() {
        let edited = Self.addedTest.replacingOccurrences(of: "add(0, 0), 0", with: "add(0, 0), 1")
        var m = machine(testFile: Self.testFile)
        _ = reproduce(&m, content: edited)
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 2))
        _ = written(&m, ["calc.py", "test_calc.py"], now: 2)
        // The tests pass with it: the test is taken out and the project's own tests must pass without it.
        #expect(
            m.handle(.verified(.passed("ok"), tests: Self.test(passed: true), now: 3))
                == .write(["test_calc.py": Self.testFile.text]))
        #expect(written(&m, ["calc.py"], now: 3) == .runTests)
        var failing = m
        let outcome = expectStop(m.handle(.testsRan(Self.test(passed: true), now: 3)), .unverified)
        #expect(outcome?.reason.contains("left out of the change because it edits existing tests") == true)
        // When they fail without it, the test goes back and the model hears why.
        #expect(failing.handle(.testsRan(Self.test(passed: false), now: 3)) == .write(["test_calc.py": edited]))
        guard case .callModel(let retry) = written(&failing, ["calc.py", "test_calc.py"], now: 3) else {
            Issue.record("expected a retry")
            return
        }
        #expect(retry.temperature == AttemptMachine.retryTemperature)
    }

    @Test func whenNoFixPassesTheReproductionTheFirstFixStandsIfTheOwnTestsPass() {
        var m = machine(testFile: Self.testFile)
        _ = reproduce(&m)
        for number in 1...AttemptMachine.maxReplies {
            _ = m.handle(.modelReplied(Self.fix("def add(a, b):\n    return a + b + \(number)\n"), cost: 0, now: 2))
            _ = written(&m, ["calc.py", "test_calc.py"], now: 2)
            let next = m.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: 3))
            if number == AttemptMachine.maxReplies { #expect(next == .write(["test_calc.py": Self.testFile.text])) }
        }
        #expect(written(&m, ["calc.py"], now: 4) == .write(["calc.py": "def add(a, b):\n    return a + b + 1\n"]))
        #expect(written(&m, ["calc.py"], now: 4) == .runTests)
        var failing = m
        let outcome = expectStop(m.handle(.testsRan(Self.test(passed: true), now: 4)), .unverified)
        #expect(outcome?.reason.contains("the reproduction test Ferry had written for the task still failed") == true)
        #expect(outcome?.summary == "Rewrote calc.py.")
        // The fix kept is the first reply's: the later replies, asked for, kept nothing.
        #expect(m.settledReply == 1 && m.retryUse == .ran)
        // Every candidate fails: the next one is tried, then everything is undone, the test file too.
        #expect(
            failing.handle(.testsRan(Self.test(passed: false), now: 4))
                == .write(["calc.py": "def add(a, b):\n    return a + b + 2\n"]))
        _ = written(&failing, ["calc.py"], now: 4)
        _ = failing.handle(.testsRan(Self.test(passed: false), now: 4))
        _ = written(&failing, ["calc.py"], now: 4)
        #expect(
            failing.handle(.testsRan(Self.test(passed: false), now: 4))
                == .write(["calc.py": Self.file.text, "test_calc.py": Self.testFile.text]))
        guard case .handOver = written(&failing, [], now: 5) else {
            Issue.record("expected a handover")
            return
        }
    }

    /// The model's record says later replies keep nothing (`LoopGate`, stage `retries`): the first reply is judged as
    /// it stands, as when the replies have run out, and no second is asked for.
    @Test func aClosedRetryGateJudgesTheFirstReplyAsItStands() {
        let closed = LoopGate.Decision.skip("no later reply kept a change")
        // Without a reproduction test, a failing first fix is undone and the run goes on without a second call.
        var m = machine(retries: closed)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix("def add(a, b):\n    return a * b\n"), cost: 0, now: 1))
        _ = written(&m, ["calc.py"], now: 1)
        #expect(
            m.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: 2))
                == .write(["calc.py": Self.file.text]))
        guard case .handOver = written(&m, [], now: 3) else {
            Issue.record("expected a handover")
            return
        }
        #expect(m.calls == 1 && m.retryUse == .skipped && m.settledReply == nil)
        #expect(m.takeRecords().contains(.attemptRetriesSkipped(.init("no later reply kept a change"))))

        // A first reply that changes nothing is not asked again either.
        var blank = machine(retries: closed)
        _ = blank.handle(.start(now: 0))
        _ = blank.handle(.modelReplied(Self.reply("I cannot see the bug."), cost: 0, now: 1))
        #expect(written(&blank, [], now: 1) == .write(["calc.py": Self.file.text]))
        #expect(blank.calls == 1 && blank.retryUse == .skipped)

        // With a reproduction test, a first fix that fails only that test stands unverified, as it would after
        // three replies.
        var r = machine(testFile: Self.testFile, retries: closed)
        _ = reproduce(&r)
        _ = r.handle(.modelReplied(Self.fix(), cost: 0, now: 2))
        _ = written(&r, ["calc.py", "test_calc.py"], now: 2)
        #expect(
            r.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: 3))
                == .write(["test_calc.py": Self.testFile.text]))
        #expect(written(&r, ["calc.py"], now: 4) == .write(["calc.py": Self.fixed]))
        #expect(written(&r, ["calc.py"], now: 4) == .runTests)
        _ = expectStop(r.handle(.testsRan(Self.test(passed: true), now: 4)), .unverified)
        #expect(r.calls == 2 && r.settledReply == 1 && r.retryUse == .skipped)

        // Open, the second reply is asked for, and the change settled on is counted as a later reply's.
        var open = machine()
        _ = open.handle(.start(now: 0))
        _ = open.handle(.modelReplied(Self.fix("def add(a, b):\n    return a * b\n"), cost: 0, now: 1))
        _ = written(&open, ["calc.py"], now: 1)
        #expect(open.retryUse == nil)
        guard case .callModel = open.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: 2))
        else {
            Issue.record("expected a second reply to be asked for")
            return
        }
        #expect(open.retryUse == .ran)
        _ = open.handle(.modelReplied(Self.fix(), cost: 0, now: 3))
        _ = written(&open, ["calc.py"], now: 3)
        _ = expectStop(
            open.handle(.verified(.passed("1 test fixed"), tests: Self.test(passed: true), now: 4)), .verified)
        #expect(open.settledReply == 2)
    }

    /// With too little time left for another reply and then the test run of the fix in hand (a fix that failed only
    /// the reproduction test), the attempt judges that fix without the test at once, instead of letting one more
    /// call run into the time limit and undo it (on sqlparse, `'WINDOW': tokens.Keyword` was undone that way).
    @Test func nearTheTimeLimitTheFixInHandIsJudgedInsteadOfAnotherCall() {
        func attempt(at now: Double, reproduction: Bool = true) -> AttemptMachine.Action {
            var m = AttemptMachine(
                plan: .init(
                    task: "add() subtracts", files: [Self.file], agents: nil, testCommand: "pytest",
                    testFile: reproduction ? Self.testFile : nil,
                    baseline: TestRun(command: "pytest", exitCode: 0, timedOut: false, durationSeconds: 0.5, output: "")
                ),
                budget: Budget(limits: AgentLimits(maxTimeSeconds: 100)))
            if reproduction {
                _ = reproduce(&m)
            } else {
                _ = m.handle(.start(now: 0))
            }
            var fix = Self.fix(Self.fixed)
            fix.usage = Usage(inputTokens: 1_000, outputTokens: 100)
            // 10 ms a prompt token, 50 ms a reply token.
            fix.serverTimings = .object([
                "prompt_n": 1_000, "prompt_ms": 10_000, "predicted_n": 100, "predicted_ms": 5_000,
            ])
            _ = m.handle(.modelReplied(fix, cost: 0, now: now))
            _ = written(&m, reproduction ? ["calc.py", "test_calc.py"] : ["calc.py"], now: now)
            return m.handle(.verified(.failed("1 failed"), tests: Self.test(passed: false), now: now))
        }
        // Time for a reply (about 3 s at this run's replies) and the fix's test run (1 s) after it: the next call.
        guard case .callModel = attempt(at: 50) else {
            Issue.record("expected another reply")
            return
        }
        // Not enough: the reproduction test comes out and the fix is judged by the project's tests.
        #expect(attempt(at: 98) == .write(["test_calc.py": Self.testFile.text]))
        // Nothing to fall back on without a reproduction test: undone on the time limit as before.
        #expect(attempt(at: 98, reproduction: false) == .write(["calc.py": Self.file.text]))
    }

    // MARK: - The reproduction test when tests already fail

    static func pytest(failing: [String], passed: Int) -> TestRun {
        TestRun(
            command: "pytest", exitCode: failing.isEmpty ? 0 : 1, timedOut: false, durationSeconds: 0.1,
            output: failing.map { "FAILED \($0) - Error" }.joined(separator: "\n")
                + "\n\(failing.isEmpty ? "" : "\(failing.count) failed, ")\(passed) passed in 0.1s")
    }
    static let brokenBefore = pytest(failing: ["test_net.py::test_fetch"], passed: 1)

    func machineWithFailingBaseline() -> AttemptMachine {
        AttemptMachine(
            plan: .init(
                task: "add() subtracts", files: [Self.file], agents: nil, testCommand: "pytest",
                testFile: Self.testFile,
                baseline: Self.brokenBefore),
            budget: Budget(limits: AgentLimits()))
    }

    /// Has the model add a test, and reports `run` as the tests with it.
    func reproduce(_ m: inout AttemptMachine, content: String = addedTest, run: TestRun) -> AttemptMachine.Action {
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.reply("test_calc.py\n```python\n\(content)```\n"), cost: 0, now: 1))
        _ = written(&m, ["test_calc.py"], now: 1)
        return m.handle(.testsRan(run, now: 1))
    }

    @Test func withTestsFailingBeforehandAReproductionIsKeptOnlyIfANewTestFails() {
        var m = machineWithFailingBaseline()
        let reproduced = Self.pytest(failing: ["test_calc.py::T::test_b", "test_net.py::test_fetch"], passed: 1)
        guard case .callModel(let call) = reproduce(&m, run: reproduced) else {
            Issue.record("expected the fix request")
            return
        }
        #expect(call.phase == "attempt")
        let kept = m.takeRecords().compactMap { if case .attemptReproduction(let r) = $0 { r } else { nil } }
        #expect(kept.map(\.kept) == [true])

        // Only the test that failed before fails: the new test passes, so it shows nothing.
        var same = machineWithFailingBaseline()
        #expect(
            reproduce(&same, run: Self.pytest(failing: ["test_net.py::test_fetch"], passed: 2))
                == .write(["test_calc.py": Self.testFile.text]))
        _ = written(&same, [], now: 1)
        let dropped = same.takeRecords().compactMap { if case .attemptReproduction(let r) = $0 { r } else { nil } }
        #expect(dropped.first?.reason == "no test fails with it that did not fail before any fix, so it shows nothing")

        // Output that cannot be read test by test cannot tell the new test's failure from the old one.
        var unreadable = machineWithFailingBaseline()
        #expect(reproduce(&unreadable, run: Self.test(passed: false)) == .write(["test_calc.py": Self.testFile.text]))
    }

    @Test func withTestsFailingBeforehandTheOwnTestsDecideTestByTest() {
        let edited = Self.addedTest.replacingOccurrences(of: "add(0, 0), 0", with: "add(0, 0), 1")
        var m = machineWithFailingBaseline()
        _ = reproduce(
            &m, content: edited,
            run: Self.pytest(failing: ["test_calc.py::T::test_a", "test_net.py::test_fetch"], passed: 1))
        _ = m.handle(.modelReplied(Self.fix(), cost: 0, now: 2))
        _ = written(&m, ["calc.py", "test_calc.py"], now: 2)
        // Only the test that failed before still fails: the edited test comes out, and the own tests run without it.
        #expect(
            m.handle(.verified(.passedWithoutProof("no worse"), tests: Self.brokenBefore, now: 3))
                == .write(["test_calc.py": Self.testFile.text]))
        #expect(written(&m, ["calc.py"], now: 3) == .runTests)
        var worse = m
        let outcome = expectStop(m.handle(.testsRan(Self.brokenBefore, now: 3)), .unverified)
        #expect(
            outcome?.reason.hasPrefix("no test of the project's that passed before the change fails with it") == true)
        // A test that passed before and fails without the reproduction test sends the model back.
        let broken = Self.pytest(failing: ["test_calc.py::T::test_a", "test_net.py::test_fetch"], passed: 0)
        #expect(worse.handle(.testsRan(broken, now: 3)) == .write(["test_calc.py": edited]))
    }

    // MARK: - The budget

    @Test func theStepLimitStopsTheAttemptAndItsFilesAreUndone() {
        var m = machine(testFile: Self.testFile, limits: AgentLimits(maxSteps: 1))
        // The reproduction request was the one step; the fix may not be asked for, and both files go back.
        #expect(reproduce(&m) == .write(["calc.py": Self.file.text, "test_calc.py": Self.testFile.text]))
        _ = expectStop(written(&m, [], now: 1), .limit, limit: .steps)
        #expect(m.calls == 1)
    }

    @Test func timeUpWhileWaitingStopsWithTheTimeLimit() {
        var m = machine(limits: AgentLimits(maxTimeSeconds: 30))
        _ = m.handle(.start(now: 5))
        #expect(m.budget.secondsLeft(now: 15) == 20)
        #expect(m.handle(.timeUp(now: 35)) == .write(["calc.py": Self.file.text]))
        let outcome = expectStop(written(&m, [], now: 35), .limit, limit: .time)
        #expect(outcome?.reason == "time limit of 30s reached")
    }

    @Test func theCostLimitAndTheHostStopTheNextCall() {
        var m = machine(limits: AgentLimits(maxCostUSD: 0.05))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.fix("y = 2\n"), cost: 0.06, now: 1))
        _ = written(&m, ["calc.py"], now: 1)
        #expect(
            m.handle(.verified(.failed("f"), tests: Self.test(passed: false), now: 1))
                == .write(["calc.py": Self.file.text]))
        _ = expectStop(written(&m, [], now: 1), .limit, limit: .cost)

        var halted = machine()
        _ = halted.handle(.start(now: 0))
        halted.halt("the team's budget is spent")
        _ = halted.handle(.modelReplied(Self.fix("y = 3\n"), cost: 0, now: 1))
        _ = written(&halted, ["calc.py"], now: 1)
        _ = halted.handle(.verified(.failed("f"), tests: Self.test(passed: false), now: 1))
        let outcome = expectStop(written(&halted, [], now: 1), .limit, limit: .host)
        #expect(outcome?.reason == "the team's budget is spent")
    }

    @Test func anEventOutOfTurnEndsTheAttemptSafely() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        // Tests that were never asked for: the files are put back rather than guessed about.
        #expect(m.handle(.testsRan(Self.test(passed: true), now: 1)) == .write(["calc.py": Self.file.text]))
        guard case .handOver = written(&m, [], now: 1) else {
            Issue.record("expected a handover")
            return
        }
        guard case .stop(let outcome) = m.handle(.start(now: 2)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .failed)
    }
}
