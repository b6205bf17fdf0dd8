import FerryCore
import Testing

/// Whether a run starts its tool loop, by what the loop achieved with the same model before.
@Suite struct LoopGateTests {
    static let failed = LoopGate.Past(use: .ran, keptChange: false)
    static let kept = LoopGate.Past(use: .ran, keptChange: true)
    static let skipped = LoopGate.Past(use: .skipped, keptChange: false)

    static func skips(_ decision: LoopGate.Decision) -> Bool {
        if case .skip = decision { return true }
        return false
    }

    @Test func aModelWithoutEnoughLoopsBehindItStartsOne() {
        #expect(LoopGate.decide(.auto, history: [], model: "m") == .start)
        #expect(LoopGate.decide(.auto, history: Array(repeating: Self.failed, count: 3), model: "m") == .start)
    }

    @Test func loopsThatKeptNothingCloseTheGateAndTheReasonSaysWhy() {
        let decision = LoopGate.decide(.auto, history: Array(repeating: Self.failed, count: 4), model: "qwen-1.5b")
        guard case .skip(let why) = decision else {
            Issue.record("expected the loop to be skipped")
            return
        }
        #expect(why.contains("none of the last 4 tool loops with qwen-1.5b kept a change"))
        #expect(why.contains("tool_loop = \"always\""))
    }

    @Test func oneKeptChangeInTheWindowKeepsTheGateOpen() {
        let history = [Self.failed, Self.failed, Self.failed, Self.kept, Self.failed, Self.failed]
        #expect(LoopGate.decide(.auto, history: history, model: "m") == .start)
        // A kept change older than the window no longer counts.
        let old = Array(repeating: Self.failed, count: LoopGate.window) + [Self.kept]
        #expect(Self.skips(LoopGate.decide(.auto, history: old, model: "m")))
    }

    @Test func theLoopIsProbedAgainAfterSkipsThatDoubleWithEachFailedProbe() {
        var history = Array(repeating: Self.failed, count: 4)
        var skips: [Bool] = []
        // Runs in order, each recorded newest first as the store gives them.
        for _ in 0..<140 {
            let skip = Self.skips(LoopGate.decide(.auto, history: history, model: "m"))
            skips.append(skip)
            history.insert(skip ? Self.skipped : Self.failed, at: 0)
        }
        // Four skips, a probe (now five loops that failed), eight skips, a probe, sixteen, thirty-two, then 32 again.
        let ran = skips.indices.filter { !skips[$0] }
        #expect(Array(ran.prefix(5)) == [4, 13, 30, 63, 96])
        #expect((4...12).map { LoopGate.interval(failed: $0) } == [4, 8, 16, 32, 32, 32, 32, 32, 32])
        #expect(LoopGate.interval(failed: 1_000) == LoopGate.maxInterval)
        // The gaps stop growing at `maxInterval`.
        var long =
            Array(repeating: Self.skipped, count: LoopGate.maxInterval - 1) + Array(repeating: Self.failed, count: 30)
        #expect(Self.skips(LoopGate.decide(.auto, history: long, model: "m")))
        long.insert(Self.skipped, at: 0)
        #expect(LoopGate.decide(.auto, history: long, model: "m") == .start)
        // Skipped runs between loops do not push the loops out of the record.
        let spread = [Self.skipped, Self.failed, Self.skipped, Self.failed, Self.skipped, Self.failed, Self.failed]
        #expect(Self.skips(LoopGate.decide(.auto, history: spread, model: "m")))
    }

    @Test func theConfigDecidesOverTheRecord() {
        let record = Array(repeating: Self.failed, count: 8)
        #expect(LoopGate.decide(.always, history: record, model: "m") == .start)
        #expect(LoopGate.decide(.never, history: [], model: "m") == .skip("[agent] tool_loop = \"never\""))
        #expect(LoopGate.Mode.never.spends < LoopGate.Mode.auto.spends)
        #expect(LoopGate.Mode.auto.spends < LoopGate.Mode.always.spends)
    }

    /// The attempt's later replies are gated by the same rule on their own record, and say so in their own words.
    @Test func theAttemptsLaterRepliesAreGatedByTheSameRule() {
        let four = Array(repeating: Self.failed, count: 4)
        guard case .skip(let why) = LoopGate.decide(.auto, history: four, model: "qwen-1.5b", stage: .retries) else {
            Issue.record("expected later replies to be skipped")
            return
        }
        #expect(why.contains("in none of the last 4 attempts with qwen-1.5b that asked for a second reply"))
        #expect(why.contains("attempt_retries = \"always\""))
        #expect(LoopGate.decide(.auto, history: [Self.kept] + four, model: "m", stage: .retries) == .start)
        #expect(
            LoopGate.decide(.never, history: [], model: "m", stage: .retries)
                == .skip("[agent] attempt_retries = \"never\""))
        #expect(LoopGate.Decision.skip("x").reason == "x" && LoopGate.Decision.start.reason == nil)
    }
}
