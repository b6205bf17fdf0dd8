import Foundation

/// Which replies the loop refuses without running anything: malformed ones, ones without a call, and repeats.
extension AgentMachine {
    /// Why `reply` is refused, in words for the model; nil when it may run.
    static func refusal(of reply: ModelReply, history: [ChatMessage]) -> String? {
        if let formatError = reply.formatError { return formatError }
        if reply.toolCalls.isEmpty {
            return "Your reply contained no tool call. Act with exactly one tool call, or call `finish` with a "
                + "summary when the task is done."
        }
        if let bad = reply.toolCalls.first(where: { !argumentsAreObject($0.arguments) }) {
            return "The arguments of `\(bad.name)` are not a valid JSON object: \(bad.arguments.prefix(200))"
        }
        // Small models loop: the same call again gets the same answer. Refuse it, and count it like a malformed
        // reply so a model that cannot stop repeating itself does not burn the step budget.
        let previousCalls = history.last(where: { $0.role == .assistant })?.toolCalls ?? []
        let repeatsPrevious =
            !previousCalls.isEmpty && sameCalls(previousCalls, reply.toolCalls)
            && !(reply.toolCalls.count == 1 && reply.toolCalls[0].tool == .finish)
        if repeatsPrevious || repeatsARead(reply.toolCalls, history: history) { return repeatRefusal }
        return nil
    }

    /// The refusal of a call whose result is already in front of the model.
    static let repeatRefusal =
        "You already made this exact call and nothing has changed since; its result is above. Do something "
        + "different: read another file or another part of it, change the search, or edit."

    static func argumentsAreObject(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return true }
        if case .object = JSONValue.parse(trimmed) { return true }
        return false
    }

    /// Whether every call is a read-only call already made since the last turn that could have changed the files.
    static func repeatsARead(_ calls: [ToolCall], history: [ChatMessage]) -> Bool {
        guard !calls.isEmpty, calls.allSatisfy(\.tool.isReadOnly) else { return false }
        // A failed edit changed nothing, so it does not end the window.
        let failed = Set(history.filter { $0.role == .tool && $0.isError }.compactMap(\.toolCallID))
        var earlier: [ToolCall] = []
        for message in history.reversed() where message.role == .assistant {
            let changing = message.toolCalls.filter { !$0.tool.isReadOnly }
            if changing.contains(where: { !failed.contains($0.id) }) { break }
            earlier += message.toolCalls
        }
        return calls.allSatisfy { call in earlier.contains { sameCalls([$0], [call]) } }
    }

    /// Whether two replies say the same: the same words and the same calls (their ids aside).
    static func sameReply(_ a: ModelReply, _ b: ModelReply) -> Bool {
        a.content.trimmingCharacters(in: .whitespacesAndNewlines)
            == b.content.trimmingCharacters(in: .whitespacesAndNewlines)
            && sameCalls(a.toolCalls, b.toolCalls)
    }

    static func sameCalls(_ a: [ToolCall], _ b: [ToolCall]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            x.name == y.name
                && (JSONValue.parse(x.arguments) ?? .string(x.arguments))
                    == (JSONValue.parse(y.arguments) ?? .string(y.arguments))
        }
    }
}
