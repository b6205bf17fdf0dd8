import FerryCore
import Foundation

/// Wraps any chat model to speak the text protocol: tools go into the system prompt, tool results come back as
/// user messages, and the reply's action is parsed from its text.
public struct TextProtocolModel: ChatModel {
    public let base: any ChatModel
    public var profile: ModelProfile { base.profile }

    public init(base: any ChatModel) { self.base = base }

    public func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
        -> ModelReply
    {
        let messages = Self.render(request.messages, tools: request.tools)
        var reply = try await base.complete(
            ChatRequest(messages: messages, tools: [], maxTokens: request.maxTokens, temperature: request.temperature),
            onDelta: onDelta)
        guard !request.tools.isEmpty else { return reply }
        var calls: [ToolCall] = []
        for parsed in TextToolProtocol.parseCalls(reply.content) {
            switch parsed {
            case .call(let name, let arguments):
                calls.append(
                    ToolCall(id: "call_\(UUID().uuidString.prefix(8))", name: name, arguments: arguments.jsonString))
            case .error(let message):
                // Keep the actions before a bad one; a reply whose first action is bad is malformed.
                if calls.isEmpty {
                    reply.toolCalls = []
                    reply.formatError = message
                    return reply
                }
                reply.toolCalls = calls
                return reply
            }
        }
        reply.toolCalls = calls
        return reply
    }

    static func render(_ messages: [ChatMessage], tools: [ToolSpec]) -> [ChatMessage] {
        var rendered: [ChatMessage] = []
        var sawSystem = false
        for message in messages {
            switch message.role {
            case .system:
                var copy = message
                if !sawSystem, !tools.isEmpty { copy.content += "\n\n" + TextToolProtocol.instructions(for: tools) }
                sawSystem = true
                rendered.append(copy)
            case .tool:
                let text = "Output of `\(message.toolName ?? "tool")`:\n\(message.content)"
                if let last = rendered.last, last.role == .user {
                    rendered[rendered.count - 1].content += "\n\n" + text
                } else {
                    rendered.append(.user(text))
                }
            case .assistant:
                rendered.append(ChatMessage(role: .assistant, content: message.content))
            case .user:
                if let last = rendered.last, last.role == .user {
                    rendered[rendered.count - 1].content += "\n\n" + message.content
                } else {
                    rendered.append(message)
                }
            }
        }
        if !sawSystem, !tools.isEmpty {
            rendered.insert(.system(TextToolProtocol.instructions(for: tools)), at: 0)
        }
        return rendered
    }
}
