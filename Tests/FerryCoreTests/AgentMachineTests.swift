import FerryCore
import Testing

@Suite struct AgentMachineTests {
    func machine(_ limits: AgentLimits = AgentLimits(), window: Int = 100_000) -> AgentMachine {
        AgentMachine(history: [.system("sys"), .user("task", pinned: true)], limits: limits, contextWindow: window)
    }

    func call(_ name: String, _ args: String = "{}", id: String = "c1") -> ModelReply {
        ModelReply(
            content: "", toolCalls: [ToolCall(id: id, name: name, arguments: args)],
            usage: Usage(inputTokens: 10, outputTokens: 5))
    }

    /// Starts `m` and feeds it reads with long results until it asks to compact (or gives up after 8).
    func readsUntilCompaction(_ m: inout AgentMachine) -> AgentMachine.Action {
        _ = m.handle(.start(now: 0))
        var action: AgentMachine.Action = .callModel([])
        for i in 0..<8 {
            _ = m.handle(.modelReplied(call("read_file", "{\"path\":\"a\(i)\"}", id: "c\(i)"), cost: 0, now: 1))
            action = m.handle(
                .toolFinished(
                    .init(callID: "c\(i)", name: "read_file", output: String(repeating: "x", count: 400)), now: 1))
            if case .compact = action { break }
        }
        return action
    }

    @Test func startAsksTheModel() {
        var m = machine()
        guard case .callModel(let history) = m.handle(.start(now: 0)) else {
            Issue.record("expected callModel")
            return
        }
        #expect(history.count == 2)
    }

    @Test func toolCallRunsToolsThenAsksAgain() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        #expect(
            m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0.01, now: 1))
                == .runTool(ToolCall(id: "c1", name: "read_file", arguments: #"{"path":"a"}"#)))
        guard
            case .callModel(let history) = m.handle(
                .toolFinished(.init(callID: "c1", name: "read_file", output: "x"), now: 2))
        else {
            Issue.record("expected callModel")
            return
        }
        #expect(history.last?.role == .tool)
        #expect(history.last?.toolCallID == "c1")
        #expect(m.steps == 1)
        #expect(m.usage.inputTokens == 10)
        #expect(abs(m.costUSD - 0.01) < 1e-12)
    }

    @Test func finishVerifiesAndPassingTestsMeanVerified() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        #expect(
            m.handle(.modelReplied(call("finish", #"{"summary":"done"}"#), cost: 0, now: 1)) == .verify(summary: "done")
        )
        guard case .stop(let outcome) = m.handle(.verified(.passed("ok"), now: 2)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .verified)
        #expect(outcome.summary == "done")
    }

    @Test func failingTestsGetRepairRoundsThenFail() {
        var m = machine(AgentLimits(repairRounds: 2))
        _ = m.handle(.start(now: 0))
        for round in 1...2 {
            _ = m.handle(.modelReplied(call("finish", #"{"summary":"s"}"#, id: "f\(round)"), cost: 0, now: 1))
            guard case .callModel(let history) = m.handle(.verified(.failed("1 failed"), now: 2)) else {
                Issue.record("expected a repair round")
                return
            }
            #expect(history.last?.content.contains("1 failed") == true)
            #expect(history.last?.toolCallID == "f\(round)")
        }
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"s"}"#, id: "f3"), cost: 0, now: 1))
        guard case .stop(let outcome) = m.handle(.verified(.failed("1 failed"), now: 2)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .failed)
        #expect(m.repairsUsed == 2)
    }

    @Test func noChangeIsNeverVerified() {
        var m = machine(AgentLimits(repairRounds: 0))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"nothing to do"}"#), cost: 0, now: 1))
        guard case .stop(let outcome) = m.handle(.verified(.noChange, now: 2)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason == "no change")
    }

    @Test func aSecondFinishWithNothingChangedEndsTheLoopThoughRepairRoundsAreLeft() {
        var m = machine(AgentLimits(repairRounds: 3))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"done"}"#, id: "f1"), cost: 0, now: 1))
        guard case .callModel(let history) = m.handle(.verified(.noChange, now: 2)) else {
            Issue.record("expected the model to be told and asked again")
            return
        }
        #expect(history.last?.content.contains("no change") == true)
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "r"), cost: 0, now: 3))
        _ = m.handle(.toolFinished(.init(callID: "r", name: "read_file", output: "x"), now: 3))
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"done now"}"#, id: "f2"), cost: 0, now: 4))
        guard case .stop(let outcome) = m.handle(.verified(.noChange, now: 5)) else {
            Issue.record("expected the loop to end")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason.contains("finish twice without changing anything"))
        #expect(m.repairsUsed == 1)
    }

    @Test func noTestCommandIsUnverified() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"s"}"#), cost: 0, now: 1))
        guard case .stop(let outcome) = m.handle(.verified(.noTestCommand, now: 2)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .unverified)
    }

    @Test func threeMalformedRepliesInARowStop() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let bad = ModelReply(content: "hmm", formatError: "no action")
        guard case .callModel(let history) = m.handle(.modelReplied(bad, cost: 0, now: 1)) else {
            Issue.record("expected retry")
            return
        }
        #expect(history.last?.content.contains("no action") == true)
        // Bad JSON arguments count too, and each call gets an answer.
        guard case .callModel(let next) = m.handle(.modelReplied(call("edit_file", "{not json"), cost: 0, now: 1))
        else {
            Issue.record("expected retry")
            return
        }
        #expect(next.last?.role == .tool)
        guard case .stop(let outcome) = m.handle(.modelReplied(ModelReply(content: "just text"), cost: 0, now: 1))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason.contains("3 malformed"))
    }

    @Test func aGoodReplyResetsTheMalformedCount() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(ModelReply(content: "x", formatError: "e"), cost: 0, now: 1))
        _ = m.handle(.modelReplied(ModelReply(content: "y", formatError: "e"), cost: 0, now: 1))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0, now: 1))
        #expect(m.consecutiveMalformed == 0)
    }

    @Test func theSameRefusedReplyAgainEndsTheLoop() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("search_code", #"{"query":"x"}"#, id: "a"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "a", name: "search_code", output: "x.py"), now: 1))
        // A reply with no call is refused and the model asked again (sampling now).
        let idle = ModelReply(content: "I will look at x.py.")
        guard case .callModel = m.handle(.modelReplied(idle, cost: 0, now: 2)) else {
            Issue.record("expected the model to be asked again")
            return
        }
        // The same refused reply once more: stuck, so the loop ends now, not a call later.
        guard case .stop(let outcome) = m.handle(.modelReplied(idle, cost: 0, now: 3)) else {
            Issue.record("expected the loop to end")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason.contains("same refused reply again"))
        #expect(m.consecutiveMalformed == 2)

        // The same repeated call once more, its id aside, ends it as well (refused as a repeat, made again).
        var repeated = searchedTwice(#"{"query":"x"}"#)
        guard
            case .stop(let again) = repeated.handle(
                .modelReplied(call("search_code", #"{"query": "x"}"#, id: "c"), cost: 0, now: 3))
        else {
            Issue.record("expected the loop to end")
            return
        }
        #expect(again.status == .failed && again.reason.contains("refused as a repeat"))
    }

    @Test func aDifferentRefusedReplyOrAGoodOneInBetweenDoesNotEndTheLoop() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let bad = ModelReply(content: "hmm", formatError: "no action")
        _ = m.handle(.modelReplied(bad, cost: 0, now: 1))
        // Refused again, but for saying something else: asked again.
        guard
            case .callModel = m.handle(
                .modelReplied(ModelReply(content: "hmm!", formatError: "no action"), cost: 0, now: 1))
        else {
            Issue.record("expected the model to be asked again")
            return
        }
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "c1", name: "read_file", output: "x"), now: 1))
        // A good reply in between: the old refusal is forgotten, so this one is only the first of a new run.
        guard
            case .callModel = m.handle(
                .modelReplied(ModelReply(content: "hmm!", formatError: "no action"), cost: 0, now: 1))
        else {
            Issue.record("expected the model to be asked again")
            return
        }
        #expect(m.consecutiveMalformed == 1)
    }

    @Test func stepLimitStops() {
        var m = machine(AgentLimits(maxSteps: 2))
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "c1", name: "read_file", output: ""), now: 1))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"b"}"#), cost: 0, now: 1))
        guard
            case .stop(let outcome) = m.handle(
                .toolFinished(.init(callID: "c1", name: "read_file", output: ""), now: 1))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .limit)
        #expect(outcome.limit == .steps)
    }

    @Test func costLimitStops() {
        var m = machine(AgentLimits(maxCostUSD: 0.05))
        _ = m.handle(.start(now: 0))
        // Under the limit the calls run.
        guard case .runTool = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0.03, now: 1)) else {
            Issue.record("expected runTool under the cost limit")
            return
        }
        _ = m.handle(.toolFinished(.init(callID: "c1", name: "read_file", output: ""), now: 1))
        guard case .stop(let outcome) = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0.03, now: 2))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.limit == .cost)
        #expect(outcome.status == .limit)
    }

    @Test func timeLimitStops() {
        var m = machine(AgentLimits(maxTimeSeconds: 10))
        _ = m.handle(.start(now: 100))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#), cost: 0, now: 105))
        guard
            case .stop(let outcome) = m.handle(
                .toolFinished(.init(callID: "c1", name: "read_file", output: ""), now: 111))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.limit == .time)
    }

    @Test func compactionKeepsPinnedMessagesAndRecentTurns() {
        var m = AgentMachine(
            history: [.system("sys"), .user("the task", pinned: true)], limits: AgentLimits(), contextWindow: 1_000)
        let action = readsUntilCompaction(&m)
        guard case .compact(let old) = action else {
            Issue.record("expected compaction")
            return
        }
        #expect(!old.contains { $0.pinned })
        #expect(old.first?.role == .assistant)
        guard
            case .callModel(let history) = m.handle(
                .compacted(summary: "I read a.", usage: Usage(inputTokens: 50), cost: 0.001, now: 2))
        else {
            Issue.record("expected callModel")
            return
        }
        #expect(history[0].content == "sys")
        #expect(history[1].content == "the task")
        #expect(history[2].content.contains("I read a."))
        #expect(history[3].role == .assistant)  // a turn is never split from its results
        #expect(m.compactions == 1)
        #expect(m.usage.inputTokens == 50 + 10 * m.steps)
    }

    @Test func finishAlongsideOtherCallsRunsThemFirst() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let reply = ModelReply(
            content: "",
            toolCalls: [
                ToolCall(id: "a", name: "edit_file", arguments: "{}"),
                ToolCall(id: "b", name: "finish", arguments: #"{"summary":"s"}"#),
            ])
        #expect(
            m.handle(.modelReplied(reply, cost: 0, now: 1))
                == .runTool(ToolCall(id: "a", name: "edit_file", arguments: "{}")))
        #expect(
            m.handle(.toolFinished(.init(callID: "a", name: "edit_file", output: "ok"), now: 1))
                == .verify(summary: "s"))
    }
}

extension AgentMachineTests {
    @Test func theSameCallTwiceInARowIsRefusedAndCounted() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("search", #"{"pattern":"x"}"#, id: "a"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "a", name: "search", output: "no matches"), now: 1))
        guard
            case .callModel(let history) = m.handle(
                .modelReplied(call("search", #"{"pattern": "x"}"#, id: "b"), cost: 0, now: 2))
        else {
            Issue.record("expected the model to be asked again")
            return
        }
        #expect(history.last?.content.contains("You already made this exact call") == true)
        #expect(m.consecutiveMalformed == 1)
        // Asked again at temperature 0, a small model gives the same call back: the next call samples.
        #expect(m.nextTemperature == AttemptMachine.retryTemperature)
        // A different call is fine again, and the temperature goes back to the profile's.
        #expect(
            m.handle(.modelReplied(call("read_file", #"{"path":"x"}"#, id: "c"), cost: 0, now: 3))
                == .runTool(ToolCall(id: "c", name: "read_file", arguments: #"{"path":"x"}"#)))
        #expect(m.nextTemperature == nil)
    }
}

extension AgentMachineTests {
    @Test func aReadRepeatedBeforeAnyChangeIsRefusedButNotAfterAnEdit() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "1"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "1", name: "read_file", output: "x"), now: 1))
        _ = m.handle(.modelReplied(call("search", #"{"pattern":"y"}"#, id: "2"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "2", name: "search", output: "y"), now: 1))
        // The same read, two steps later, with no edit in between: refused.
        guard case .callModel = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "3"), cost: 0, now: 1))
        else {
            Issue.record("expected a refusal")
            return
        }
        #expect(m.consecutiveMalformed == 1)
        _ = m.handle(.modelReplied(call("edit_file", #"{"path":"a","old":"x","new":"z"}"#, id: "4"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "4", name: "edit_file", output: "ok"), now: 1))
        // After the edit, reading it again is the right thing to do.
        #expect(
            m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "5"), cost: 0, now: 1))
                == .runTool(ToolCall(id: "5", name: "read_file", arguments: #"{"path":"a"}"#)))
    }
}

extension AgentMachineTests {
    @Test func aFailedEditDoesNotCountAsAChange() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "1"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "1", name: "read_file", output: "x"), now: 1))
        _ = m.handle(
            .modelReplied(call("edit_file", #"{"path":"a","old":"nope","new":"z"}"#, id: "2"), cost: 0, now: 1))
        _ = m.handle(
            .toolFinished(
                .init(callID: "2", name: "edit_file", output: "Error: `old` was not found", isError: true), now: 1))
        guard
            case .callModel(let history) = m.handle(
                .modelReplied(call("read_file", #"{"path":"a"}"#, id: "3"), cost: 0, now: 1))
        else {
            Issue.record("expected a refusal")
            return
        }
        #expect(history.last?.content.contains("You already made this exact call") == true)
    }

    @Test func aModelErrorEndsTheRunAsFailedWithTheError() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        guard case .stop(let outcome) = m.handle(.modelFailed("HTTP 500 from the server", now: 1)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason == "model error: HTTP 500 from the server")
        // Once stopped, it stays stopped whatever comes.
        #expect(m.handle(.start(now: 2)) == .stop(outcome))
    }

    @Test func timeUpWhileWaitingStopsWithTheTimeLimit() {
        var m = machine(AgentLimits(maxTimeSeconds: 30))
        _ = m.handle(.start(now: 0))
        guard case .stop(let outcome) = m.handle(.timeUp(now: 31)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .limit)
        #expect(outcome.limit == .time)
        #expect(outcome.reason == "time limit of 30s reached")
    }

    @Test func aFailedCompactionDropsOldTurnsAndGoesOn() {
        var m = AgentMachine(
            history: [.system("sys"), .user("the task", pinned: true)], limits: AgentLimits(), contextWindow: 1_000)
        let action = readsUntilCompaction(&m)
        guard case .compact = action else {
            Issue.record("expected compaction")
            return
        }
        let before = m.estimatedTokens
        guard case .callModel(let history) = m.handle(.compactionFailed(now: 2)) else {
            Issue.record("expected callModel")
            return
        }
        #expect(history[1].content == "the task")
        #expect(history[2].content.contains("dropped to fit the context window"))
        #expect(m.estimatedTokens < before)
        #expect(m.compactions == 1)
    }

    @Test func testsThatPassOnlyWithTheirOwnEditsAreToldOnceThenUnverified() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"done"}"#), cost: 0, now: 1))
        guard
            case .callModel(let history) = m.handle(
                .verified(.testsRewritten("the tests pass only with edits"), now: 1))
        else {
            Issue.record("expected the model to be told")
            return
        }
        #expect(history.last?.content.contains("judged by the project's tests as they were before it") == true)
        _ = m.handle(.modelReplied(call("finish", #"{"summary":"done again"}"#, id: "c2"), cost: 0, now: 2))
        guard case .stop(let outcome) = m.handle(.verified(.testsRewritten("the tests pass only with edits"), now: 2))
        else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .unverified)
        #expect(outcome.reason == "the tests pass only with edits")
    }

    @Test func aRefusedReplyIsRecordedForTheTrace() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("edit_file", #"{"path": "a"#, id: "bad"), cost: 0, now: 1))
        let records = m.takeRecords()
        guard case .replyRejected(let rejected)? = records.first, case .toolResult(let answer)? = records.last else {
            Issue.record("expected reply.rejected then its call's answer, got \(records)")
            return
        }
        #expect(records.count == 2 && rejected.error.contains("not a valid JSON object"))
        #expect(
            answer.callID == "bad" && answer.rejected == true && answer.isError
                && answer.output.hasPrefix("Error: not run."))
        // A good reply leaves nothing for the trace beyond what the driver records itself.
        _ = m.handle(.modelReplied(call("read_file", #"{"path":"a"}"#, id: "good"), cost: 0, now: 2))
        #expect(m.takeRecords().isEmpty)
    }
}

extension AgentMachineTests {
    @Test func testsWithoutProofGetOneRequestForATestThenUnverified() {
        var m = AgentMachine(
            history: [.system("s"), .user("t", pinned: true)], limits: AgentLimits(), contextWindow: 100_000)
        _ = m.handle(.start(now: 0))
        let finish = ModelReply(
            content: "", toolCalls: [ToolCall(id: "f", name: "finish", arguments: #"{"summary":"s"}"#)])
        _ = m.handle(.modelReplied(finish, cost: 0, now: 1))
        guard case .callModel(let history) = m.handle(.verified(.passedWithoutProof("tests pass"), now: 2)) else {
            Issue.record("expected another model call")
            return
        }
        #expect(history.last?.content.contains("Add a test") == true)
        _ = m.handle(
            .modelReplied(
                ModelReply(content: "", toolCalls: [ToolCall(id: "g", name: "finish", arguments: "{}")]), cost: 0,
                now: 3))
        guard case .stop(let outcome) = m.handle(.verified(.passedWithoutProof("tests pass"), now: 4)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.status == .unverified)
        #expect(outcome.reason.contains("no test failed without the change"))
    }

    @Test func callsOutsideTheLoopCountAndTheCostLimitHolds() {
        var budget = Budget(limits: AgentLimits(maxCostUSD: 0.01))
        budget.spend(Usage(inputTokens: 500, outputTokens: 50), cost: 0.02)
        var m = AgentMachine(history: [.system("s")], budget: budget, contextWindow: 100_000)
        #expect(m.steps == 1 && m.usage.inputTokens == 500)
        guard case .stop(let outcome) = m.handle(.start(now: 0)) else {
            Issue.record("expected stop")
            return
        }
        #expect(outcome.limit == .cost)
    }

    @Test func aRepeatedPlanThatEndsInFinishIsStillARepeat() {
        var m = AgentMachine(
            history: [.system("s"), .user("t", pinned: true)], limits: AgentLimits(), contextWindow: 100_000)
        _ = m.handle(.start(now: 0))
        let calls = [
            ToolCall(id: "a", name: "edit_file", arguments: #"{"path":"t.py","old":"x","new":"y"}"#),
            ToolCall(id: "b", name: "finish", arguments: #"{"summary":"s"}"#),
        ]
        _ = m.handle(.modelReplied(ModelReply(content: "", toolCalls: calls), cost: 0, now: 1))
        _ = m.handle(
            .toolFinished(.init(callID: "a", name: "edit_file", output: "Error: not found", isError: true), now: 2))
        guard
            case .callModel(let history) = m.handle(
                .modelReplied(ModelReply(content: "", toolCalls: calls), cost: 0, now: 3))
        else {
            Issue.record("expected the repeat to be refused")
            return
        }
        #expect(history.last?.content.contains("You already made this exact call") == true)
        #expect(m.consecutiveMalformed == 1)
    }
}

extension AgentMachineTests {
    @Test func finishAfterAFailedActionIsNotVerified() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let reply = ModelReply(
            content: "",
            toolCalls: [
                ToolCall(id: "e", name: "edit_file", arguments: "{}"),
                ToolCall(id: "f", name: "finish", arguments: #"{"summary":"s"}"#),
            ])
        _ = m.handle(.modelReplied(reply, cost: 0, now: 1))
        guard
            case .callModel(let history) = m.handle(
                .toolFinished(.init(callID: "e", name: "edit_file", output: "Error: no", isError: true), now: 1))
        else {
            Issue.record("expected another model call, not verification")
            return
        }
        #expect(history.last?.toolCallID == "f")
        #expect(history.last?.content.contains("earlier action in the same reply failed") == true)
    }
}

extension AgentMachineTests {
    /// A failing edit and a refused search, in turn: each refusal is "one in a row", so only this rule ends it. The
    /// edit, failed twice with nothing changed, is not made a third time.
    @Test func theSameFailingCallAThirdTimeWithNothingChangedEndsTheLoop() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let edit = #"{"path":"a.py","old":"if count > 10:","new":"if count >= 10:"}"#
        for round in 0..<2 {
            #expect(
                m.handle(.modelReplied(call("edit_file", edit, id: "e\(round)"), cost: 0, now: 3))
                    == .runTool(ToolCall(id: "e\(round)", name: "edit_file", arguments: edit)))
            _ = m.handle(
                .toolFinished(
                    .init(callID: "e\(round)", name: "edit_file", output: "Error: `old` was not found", isError: true),
                    now: 3))
            let read = #"{"path":"a.py","start_line":\#(round + 1)}"#
            _ = m.handle(.modelReplied(call("read_file", read, id: "r\(round)"), cost: 0, now: 3))
            _ = m.handle(.toolFinished(.init(callID: "r\(round)", name: "read_file", output: "x"), now: 3))
        }
        guard case .stop(let outcome) = m.handle(.modelReplied(call("edit_file", edit, id: "e3"), cost: 0, now: 4))
        else {
            Issue.record("expected the loop to end")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason.contains("the same call again after it had failed twice"))
        #expect(outcome.reason.contains("edit_file"))
    }

    /// A loop whose model searched, read the result, and made the same search again (refused as a repeat).
    func searchedTwice(_ search: String) -> AgentMachine {
        var m = machine()
        _ = m.handle(.start(now: 0))
        _ = m.handle(.modelReplied(call("search_code", search, id: "1"), cost: 0, now: 1))
        _ = m.handle(.toolFinished(.init(callID: "1", name: "search_code", output: "a.py:1"), now: 1))
        _ = m.handle(.modelReplied(call("search_code", search, id: "2"), cost: 0, now: 2))
        #expect(m.history.last?.content.contains("You already made this exact call") == true)
        return m
    }

    /// A search refused as a repeat (its result was in front of the model) counts twice: made once more, after a
    /// failing edit between, it ends the loop.
    @Test func aCallRefusedAsARepeatAndMadeOnceMoreEndsTheLoop() {
        let search = #"{"query":"lookup_default"}"#
        var m = searchedTwice(search)
        let edit = #"{"path":"a.py","old":"if count > 10:","new":"if count >= 10:"}"#
        _ = m.handle(.modelReplied(call("edit_file", edit, id: "e"), cost: 0, now: 3))
        _ = m.handle(
            .toolFinished(
                .init(callID: "e", name: "edit_file", output: "Error: `old` was not found", isError: true), now: 3))
        guard case .stop(let outcome) = m.handle(.modelReplied(call("search_code", search, id: "3"), cost: 0, now: 4))
        else {
            Issue.record("expected the loop to end")
            return
        }
        #expect(outcome.status == .failed)
        #expect(outcome.reason.contains("refused as a repeat"))
        #expect(outcome.reason.contains("search_code"))

        // A search made twice and refused once is not stuck while a change came between: the files changed.
        var changed = searchedTwice(search)
        let good = #"{"path":"a.py","old":"x = 1","new":"x = 2"}"#
        _ = changed.handle(.modelReplied(call("edit_file", good, id: "g"), cost: 0, now: 3))
        _ = changed.handle(.toolFinished(.init(callID: "g", name: "edit_file", output: "Edited a.py"), now: 3))
        #expect(
            changed.handle(.modelReplied(call("search_code", search, id: "3"), cost: 0, now: 4))
                == .runTool(ToolCall(id: "3", name: "search_code", arguments: search)))
    }

    @Test func aChangeToTheFilesForgetsWhatFailedBefore() {
        var m = machine()
        _ = m.handle(.start(now: 0))
        let test = #"{"command":"pytest -q"}"#
        for round in 0..<2 {
            _ = m.handle(.modelReplied(call("shell", test, id: "t\(round)"), cost: 0, now: 1))
            _ = m.handle(
                .toolFinished(.init(callID: "t\(round)", name: "shell", output: "1 failed", isError: true), now: 1))
            _ = m.handle(
                .modelReplied(
                    call("read_file", #"{"path":"a.py","start_line":\#(round + 1)}"#, id: "r\(round)"), cost: 0, now: 1)
            )
            _ = m.handle(.toolFinished(.init(callID: "r\(round)", name: "read_file", output: "x"), now: 1))
        }
        // An edit that worked: the tests may pass now, so running them a third time is right.
        _ = m.handle(
            .modelReplied(call("edit_file", #"{"path":"a.py","old":"x","new":"y"}"#, id: "e"), cost: 0, now: 2))
        _ = m.handle(.toolFinished(.init(callID: "e", name: "edit_file", output: "ok"), now: 2))
        #expect(
            m.handle(.modelReplied(call("shell", test, id: "t3"), cost: 0, now: 3))
                == .runTool(ToolCall(id: "t3", name: "shell", arguments: test)))
    }
}
