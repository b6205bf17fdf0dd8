/// A tool call the model asked for. `arguments` is the raw JSON text the model produced, kept as is so that a
/// malformed call can be shown back to the model verbatim.
public struct ToolCall: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One message of a conversation, in a provider-neutral form.
public struct ChatMessage: Codable, Hashable, Sendable {
    public enum Role: String, Codable, Sendable {
        case system, user, assistant, tool
    }

    public var role: Role
    public var content: String
    /// Tool calls made by an assistant message.
    public var toolCalls: [ToolCall]
    /// For a tool message: the id of the call it answers.
    public var toolCallID: String?
    /// For a tool message: the name of the tool that ran.
    public var toolName: String?
    /// Marks messages that compaction must keep verbatim (the task, AGENTS.md).
    public var pinned: Bool
    /// For a tool message: the call failed or was not run. Its content says why.
    public var isError: Bool

    public init(
        role: Role, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil, toolName: String? = nil,
        pinned: Bool = false, isError: Bool = false
    ) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.toolName = toolName
        self.pinned = pinned
        self.isError = isError
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text, pinned: true) }
    public static func user(_ text: String, pinned: Bool = false) -> ChatMessage {
        ChatMessage(role: .user, content: text, pinned: pinned)
    }
    public static func tool(_ text: String, callID: String, name: String, isError: Bool = false) -> ChatMessage {
        ChatMessage(role: .tool, content: text, toolCallID: callID, toolName: name, isError: isError)
    }

    /// A cheap token estimate: about four characters a token, plus a little for the envelope.
    public var estimatedTokens: Int {
        let chars = content.utf8.count + toolCalls.reduce(0) { $0 + $1.name.utf8.count + $1.arguments.utf8.count }
        return chars / 4 + 4
    }
}

/// What a tool offers the model: a name, a description and a JSON schema for the arguments.
public struct ToolSpec: Hashable, Sendable {
    public var name: String
    public var description: String
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// A complete reply from the model, after streaming has finished.
public struct ModelReply: Sendable, Hashable {
    public var content: String
    public var toolCalls: [ToolCall]
    public var usage: Usage
    public var finishReason: String?
    /// Set when the reply could not be understood as an action (text protocol) — shown back to the model.
    public var formatError: String?
    /// What the server said about its own work, when it says (llama.cpp's `timings`: tokens processed, cached,
    /// and speeds). Recorded in the trace.
    public var serverTimings: JSONValue?

    public init(
        content: String, toolCalls: [ToolCall] = [], usage: Usage = Usage(), finishReason: String? = nil,
        formatError: String? = nil
    ) {
        self.content = content
        self.toolCalls = toolCalls
        self.usage = usage
        self.finishReason = finishReason
        self.formatError = formatError
    }
}
