import Foundation
import Testing

@testable import FerryCore

/// The trace's schema: every event reads back as it was written, with the documented keys.
@Suite struct TraceEventTests {
    static let tests = TraceEvent.Tests(
        TestRun(command: "pytest -q", exitCode: 1, timedOut: false, durationSeconds: 1.5, output: "1 failed"))
    static let call = ToolCall(id: "c1", name: "read_file", arguments: #"{"path":"a.py","start_line":3}"#)
    static var budget: Budget {
        var budget = Budget(limits: AgentLimits())
        budget.spend(Usage(inputTokens: 10, outputTokens: 5), cost: 0.25)
        return budget
    }

    /// One of each kind.
    static let samples: [TraceEvent] = [
        .runStarted(
            .init(
                runID: "r", repo: "/repo", base: "abc", branch: "ferry/r", task: "fix it", model: "m",
                provider: "openai",
                toolProtocol: "native", sandbox: "bubblewrap", sandboxSource: "default", network: false,
                maxProcesses: 64,
                worktree: "/w")),
        .configWarning(.init("ignored")), .baselineStarted(.init("pytest -q")), .baseline(tests),
        .testsUnusable(.init(command: "nope", output: "not found")),
        .testsRelated(.init("tests related to a.py: test_a.py")), .loopSkipped(.init("none of the last 4 tool loops")),
        .attemptStarted(.init(files: ["a.py"])),
        .attemptReproduction(
            .init(path: "t.py", kept: true, addsOnly: true, tests: tests, content: "def test(): pass")),
        .attemptReproduction(.init(path: "t.py", kept: false, reason: "it passes before any fix")),
        .attemptApplied(.init(reply: 2, changedFiles: ["a.py"], problems: ["cut off"])),
        .attemptStarted(.init(files: ["big.py"], kind: "symbols", symbols: ["big.py: A.f"], candidates: 3)),
        .attemptCandidates(
            .init(candidates: [
                .init(
                    index: 1, temperature: 0.7, usage: Usage(inputTokens: 9, outputTokens: 2), costUSD: 0.01,
                    changedFiles: ["big.py"],
                    outcome: "passed", agreement: 2, chosen: true, why: "chosen: passed", problems: nil)
            ])),
        .attemptFinished(.init(outcome: "undone", replies: 3)),
        .attemptRetriesSkipped(.init("no later reply kept a change")),
        .modelReply(
            .init(
                step: 1, phase: "attempt",
                reply: {
                    var reply = ModelReply(
                        content: "hi", toolCalls: [call], usage: Usage(inputTokens: 3, cachedInputTokens: 1),
                        finishReason: "stop")
                    reply.serverTimings = ["prompt_n": 12, "predicted_per_second": .number(40.5)]
                    return reply
                }(), cost: 0.001)),
        .modelRetry(.init(step: 2, phase: nil, attempt: 1, waitSeconds: 0.5, reason: "429", at: 12)),
        .modelError(.init(step: 3, phase: "reproduce", error: "boom")),
        .replyRejected(.init(step: 4, error: "no tool call")),
        .toolResult(
            .init(
                step: 5, call: call, isError: true, output: "Error: x", durationSeconds: 0.1, budget: budget,
                rejected: true)),
        .verifyStarted(.init(summary: "done")),
        .verifyResult(.init(outcome: "passed", phase: nil, changedFiles: ["a.py"], tests: tests)),
        .contextCompacted(.init(tokensBefore: 900, tokensAfter: 300)),
        .indexReady(.init(files: 10, changed: 2, seconds: 0.3, mapTokens: 120, warning: nil)),
        .indexFailed(.init("no ctags")), .changeGuarded(.init(leftOut: ["big.bin"], redacted: [".env"])),
        .runHalted(.init("budget")), .runError(.init("interrupted")),
        .runFinished(
            .init(
                status: .limit, reason: "host", limit: .host, commit: nil, steps: 2, usage: Usage(outputTokens: 9),
                costUSD: 0.5, wallSeconds: 3, runDir: "/d")),
    ]

    @Test func everyEventReadsBackAsWritten() throws {
        let lines = Self.samples.enumerated().map { RunEvent(seq: $0 + 1, time: 1_700_000_000.25, event: $1).jsonLine }
        let read = try RunEvent.read(jsonLines: lines.joined(separator: "\n") + "\n")
        #expect(read.map(\.event) == Self.samples)
        #expect(read.allSatisfy { if case .unknown = $0.event { false } else { true } })
        #expect(Set(Self.samples.map(\.type)).count == 27)
    }

    @Test func theWireUsesSnakeCaseKeysAndLeavesOutWhatIsNotSet() throws {
        let toolResult = try #require(Self.samples.first { $0.type == "tool.result" })
        let line = RunEvent(seq: 7, time: 1, event: toolResult).jsonLine
        let json = try #require(JSONValue.parse(line))
        #expect(json["type"] == "tool.result" && json["seq"] == 7)
        let data = try #require(json["data"])
        #expect(data["call_id"] == "c1" && data["cost_usd"] == .number(0.25) && data["is_error"] == true)
        #expect(data["total_tokens"] == 15 && data["duration_seconds"] == .number(0.1) && data["brief"] == "a.py:3")
        #expect(data["rejected"] == true && data["skipped"] == nil && data["timed_out"] == nil)
        // A server's own timings keep their keys.
        let modelReply = try #require(Self.samples.first { $0.type == "model.reply" })
        let reply = try #require(JSONValue.parse(RunEvent(seq: 1, time: 1, event: modelReply).jsonLine)?["data"])
        #expect(reply["server_timings"]?["prompt_n"] == 12)
        #expect(reply["usage"]?["cached_input_tokens"] == 1)
    }

    @Test func unknownTypesAreKeptAndBadLinesNamed() throws {
        let newer = #"{"data":{"why":"later"},"seq":1,"time":2,"type":"run.paused"}"#
        let read = try RunEvent.read(jsonLines: newer)
        #expect(read.first?.event == .unknown(type: "run.paused", data: ["why": "later"]))
        #expect(read.first?.jsonLine == newer)
        #expect(throws: (any Error).self) { try TraceEvent(type: "tool.result", data: ["step": "one"]) }
        do {
            _ = try RunEvent.read(jsonLines: newer + "\nnot json\n")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("trace line 2"))
        }
    }

    @Test func redactionReachesEveryString() {
        let event = TraceEvent.toolResult(
            .init(
                step: 1, call: ToolCall(id: "c", name: "shell", arguments: #"{"command":"echo sk-SECRET"}"#),
                isError: false,
                output: "sk-SECRET", durationSeconds: 0, budget: Self.budget))
        let redacted = event.mapStrings { $0.replacingOccurrences(of: "sk-SECRET", with: "[redacted]") }
        #expect(!redacted.data.jsonString.contains("sk-SECRET"))
        guard case .toolResult(let result) = redacted else {
            Issue.record("expected tool.result")
            return
        }
        #expect(result.output == "[redacted]" && result.brief == "echo [redacted]")
    }
}
