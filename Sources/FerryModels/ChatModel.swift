import FerryCore

/// What the agent asks a model for: the conversation and the tools it may call.
public struct ChatRequest: Sendable {
    public var messages: [ChatMessage]
    public var tools: [ToolSpec]
    /// A cap on this reply below the profile's `max_output_tokens` (never above it).
    public var maxTokens: Int?
    /// Overrides the profile's temperature for this reply (a retry that must not repeat itself).
    public var temperature: Double?

    public init(messages: [ChatMessage], tools: [ToolSpec], maxTokens: Int? = nil, temperature: Double? = nil) {
        self.messages = messages
        self.tools = tools
        self.maxTokens = maxTokens
        self.temperature = temperature
    }

    /// The reply cap to send for a profile.
    public func replyCap(_ profile: ModelProfile) -> Int {
        maxTokens.map { min($0, profile.maxOutputTokens) } ?? profile.maxOutputTokens
    }
}

/// A piece of a streamed reply, for live output.
public enum StreamDelta: Sendable {
    case text(String)
    case toolCall(name: String)
    case retrying(attempt: Int, afterSeconds: Double, reason: String)
    /// How much of the prompt a local server has read (llama.cpp's `return_progress`), before the first token.
    case promptProgress(processed: Int, total: Int)
}

/// A chat model. It knows the tools only as JSON schemas; running them is the agent's job.
public protocol ChatModel: Sendable {
    var profile: ModelProfile { get }
    func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
        -> ModelReply
}

extension ChatModel {
    public func complete(_ request: ChatRequest) async throws -> ModelReply {
        try await complete(request, onDelta: { _ in })
    }

    /// The cost of one reply in USD, or 0 when the price is unknown.
    public func cost(of usage: Usage) -> Double {
        profile.effectivePrice?.cost(of: usage) ?? 0
    }
}
