import Foundation

/// The tool loop as a value-type state machine with no I/O.
///
/// The driver feeds it events (a model reply, a tool's result, a verification outcome) and performs the action it
/// returns. Everything that decides *what happens next* (limits, malformed replies, repeats, what runs after a failed
/// call, repair rounds, when to compact) lives here, so tests can drive it without a model, a sandbox or a clock.
/// What is worth a line in the trace and not seen by the driver (a refused reply, a call not run) is left in
/// `records` for the driver to write.
public struct AgentMachine: Sendable {
    public enum Action: Sendable, Hashable {
        /// Ask the model for the next reply, given this history.
        case callModel([ChatMessage])
        /// Run this tool call and report back with `toolFinished`. A reply's calls come one at a time, in order.
        case runTool(ToolCall)
        /// The model called `finish`: judge the change and report back with `verified`.
        case verify(summary: String)
        /// The history is near the context window: summarise these messages and report back with `compacted`.
        case compact([ChatMessage])
        /// The run is over.
        case stop(Outcome)
    }

    public struct Outcome: Sendable, Hashable {
        public var status: RunStatus
        public var reason: String
        public var summary: String
        public var limit: LimitKind?

        public init(status: RunStatus, reason: String, summary: String = "", limit: LimitKind? = nil) {
            self.status = status
            self.reason = reason
            self.summary = summary
            self.limit = limit
        }
    }

    public enum Event: Sendable {
        case start(now: Double)
        case modelReplied(ModelReply, cost: Double, now: Double)
        case modelFailed(String, now: Double)
        case toolFinished(ToolResult, now: Double)
        case verified(Verification, now: Double)
        case compacted(summary: String, usage: Usage, cost: Double, now: Double)
        case compactionFailed(now: Double)
        /// The time limit passed while the driver was waiting on the model or a tool.
        case timeUp(now: Double)
    }

    public struct ToolResult: Sendable, Hashable {
        public var callID: String
        public var name: String
        public var output: String
        public var isError: Bool
        public init(callID: String, name: String, output: String, isError: Bool = false) {
            self.callID = callID
            self.name = name
            self.output = output
            self.isError = isError
        }
    }

    /// The model's context window, in tokens; compaction starts at `compactAt` of it.
    public let contextWindow: Int
    public var compactAt: Double = 0.75
    /// How many recent messages compaction keeps verbatim.
    public var keepRecent: Int = 6

    public private(set) var history: [ChatMessage]
    /// Steps, tokens, cost and time: shared with the phase before (the whole-file attempt).
    public private(set) var budget: Budget
    public internal(set) var repairsUsed = 0
    /// Whether the model has been asked for a test that shows its change works.
    public internal(set) var askedForProof = false
    /// Whether the model has been told that the tests pass only with its edits to them.
    public internal(set) var toldTestsRewritten = false
    /// `finish` calls the tests judged with no change in the workspace.
    public internal(set) var noChangeFinishes = 0
    public private(set) var compactions = 0
    public private(set) var consecutiveMalformed = 0
    public internal(set) var finished: Outcome?
    /// Trace lines only the machine knows of (refused replies, calls not run), for the driver to write.
    public private(set) var records: [TraceEvent] = []
    private var pendingCalls: [ToolCall] = []
    private var pendingFinish: ToolCall?
    private var replyHadError = false
    private var lastCompactionSize = Int.max
    /// The last refused reply, while refusals run on: the same reply again ends the loop.
    private var lastRefused: ModelReply?
    /// Calls that failed or were refused since the files last changed, and how often; see `stuckOn`.
    private var failedCalls: [(call: ToolCall, count: Int)] = []

    public init(history: [ChatMessage], budget: Budget, contextWindow: Int) {
        self.history = history
        self.budget = budget
        self.contextWindow = contextWindow
    }

    public init(history: [ChatMessage], limits: AgentLimits, contextWindow: Int) {
        self.init(history: history, budget: Budget(limits: limits), contextWindow: contextWindow)
    }

    /// The temperature of the next call: after a refused reply (a repeat, a malformed action), the same context at
    /// temperature 0 mostly brings the same reply back (on click, three repeats in a row ended 3 of 10 runs), so the
    /// next call samples, as the attempt's retries do; nil (the profile's own) otherwise.
    public var nextTemperature: Double? { consecutiveMalformed > 0 ? AttemptMachine.retryTemperature : nil }

    public var limits: AgentLimits { budget.limits }
    public var steps: Int { budget.steps }
    public var usage: Usage { budget.usage }
    public var costUSD: Double { budget.costUSD }
    public var estimatedTokens: Int { history.reduce(0) { $0 + $1.estimatedTokens } }

    /// The trace lines gathered since the last call.
    public mutating func takeRecords() -> [TraceEvent] {
        defer { records = [] }
        return records
    }

    /// The host stops the run's spending; the next model call becomes a stop.
    public mutating func halt(_ reason: String) { budget.halt(reason) }

    public mutating func handle(_ event: Event) -> Action {
        if let finished { return .stop(finished) }
        switch event {
        case .start(let now):
            budget.start(now: now)
            return nextModelCall(now: now)

        case .modelReplied(let reply, let cost, let now):
            budget.spend(reply.usage, cost: cost, timings: reply.serverTimings)
            if let reached = budget.costReached { return stop(.limit, reached.reason, limit: reached.limit) }
            return handleReply(reply, now: now)

        case .modelFailed(let message, _):
            return stop(.failed, "model error: \(message)")

        case .toolFinished(let result, let now):
            // The call that ran is in the last reply, which is in the history before any of its calls run.
            if let call = history.last(where: { $0.role == .assistant })?.toolCalls.first(where: {
                $0.id == result.callID
            }) {
                if result.isError {
                    noteFailure(of: call)
                } else if !call.tool.isReadOnly {
                    failedCalls = []  // The files may have changed: what failed may work now.
                }
            }
            history.append(.tool(result.output, callID: result.callID, name: result.name, isError: result.isError))
            replyHadError = replyHadError || result.isError
            return nextTool(now: now)

        case .verified(let verification, let now):
            return handleVerification(verification, now: now)

        case .compacted(let summary, let compactUsage, let cost, let now):
            budget.spend(compactUsage, cost: cost, step: false)
            applyCompaction(
                summary: "Summary of the earlier part of this session (older turns were compacted):\n"
                    + summary)
            return nextModelCall(now: now)

        case .compactionFailed(let now):
            applyCompaction(summary: "(Older turns were dropped to fit the context window.)")
            return nextModelCall(now: now)

        case .timeUp:
            let timeUp = budget.timeUp
            return stop(.limit, timeUp.reason, limit: timeUp.limit)
        }
    }

    // MARK: - Replies and tool calls

    private mutating func handleReply(_ reply: ModelReply, now: Double) -> Action {
        if let call = stuckOn(reply) {
            return stop(
                .failed,
                "the model made the same call again after it had failed twice, or had been refused as a repeat, "
                    + "with nothing changed in between: \(call.name) \(call.arguments.prefix(200))")
        }
        if let error = Self.refusal(of: reply, history: history) {
            return malformed(reply, error: error, now: now)
        }
        consecutiveMalformed = 0
        lastRefused = nil
        history.append(ChatMessage(role: .assistant, content: reply.content, toolCalls: reply.toolCalls))
        pendingFinish = reply.toolCalls.first { $0.tool == .finish }
        pendingCalls = reply.toolCalls.filter { $0.tool != .finish }
        replyHadError = false
        return nextTool(now: now)
    }

    /// The reply's next call; after the last one, its `finish` (if any) or the next turn.
    private mutating func nextTool(now: Double) -> Action {
        if !pendingCalls.isEmpty {
            let call = pendingCalls.removeFirst()
            guard replyHadError else { return .runTool(call) }
            // Actions in one reply run in order; after one fails, the rest would build on a wrong premise.
            let output = "Error: not run, because an earlier action in the same reply failed."
            history.append(.tool(output, callID: call.id, name: call.name, isError: true))
            records.append(
                .toolResult(
                    .init(
                        step: budget.steps, call: call, isError: true, output: output, durationSeconds: 0,
                        budget: budget,
                        skipped: true)))
            return nextTool(now: now)
        }
        guard let finish = pendingFinish else { return afterTurn(now: now) }
        pendingFinish = nil
        // A reply that acts and then finishes only finishes if its actions worked.
        if replyHadError {
            history.append(
                .tool(
                    "Not run: an earlier action in the same reply failed. Fix that, then call finish.",
                    callID: finish.id, name: finish.name, isError: true))
            return afterTurn(now: now)
        }
        return .verify(summary: Self.summary(of: finish))
    }

    /// A call that failed or was refused twice since the files last changed, made a third time (each call of the
    /// reply such a one; `finish` has rules of its own). A small model that alternates between two refused or
    /// failing calls slips past "three refusals in a row" and spends every step left on them (on click: a refused
    /// search and an edit copying the prompt's example, in turn, to the step limit, 50k tokens).
    ///
    /// A call refused as a repeat counts twice: it did not fail, its result was in front of the model, which was
    /// told so. Made once more it ends the loop (on click the same search came back after an edit between, 3,000
    /// more tokens sent each time, and never led anywhere).
    func stuckOn(_ reply: ModelReply) -> ToolCall? {
        let calls = reply.toolCalls.filter { $0.tool != .finish }
        guard !calls.isEmpty else { return nil }
        let stuck = calls.allSatisfy { call in
            failedCalls.contains { $0.count >= 2 && Self.sameCalls([$0.call], [call]) }
        }
        return stuck ? calls[0] : nil
    }

    private mutating func noteFailure(of call: ToolCall, strikes: Int = 1) {
        if let index = failedCalls.firstIndex(where: { Self.sameCalls([$0.call], [call]) }) {
            failedCalls[index].count += strikes
        } else {
            failedCalls.append((call, strikes))
        }
    }

    private mutating func malformed(_ reply: ModelReply, error: String, now: Double) -> Action {
        consecutiveMalformed += 1
        for call in reply.toolCalls where call.tool != .finish {
            noteFailure(of: call, strikes: error == Self.repeatRefusal ? 2 : 1)
        }
        let output = "Error: not run. \(error)"
        records.append(.replyRejected(.init(step: budget.steps, error: error)))
        for call in reply.toolCalls {
            records.append(
                .toolResult(
                    .init(
                        step: budget.steps, call: call, isError: true, output: output, durationSeconds: 0,
                        budget: budget,
                        rejected: true)))
        }
        if consecutiveMalformed >= limits.maxMalformedReplies {
            return stop(.failed, "the model gave \(consecutiveMalformed) malformed replies in a row; last: \(error)")
        }
        // Told what was wrong and sampled afresh, it gave the refused reply back word for word: it is stuck, and one
        // more call (the whole context again) would only bring it back a third time (5 of 5 such runs on click).
        if let previous = lastRefused, Self.sameReply(previous, reply) {
            return stop(
                .failed,
                "the model gave the same refused reply again, word for word, after being told why; last: \(error)")
        }
        lastRefused = reply
        // Native tool calls must each be answered, or the next request is invalid.
        history.append(ChatMessage(role: .assistant, content: reply.content, toolCalls: reply.toolCalls))
        if reply.toolCalls.isEmpty {
            history.append(.user("Error: \(error)"))
        } else {
            for call in reply.toolCalls {
                history.append(.tool(output, callID: call.id, name: call.name, isError: true))
            }
        }
        return nextModelCall(now: now)
    }

    // MARK: - Turns, limits and compaction

    mutating func afterTurn(now: Double) -> Action {
        if Double(estimatedTokens) > Double(contextWindow) * compactAt, estimatedTokens < lastCompactionSize,
            let range = compactableRange()
        {
            return .compact(Array(history[range]))
        }
        return nextModelCall(now: now)
    }

    mutating func nextModelCall(now: Double) -> Action {
        if let exhausted = budget.admit(history, now: now) {
            return stop(.limit, exhausted.reason, limit: exhausted.limit)
        }
        return .callModel(history)
    }

    /// The messages compaction may replace: after the pinned prefix, before the last few messages, never splitting
    /// an assistant's tool calls from their results.
    private func compactableRange() -> Range<Int>? {
        guard let start = history.firstIndex(where: { !$0.pinned }) else { return nil }
        var end = history.count - keepRecent
        while end > start, history[end].role == .tool { end -= 1 }
        guard end - start >= 2 else { return nil }
        return start..<end
    }

    private mutating func applyCompaction(summary: String) {
        let before = estimatedTokens
        if let range = compactableRange() {
            history.replaceSubrange(range, with: [.user(summary)])
            compactions += 1
            lastCompactionSize = estimatedTokens
        }
        records.append(.contextCompacted(.init(tokensBefore: before, tokensAfter: estimatedTokens)))
    }

    mutating func stop(_ status: RunStatus, _ reason: String, summary: String = "", limit: LimitKind? = nil) -> Action {
        let outcome = Outcome(status: status, reason: reason, summary: summary, limit: limit)
        finished = outcome
        return .stop(outcome)
    }

    /// Feedback on a `finish`: its tool result when the reply had one, else a user message.
    mutating func answer(_ finishCall: ToolCall?, with message: String) {
        if let finishCall {
            history.append(.tool(message, callID: finishCall.id, name: finishCall.name))
        } else {
            history.append(.user(message))
        }
    }
}
