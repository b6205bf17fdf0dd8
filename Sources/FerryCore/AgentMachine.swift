import Foundation

/// The agent loop as a value-type state machine with no I/O.
///
/// The driver feeds it events (a model reply, tool results, a verification outcome) and performs the action it
/// returns. Everything that decides *what happens next* — limits, malformed replies, repair rounds, when to compact —
/// lives here, so tests can drive it without a model, a sandbox or a clock.
public struct AgentMachine: Sendable {
    public enum Action: Sendable, Hashable {
        /// Ask the model for the next reply, given this history.
        case callModel([ChatMessage])
        /// Run these tool calls and report back with `toolsFinished`.
        case runTools([ToolCall])
        /// The model called `finish`: run the tests and report back with `verified`.
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

    public enum Verification: Sendable, Hashable {
        /// The tests pass and show the change works: one failed before it, or one it adds fails without the rest.
        case passed(String)
        /// The tests pass, but none of them failed without the change, so they do not show the task is done.
        case passedWithoutProof(String)
        /// The tests pass only with the change's own edits to tests or their configuration; as they were at the
        /// base commit, they fail with it.
        case testsRewritten(String)
        case failed(String)
        case noTestCommand
        case noChange
    }

    public enum Event: Sendable {
        case start(now: Double)
        case modelReplied(ModelReply, cost: Double, now: Double)
        case modelFailed(String, now: Double)
        case toolsFinished([ToolResult], now: Double)
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

    public static let finishTool = "finish"

    /// A reply refused without running anything.
    public struct Rejection: Sendable, Hashable {
        public var error: String
        public var answers: [ToolAnswer]
    }

    /// The answer a refused call got instead of running.
    public struct ToolAnswer: Sendable, Hashable {
        public var callID: String
        public var name: String
        public var arguments: String
        public var output: String
    }

    public let limits: AgentLimits
    /// The model's context window, in tokens; compaction starts at `compactAt` of it.
    public let contextWindow: Int
    public var compactAt: Double = 0.75
    /// How many recent messages compaction keeps verbatim.
    public var keepRecent: Int = 6

    public private(set) var history: [ChatMessage]
    public private(set) var steps = 0
    public private(set) var usage = Usage()
    public private(set) var costUSD = 0.0
    public private(set) var repairsUsed = 0
    /// Whether the model has been asked for a test that shows its change works.
    public private(set) var askedForProof = false
    /// Whether the model has been told that the tests pass only with its edits to them.
    public private(set) var toldTestsRewritten = false
    public private(set) var compactions = 0
    public private(set) var consecutiveMalformed = 0
    public private(set) var finished: Outcome?
    public private(set) var startedAt = 0.0
    /// Set when the last reply was refused without running anything (malformed, no tool call, a repeat): the error and
    /// the answer each of its calls got, so the driver can put them in the trace.
    public private(set) var lastRejection: Rejection?
    private var pendingFinish: ToolCall?
    private var lastCompactionSize = Int.max

    public init(history: [ChatMessage], limits: AgentLimits, contextWindow: Int) {
        self.history = history
        self.limits = limits
        self.contextWindow = contextWindow
    }

    public var estimatedTokens: Int { history.reduce(0) { $0 + $1.estimatedTokens } }

    /// Counts a model call made outside the loop (the whole-file first attempt) toward steps, tokens and cost.
    public mutating func countModelCall(usage: Usage, cost: Double) {
        steps += 1
        self.usage += usage
        costUSD += cost
    }

    /// Whether the cost limit leaves room for another model call.
    public var withinCostLimit: Bool {
        limits.maxCostUSD.map { costUSD < $0 } ?? true
    }

    public mutating func handle(_ event: Event) -> Action {
        if let finished { return .stop(finished) }
        switch event {
        case .start(let now):
            startedAt = now
            return nextModelCall(now: now)

        case .modelReplied(let reply, let cost, let now):
            lastRejection = nil
            steps += 1
            usage += reply.usage
            costUSD += cost
            if let maxCost = limits.maxCostUSD, costUSD >= maxCost {
                return stop(.limit, "cost limit of $\(maxCost) reached", limit: .cost)
            }
            return handleReply(reply, now: now)

        case .modelFailed(let message, _):
            return stop(.failed, "model error: \(message)")

        case .toolsFinished(let results, let now):
            for result in results {
                history.append(.tool(result.output, callID: result.callID, name: result.name))
            }
            if let finish = pendingFinish {
                pendingFinish = nil
                // A reply that acts and then finishes only finishes if its actions worked.
                if results.contains(where: \.isError) {
                    history.append(
                        .tool(
                            "Not run: an earlier action in the same reply failed. Fix that, then call finish.",
                            callID: finish.id, name: Self.finishTool))
                    return afterTurn(now: now)
                }
                return .verify(summary: Self.summary(of: finish))
            }
            return afterTurn(now: now)

        case .verified(let verification, let now):
            return handleVerification(verification, now: now)

        case .compacted(let summary, let compactUsage, let cost, let now):
            usage += compactUsage
            costUSD += cost
            applyCompaction(summary: "Summary of the earlier part of this session (older turns were compacted):\n"
                + summary)
            return nextModelCall(now: now)

        case .compactionFailed(let now):
            applyCompaction(summary: "(Older turns were dropped to fit the context window.)")
            return nextModelCall(now: now)

        case .timeUp:
            return stop(.limit, "time limit of \(Int(limits.maxTimeSeconds ?? 0))s reached", limit: .time)
        }
    }

    // MARK: - Replies

    private mutating func handleReply(_ reply: ModelReply, now: Double) -> Action {
        if let formatError = reply.formatError {
            return malformed(reply, error: formatError, now: now)
        }
        if reply.toolCalls.isEmpty {
            return malformed(
                reply,
                error: "Your reply contained no tool call. Act with exactly one tool call, or call `finish` with a "
                    + "summary when the task is done.",
                now: now)
        }
        if let bad = reply.toolCalls.first(where: { !Self.argumentsAreObject($0.arguments) }) {
            return malformed(
                reply,
                error: "The arguments of `\(bad.name)` are not a valid JSON object: \(bad.arguments.prefix(200))",
                now: now)
        }
        // Small models loop: the same call again gets the same answer. Refuse it, and count it like a malformed
        // reply so a model that cannot stop repeating itself does not burn the step budget.
        let previousCalls = history.last(where: { $0.role == .assistant })?.toolCalls ?? []
        let repeatsPrevious =
            !previousCalls.isEmpty && Self.sameCalls(previousCalls, reply.toolCalls)
            && !(reply.toolCalls.count == 1 && reply.toolCalls[0].name == Self.finishTool)
        if repeatsPrevious || repeatsARead(reply.toolCalls) {
            return malformed(
                reply,
                error: "You already made this exact call and nothing has changed since; its result is above. Do "
                    + "something different: read another file or another part of it, change the search, or edit.",
                now: now)
        }
        consecutiveMalformed = 0
        history.append(ChatMessage(role: .assistant, content: reply.content, toolCalls: reply.toolCalls))
        let finish = reply.toolCalls.first { $0.name == Self.finishTool }
        let others = reply.toolCalls.filter { $0.name != Self.finishTool }
        if let finish {
            pendingFinish = finish
            if others.isEmpty {
                pendingFinish = nil
                return .verify(summary: Self.summary(of: finish))
            }
        }
        return .runTools(others)
    }

    private mutating func malformed(_ reply: ModelReply, error: String, now: Double) -> Action {
        consecutiveMalformed += 1
        lastRejection = Rejection(
            error: error,
            answers: reply.toolCalls.map {
                ToolAnswer(callID: $0.id, name: $0.name, arguments: $0.arguments, output: "Error: not run. \(error)")
            })
        if consecutiveMalformed >= limits.maxMalformedReplies {
            return stop(.failed, "the model gave \(consecutiveMalformed) malformed replies in a row; last: \(error)")
        }
        // Native tool calls must each be answered, or the next request is invalid.
        history.append(ChatMessage(role: .assistant, content: reply.content, toolCalls: reply.toolCalls))
        if reply.toolCalls.isEmpty {
            history.append(.user("Error: \(error)"))
        } else {
            for call in reply.toolCalls {
                history.append(.tool("Error: not run. \(error)", callID: call.id, name: call.name))
            }
        }
        return nextModelCall(now: now)
    }

    // MARK: - Verification

    private mutating func handleVerification(_ verification: Verification, now: Double) -> Action {
        let finishCall = history.last(where: { $0.role == .assistant })?.toolCalls.first {
            $0.name == Self.finishTool
        }
        let summary = finishCall.map(Self.summary(of:)) ?? ""
        switch verification {
        case .passed(let detail):
            return stop(.verified, detail, summary: summary)
        case .passedWithoutProof(let detail):
            guard !askedForProof, steps < limits.maxSteps else {
                return stop(.unverified, Self.withoutProof(detail), summary: summary)
            }
            askedForProof = true
            let message =
                "The tests pass (\(detail)), but none of them failed before your change, so they do not show that "
                + "the task is done. Add a test to the project's tests that fails without your change and passes "
                + "with it, then call `finish`. If no such test can be written, call `finish` again."
            answer(finishCall, with: message)
            return afterTurn(now: now)
        case .testsRewritten(let detail):
            guard !toldTestsRewritten, steps < limits.maxSteps else {
                return stop(.unverified, detail, summary: summary)
            }
            toldTestsRewritten = true
            let message =
                "Not verified: \(detail). A change is judged by the project's tests as they were before it. Fix the "
                + "code so those tests pass, and keep edits to tests to added tests. If the task itself changes "
                + "behaviour that existing tests check, call `finish` again and the change will be handed over "
                + "unverified for review."
            answer(finishCall, with: message)
            return afterTurn(now: now)
        case .noTestCommand:
            return stop(.unverified, "no test command could judge the change", summary: summary)
        case .noChange, .failed:
            let (reason, feedback): (String, String) =
                switch verification {
                case .noChange:
                    ("no change", "You called `finish` but the workspace has no change. The task is not done.")
                case .failed(let text):
                    ("tests fail after the change", "The tests fail after your change:\n\(text)")
                default: ("", "")
                }
            guard repairsUsed < limits.repairRounds else {
                return stop(.failed, reason, summary: summary)
            }
            repairsUsed += 1
            let message =
                feedback + "\n\nFix the problem, then call `finish` again. (Repair round \(repairsUsed) of "
                + "\(limits.repairRounds).)"
            answer(finishCall, with: message)
            return afterTurn(now: now)
        }
    }

    /// Feedback on a `finish`: its tool result when the reply had one, else a user message.
    private mutating func answer(_ finishCall: ToolCall?, with message: String) {
        if let finishCall {
            history.append(.tool(message, callID: finishCall.id, name: Self.finishTool))
        } else {
            history.append(.user(message))
        }
    }

    /// Why passing tests without proof leave a change `unverified`.
    public static func withoutProof(_ detail: String) -> String {
        "\(detail), but no test failed without the change, so the tests do not show the task is done"
    }

    // MARK: - Turns, limits and compaction

    private mutating func afterTurn(now: Double) -> Action {
        if Double(estimatedTokens) > Double(contextWindow) * compactAt, estimatedTokens < lastCompactionSize,
            let range = compactableRange()
        {
            return .compact(Array(history[range]))
        }
        return nextModelCall(now: now)
    }

    private mutating func nextModelCall(now: Double) -> Action {
        if let maxTime = limits.maxTimeSeconds, now - startedAt >= maxTime {
            return stop(.limit, "time limit of \(Int(maxTime))s reached", limit: .time)
        }
        if steps >= limits.maxSteps {
            return stop(.limit, "step limit of \(limits.maxSteps) reached", limit: .steps)
        }
        if !withinCostLimit, let maxCost = limits.maxCostUSD {
            return stop(.limit, "cost limit of $\(maxCost) reached", limit: .cost)
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
        guard let range = compactableRange() else { return }
        history.replaceSubrange(range, with: [.user(summary)])
        compactions += 1
        lastCompactionSize = estimatedTokens
    }

    private mutating func stop(
        _ status: RunStatus, _ reason: String, summary: String = "", limit: LimitKind? = nil
    ) -> Action {
        let outcome = Outcome(status: status, reason: reason, summary: summary, limit: limit)
        finished = outcome
        return .stop(outcome)
    }

    // MARK: - Helpers

    static func argumentsAreObject(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return true }
        if case .object = JSONValue.parse(trimmed) { return true }
        return false
    }

    /// Tools that only look. Repeating one of them before anything has changed cannot tell the model anything new.
    public static let readOnlyTools: Set<String> = ["read_file", "search", "list_files", "search_code", "find_symbol"]

    /// Whether every call is a read-only call already made since the last turn that could have changed the files.
    func repeatsARead(_ calls: [ToolCall]) -> Bool {
        guard !calls.isEmpty, calls.allSatisfy({ Self.readOnlyTools.contains($0.name) }) else { return false }
        // A failed edit changed nothing, so it does not end the window.
        let failed = Set(history.filter { $0.role == .tool && $0.content.hasPrefix("Error:") }.compactMap(\.toolCallID))
        var earlier: [ToolCall] = []
        for message in history.reversed() where message.role == .assistant {
            let changing = message.toolCalls.filter { !Self.readOnlyTools.contains($0.name) }
            if changing.contains(where: { !failed.contains($0.id) }) { break }
            earlier += message.toolCalls
        }
        return calls.allSatisfy { call in earlier.contains { Self.sameCalls([$0], [call]) } }
    }

    static func sameCalls(_ a: [ToolCall], _ b: [ToolCall]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            x.name == y.name && (JSONValue.parse(x.arguments) ?? .string(x.arguments)) == (JSONValue.parse(y.arguments) ?? .string(y.arguments))
        }
    }

    static func summary(of finish: ToolCall) -> String {
        JSONValue.parse(finish.arguments)?["summary"]?.stringValue ?? ""
    }
}
