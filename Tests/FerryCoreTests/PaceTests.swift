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
        budget.spend(
            Usage(inputTokens: 1_500, outputTokens: 100), cost: 0,
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
}
