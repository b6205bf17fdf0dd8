import FerryCore
import Testing

/// The attempt on definitions of a large file, the parse check, and candidates chosen by the tests.
@Suite struct AttemptCandidatesTests {
    static let big = SourceFile(
        path: "shop.py",
        text:
            "class Shop:\n    def total(self, prices):\n        return sum(prices)\n\n    def other(self):\n        return 0\n"
    )
    static let unit = SymbolUnit(
        path: "shop.py", name: "Shop.total", startLine: 2, endLine: 3,
        text: "    def total(self, prices):\n        return sum(prices)")

    static func reply(_ body: String) -> ModelReply {
        ModelReply(
            content: "I will fix it.\n\nshop.py: Shop.total\n```python\n\(body)\n```\n",
            usage: Usage(inputTokens: 500, outputTokens: 30), finishReason: "stop")
    }
    static let rounded = reply("def total(self, prices):\n    return round(sum(prices), 2)")
    static let roundedFile = big.text.replacingOccurrences(
        of: "return sum(prices)", with: "return round(sum(prices), 2)")
    static let wrong = reply("def total(self, prices):\n    return 0")
    static let wrongFile = big.text.replacingOccurrences(of: "return sum(prices)", with: "return 0")
    static func tests(_ passed: Bool) -> TestRun {
        TestRun(
            command: "pytest", exitCode: passed ? 0 : 1, timedOut: false, durationSeconds: 0.1,
            output: passed ? "ok" : "1 failed")
    }

    func machine(candidates: Int = 1, testCommand: String? = "pytest", limits: AgentLimits = AgentLimits())
        -> AttemptMachine
    {
        AttemptMachine(
            plan: .init(
                task: "total() should round to cents", files: [Self.big], agents: nil, testCommand: testCommand,
                testFile: nil,
                symbols: [Self.unit], outlines: ["shop.py": "1: class Shop:\n2:     def total(self, prices):"],
                candidates: candidates),
            budget: Budget(limits: limits))
    }

    /// Reports a candidate's files written and parsed, then what the tests said of it (none without a test command).
    func judge(_ m: inout AttemptMachine, _ verification: AgentMachine.Verification?, now: Double)
        -> AttemptMachine.Action
    {
        _ = m.handle(.written(changed: ["shop.py"], now: now))
        let parsed = m.handle(.syntaxChecked(problems: [], now: now))
        guard let verification else { return parsed }
        return m.handle(.verified(verification, tests: Self.tests(verification.name == "passed"), now: now))
    }

    @Test func theDefinitionIsShownWholeAndItsReplacementIsSplicedIntoTheFile() {
        var m = machine()
        guard case .callModel(let call) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return
        }
        #expect(call.messages.first?.content == AttemptPrompts.symbolSystem)
        let prompt = call.messages.last?.content ?? ""
        #expect(prompt.contains("# Outline of shop.py") && prompt.contains("shop.py: Shop.total (lines 2-3)"))
        #expect(!prompt.contains("def other"))
        #expect(call.maxTokens == 300 + AttemptPrompts.tokens(Self.unit.text))
        #expect(m.handle(.modelReplied(Self.rounded, cost: 0, now: 1)) == .write(["shop.py": Self.roundedFile]))
        #expect(m.handle(.written(changed: ["shop.py"], now: 1)) == .checkSyntax(["shop.py"]))
        #expect(m.handle(.syntaxChecked(problems: [], now: 1)) == .verify)
        guard case .settle(let outcome) = m.handle(.verified(.passed("fixed"), tests: Self.tests(true), now: 2)) else {
            Issue.record("expected the attempt to settle")
            return
        }
        #expect(outcome.status == .verified)
        let started = m.takeRecords().compactMap { if case .attemptStarted(let s) = $0 { s } else { nil } }.first
        #expect(started?.kind == "symbols" && started?.symbols == ["shop.py: Shop.total"])
    }

    @Test func aChangeThatDoesNotParseGoesBackWithTheReasonAndNoTestsRun() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.rounded, cost: 0, now: 1))
        _ = m.handle(.written(changed: ["shop.py"], now: 1))
        guard
            case .callModel(let retry) = m.handle(.syntaxChecked(problems: ["shop.py line 3: invalid syntax"], now: 1))
        else {
            Issue.record("expected a retry")
            return
        }
        #expect(retry.temperature == AttemptMachine.retryTemperature)
        #expect(
            retry.messages.last?.content.contains(
                "Your change does not parse: shop.py line 3: invalid syntax. Give the whole definition again") == true)
        #expect(retry.messages.last?.content.contains("complete corrected definition(s)") == true)
        let results = m.takeRecords().compactMap { if case .verifyResult(let r) = $0 { r.outcome } else { nil } }
        #expect(results == ["syntax_error"])
    }

    @Test func candidatesAreSampledJudgedByTheTestsAndTheOneThatPassesWins() {
        var m = machine(candidates: 3)
        guard case .callModel(let first) = m.handle(.start(now: 0)) else {
            Issue.record("expected a model call")
            return
        }
        #expect(first.phase == "candidate" && first.temperature == nil)
        guard case .callModel(let second) = m.handle(.modelReplied(Self.wrong, cost: 0.01, now: 1)) else {
            Issue.record("expected a second sample")
            return
        }
        #expect(second.temperature == AttemptMachine.retryTemperature && second.messages == first.messages)
        _ = m.handle(.modelReplied(Self.rounded, cost: 0.01, now: 1))
        // The third repeats the first: judged once.
        #expect(m.handle(.modelReplied(Self.wrong, cost: 0.01, now: 1)) == .write(["shop.py": Self.wrongFile]))
        #expect(m.handle(.written(changed: ["shop.py"], now: 1)) == .checkSyntax(["shop.py"]))
        #expect(m.handle(.syntaxChecked(problems: [], now: 1)) == .verify)
        #expect(
            m.handle(.verified(.failed("1 failed"), tests: Self.tests(false), now: 2))
                == .write(["shop.py": Self.roundedFile]))
        _ = m.handle(.written(changed: ["shop.py"], now: 2))
        _ = m.handle(.syntaxChecked(problems: [], now: 2))
        // Judged: the passing one is written back and settles with the judgement it had, without a second test run.
        #expect(
            m.handle(.verified(.passed("fixed"), tests: Self.tests(true), now: 3))
                == .write(["shop.py": Self.roundedFile]))
        let records = m.takeRecords()
        guard let judged = records.compactMap({ if case .attemptCandidates(let c) = $0 { c } else { nil } }).first
        else {
            Issue.record("no attempt.candidates record")
            return
        }
        #expect(judged.candidates.map(\.outcome) == ["failed", "passed", "duplicate"])
        #expect(judged.candidates.map(\.chosen) == [false, true, false])
        #expect(judged.candidates.map(\.agreement) == [2, 1, 2])
        #expect(judged.candidates[2].why == "the same change as candidate 1")
        #expect(m.budget.steps == 3 && abs(m.budget.costUSD - 0.03) < 1e-12)
        guard case .settle(let outcome) = m.handle(.written(changed: ["shop.py"], now: 3)) else {
            Issue.record("expected the attempt to settle")
            return
        }
        #expect(outcome.status == .verified && outcome.reason == "fixed")
        #expect(m.finalTests == Self.tests(true))
    }

    @Test func whenNoCandidatePassesTheOneMostAgreeOnSteersTheRetries() {
        var m = machine(candidates: 3)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.rounded, cost: 0, now: 1))
        _ = m.handle(.modelReplied(Self.wrong, cost: 0, now: 1))
        _ = m.handle(.modelReplied(Self.wrong, cost: 0, now: 1))
        _ = judge(&m, .failed("1 failed"), now: 1)
        #expect(judge(&m, .failed("1 failed"), now: 2) == .write(["shop.py": Self.wrongFile]))
        let judged = m.takeRecords().compactMap { if case .attemptCandidates(let c) = $0 { c } else { nil } }.first
        #expect(judged?.candidates.map(\.chosen) == [false, true, false])
        #expect(judged?.candidates[1].why.hasPrefix("no candidate passed") == true)
        // The pick's failure goes back as it was, without running the tests again.
        guard case .callModel(let retry) = m.handle(.written(changed: ["shop.py"], now: 2)) else {
            Issue.record("expected a retry")
            return
        }
        #expect(retry.phase == "attempt")
        #expect(retry.messages.dropLast().last?.content == Self.wrong.content)
    }

    @Test func theStepBudgetCapsHowManyAreSampled() {
        var limits = AgentLimits()
        limits.maxSteps = 2
        var m = machine(candidates: 5, limits: limits)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.wrong, cost: 0, now: 1))
        // Two steps spent: the samples are judged, no third call.
        #expect(m.handle(.modelReplied(Self.rounded, cost: 0, now: 1)) == .write(["shop.py": Self.wrongFile]))
        #expect(m.budget.steps == 2)
    }

    @Test func withoutATestCommandAgreementDecides() {
        var m = machine(candidates: 3, testCommand: nil)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(Self.wrong, cost: 0, now: 1))
        _ = m.handle(.modelReplied(Self.rounded, cost: 0, now: 1))
        _ = m.handle(.modelReplied(Self.rounded, cost: 0, now: 1))
        _ = judge(&m, nil, now: 1)
        _ = judge(&m, nil, now: 1)
        let judged = m.takeRecords().compactMap { if case .attemptCandidates(let c) = $0 { c } else { nil } }.first
        #expect(judged?.candidates.map(\.outcome) == ["untested", "untested", "duplicate"])
        #expect(judged?.candidates.map(\.chosen) == [false, true, false])
    }
}
