import FerryCore
import Foundation
import Synchronization

/// A model that is not one: it replays replies from a script, in process, with no server. For `ferry demo
/// --scripted` (the flow in a second, no model needed) and the harness benchmark. Every run that uses it says so.
public final class ScriptedModel: ChatModel, Sendable {
    public let profile: ModelProfile
    private let next: @Sendable (_ index: Int, _ request: ChatRequest) -> ModelReply?
    private let calls = Mutex(0)

    /// Replies made by `next`, called with the 1-based number of the call; nil ends the script.
    public init(profile: ModelProfile, next: @escaping @Sendable (_ index: Int, _ request: ChatRequest) -> ModelReply?)
    {
        self.profile = profile
        self.next = next
    }

    /// These replies, in order.
    public convenience init(profile: ModelProfile, replies: [ModelReply]) {
        self.init(profile: profile) { index, _ in index <= replies.count ? replies[index - 1] : nil }
    }

    public func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
        -> ModelReply
    {
        let index = calls.withLock { count in
            count += 1
            return count
        }
        guard let reply = next(index, request) else {
            throw FerryError(.model, "the scripted model has no reply number \(index); its script has ended")
        }
        return reply
    }

    /// A reply that makes one tool call.
    public static func call(
        _ name: String, _ arguments: JSONValue, text: String = "",
        usage: Usage = Usage(inputTokens: 1_000, outputTokens: 40)
    )
        -> ModelReply
    {
        ModelReply(
            content: text,
            toolCalls: [
                ToolCall(id: "call_\(UUID().uuidString.prefix(8))", name: name, arguments: arguments.jsonString)
            ],
            usage: usage)
    }
}
