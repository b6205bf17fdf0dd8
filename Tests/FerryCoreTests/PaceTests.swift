import FerryCore
import Testing

/// The run's pace, from the server's own timings, and the rule that a model call that cannot finish in the time left
/// is not made.
@Suite struct PaceTests {
    static func timings(promptN: Int, promptMS: Double, predictedN: Int, predictedMS: Double) -> JSONValue {
        .object([
            "prompt_n": .number(Double(promptN)), "prompt_ms": .number(promptMS),
            "predicted_n": .number(Double(predictedN)), "predicted_ms": .number(predictedMS),
            "cache_n": .number(12),
        ])
    }

    @Test func thePaceIsTheServersOwnTimingsAddedUp() {
        var pace = Pace()
        pace.observe(nil)
        pace.observe(.object(["cache_n": .number(3)]))
        #expect(pace.secondsPerPromptToken == nil && pace.leastSeconds(freshTokens: 1_000) == nil)
        pace.observe(Self.timings(promptN: 150, promptMS: 2_100, predictedN: 10, predictedMS: 400))
        // 150 prompt tokens are too few to say how fast the model reads.
        #expect(pace.secondsPerPromptToken == nil)
        pace.observe(Self.timings(promptN: 850, promptMS: 12_900, predictedN: 90, predictedMS: 3_600))
        #expect(pace.promptTokens == 1_000 && abs(pace.promptSeconds - 15) < 1e-9)
        #expect(abs((pace.secondsPerPromptToken ?? 0) - 0.015) < 1e-12)
        #expect(abs((pace.secondsPerReplyToken ?? 0) - 0.04) < 1e-12)
        // 2,000 tokens to read at 15 ms, then the shortest useful reply at 40 ms a token.
        let least = pace.leastSeconds(freshTokens: 2_000) ?? 0
        #expect(abs(least - (30 + Double(Pace.shortestReply) * 0.04)) < 1e-9)
    }

    @Test func onlyWhatFollowsTheSharedPrefixIsReadAgain() {
        let system = ChatMessage.system(String(repeating: "s", count: 4_000))
        let task = ChatMessage.user(String(repeating: "t", count: 2_000))
        let reply = ChatMessage(role: .assistant, content: String(repeating: "r", count: 400))
        let retry = ChatMessage.user(String(repeating: "u", count: 800))
        #expect(Pace.freshTokens([system, task], after: []) == system.estimatedTokens + task.estimatedTokens)
        #expect(Pace.freshTokens([system, task, reply, retry], after: [system, task]) == 104 + 204)
        // A new conversation (the tool loop after the attempt) shares nothing past a different first message.
        #expect(Pace.freshTokens([.system("other"), task], after: [system, task]) == 5 + task.estimatedTokens)
    }

    @Test func aCallThatCannotFinishInTheTimeLeftIsNotMade() {
        var budget = Budget(limits: AgentLimits(maxTimeSeconds: 150))
        budget.start(now: 0)
        let first: [ChatMessage] = [.system("You are Ferry."), .user(String(repeating: "x", count: 6_000))]
        // No pace yet (the first call): only the limits themselves count.
        #expect(budget.admit(first, now: 10) == nil)
        // The server counted the prompt as Ferry estimated it (1,511 tokens): no correction.
        budget.spend(
            Usage(inputTokens: 1_511, outputTokens: 100), cost: 0,
            timings: Self.timings(promptN: 1_500, promptMS: 22_500, predictedN: 100, predictedMS: 4_000))
        // The tool loop's first prompt, about 2,500 tokens new to the server, with 20 s left: it would take ~39 s.
        let loop: [ChatMessage] = [.system("tools"), .user(String(repeating: "y", count: 10_000))]
        let refused = budget.admit(loop, now: 130)
        #expect(refused?.limit == .time)
        #expect(
            refused?.reason
                == "time limit of 150s: 20 s left, and the next model call needs about 40 s (2509 prompt tokens "
                + "to read at the 15 ms a token this model has taken)")
        // A retry that only adds a short message to the same conversation is read in a second or two: it is made.
        let retry = first + [ChatMessage(role: .assistant, content: "no"), .user("Your reply changed nothing.")]
        // Unless the time the attempt keeps to judge a fix it holds (`reserve`) would not be left after it.
        var keeping = budget
        let kept = keeping.admit(retry, now: 130, reserve: 19)
        #expect(kept?.limit == .time)
        #expect(kept?.reason.hasSuffix(", with 19 s kept to judge the fix already written") == true)
        #expect(keeping.admit(retry, now: 130, reserve: 10) == nil)
        #expect(budget.admit(retry, now: 130) == nil)
        // Earlier in the run, with 90 s left, the loop's prompt is made.
        #expect(budget.admit(loop, now: 60) == nil)
        // No time limit: nothing is refused for the pace.
        var unlimited = Budget(limits: AgentLimits())
        unlimited.start(now: 0)
        unlimited.spend(
            Usage(), cost: 0,
            timings: Self.timings(promptN: 1_500, promptMS: 22_500, predictedN: 100, predictedMS: 4_000))
        #expect(unlimited.admit(loop, now: 10_000) == nil)
    }

    /// The tool loop after an attempt with the time nearly gone ends at once as a time limit, without a call whose
    /// prompt the server would go on reading after the run has ended.
    @Test func theLoopStopsBeforeAPromptItCannotFinish() {
        var budget = Budget(limits: AgentLimits(maxTimeSeconds: 150))
        budget.start(now: 0)
        budget.spend(
            Usage(inputTokens: 1_500, outputTokens: 100), cost: 0,
            timings: Self.timings(promptN: 1_500, promptMS: 22_500, predictedN: 100, predictedMS: 4_000))
        var machine = AgentMachine(
            history: [.user(String(repeating: "z", count: 10_000))], budget: budget, contextWindow: 16_384)
        guard case .stop(let outcome) = machine.handle(.start(now: 140)) else {
            Issue.record("expected the loop to stop")
            return
        }
        #expect(outcome.status == .limit && outcome.limit == .time)
        #expect(outcome.reason.hasPrefix("time limit of 150s: 10 s left"))
        // Earlier, the same loop calls the model.
        var early = AgentMachine(
            history: [.user(String(repeating: "z", count: 10_000))], budget: budget, contextWindow: 16_384)
        guard case .callModel = early.handle(.start(now: 40)) else {
            Issue.record("expected a model call")
            return
        }
    }

    /// Ferry estimates four bytes a token; code runs nearer three. The server's own count of each prompt corrects
    /// the estimate, so a call the estimate says fits but the server would read for longer is not made.
    @Test func theServersCountCorrectsFerrysEstimate() {
        var pace = Pace()
        #expect(pace.tokensPerEstimate == 1)
        pace.calibrate(counted: 150, estimated: 100)
        #expect(pace.tokensPerEstimate == 1)  // too few to say
        pace.calibrate(counted: 1_350, estimated: 900)
        #expect(abs(pace.tokensPerEstimate - 1.5) < 1e-12)
        #expect(pace.counted(1_000) == 1_500)
        pace.calibrate(counted: 100_000, estimated: 1)
        #expect(pace.tokensPerEstimate == 3)  // kept within reason

        var budget = Budget(limits: AgentLimits(maxTimeSeconds: 150))
        budget.start(now: 0)
        let code: [ChatMessage] = [.system("s"), .user(String(repeating: "x", count: 8_000))]
        #expect(budget.admit(code, now: 0) == nil)
        let estimated = code.reduce(0) { $0 + $1.estimatedTokens }
        budget.spend(
            Usage(inputTokens: estimated * 3 / 2, outputTokens: 50), cost: 0,
            timings: Self.timings(promptN: estimated * 3 / 2, promptMS: 45_000, predictedN: 50, predictedMS: 2_000))
        #expect(abs(budget.pace.tokensPerEstimate - 1.5) < 0.01)
        // A new prompt of ~2,000 estimated tokens is ~3,000 to the server: 45 s at 15 ms, past the 40 s left.
        let loop: [ChatMessage] = [.system("tools"), .user(String(repeating: "y", count: 8_000))]
        let refused = budget.admit(loop, now: 110)
        #expect(refused?.limit == .time)
        #expect(refused?.reason.contains("(3014 prompt tokens to read") == true)
        // A compaction (no step) says nothing of the last prompt's size.
        var other = Budget(limits: AgentLimits())
        _ = other.admit(code, now: 0)
        other.spend(Usage(inputTokens: 100_000, outputTokens: 10), cost: 0, step: false)
        #expect(other.pace.tokensPerEstimate == 1)
    }

    /// The loop's first prompt gets a repo map and relevant files within what the model reads in a third of the
    /// time left; without a pace or a time limit, the usual budgets.
    @Test func theLoopsFirstPromptIsSizedToTheTimeLeft() {
        let machine = RunMachine(
            settings: .init(
                task: "t", limits: AgentLimits(maxTimeSeconds: 150), contextWindow: 16_384, maxOutputTokens: 1_024,
                testCommand: nil, firstAttempt: true))
        var pace = Pace()
        #expect(machine.loopContextBudgets(fixed: 700, secondsLeft: 72, pace: pace) == (1_024, 3_276))
        pace.observe(Self.timings(promptN: 1_000, promptMS: 15_000, predictedN: 50, predictedMS: 2_000))
        #expect(machine.loopContextBudgets(fixed: 700, secondsLeft: nil, pace: pace) == (1_024, 3_276))
        // 72 s left at 15 ms a token: 1,600 tokens in 24 s; 700 are the task, the listing and the note.
        #expect(machine.loopContextBudgets(fixed: 700, secondsLeft: 72, pace: pace) == (900, 0))
        #expect(machine.loopContextBudgets(fixed: 700, secondsLeft: 300, pace: pace) == (1_024, 3_276))
        #expect(machine.loopContextBudgets(fixed: 700, secondsLeft: 150, pace: pace) == (1_024, 1_609))
        #expect(machine.loopContextBudgets(fixed: 2_000, secondsLeft: 60, pace: pace) == (0, 0))
    }
}
