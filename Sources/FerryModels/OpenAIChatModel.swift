import AsyncHTTPClient
import FerryCore
import Foundation

/// OpenAI-compatible Chat Completions: OpenAI, vLLM, llama.cpp, Ollama, OpenRouter. Streams with
/// `stream_options.include_usage` and reads cached-token usage where the server reports it.
public struct OpenAIChatModel: ChatModel {
    public let profile: ModelProfile
    let http: ModelHTTP
    let apiKey: String?

    public init(profile: ModelProfile, apiKey: String?, client: HTTPClient, retry: RetryPolicy = .standard) {
        self.profile = profile
        self.apiKey = apiKey
        self.http = ModelHTTP(client: client, profile: profile, retry: retry)
    }

    public func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
        -> ModelReply
    {
        var headers: [(String, String)] = []
        if let apiKey, !apiKey.isEmpty { headers.append(("authorization", "Bearer \(apiKey)")) }
        let body = Data(Self.body(for: request, profile: profile).jsonString.utf8)
        return try await http.stream(
            path: "/chat/completions", headers: headers, body: body, as: OpenAIStream.self, onDelta: onDelta)
    }

    static func body(for request: ChatRequest, profile: ModelProfile) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(profile.model),
            "messages": .array(request.messages.map(message)),
            "stream": true,
            "stream_options": ["include_usage": true],
            "max_tokens": .number(Double(request.replyCap(profile))),
        ]
        if let temperature = request.temperature ?? profile.temperature { body["temperature"] = .number(temperature) }
        if profile.provider == .local {
            body["cache_prompt"] = true
            // llama.cpp streams how far it has read the prompt: on a CPU that is most of the wait.
            body["return_progress"] = true
        }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                })
        }
        return .object(body)
    }

    static func message(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role.rawValue), "content": .string(message.content)]
        if !message.toolCalls.isEmpty {
            object["tool_calls"] = .array(
                message.toolCalls.map { call in
                    [
                        "id": .string(call.id), "type": "function",
                        "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                    ]
                })
            if message.content.isEmpty { object["content"] = .null }
        }
        if let id = message.toolCallID { object["tool_call_id"] = .string(id) }
        return .object(object)
    }
}

/// Assembles a streamed Chat Completions reply.
struct OpenAIStream: StreamAccumulator {
    private var content = ""
    private var calls: [Int: (id: String, name: String, arguments: String)] = [:]
    private var usage = Usage()
    private var finishReason: String?
    private var done = false
    private var timings: JSONValue?

    init() {}

    var isComplete: Bool { done || finishReason != nil }

    mutating func consume(_ event: SSEEvent, onDelta: @Sendable (StreamDelta) -> Void) throws -> Bool {
        let data = event.data.trimmingCharacters(in: .whitespaces)
        if data == "[DONE]" {
            done = true
            return true
        }
        guard let json = JSONValue.parse(data) else { return false }
        if let message = json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue {
            throw FerryError(.model, "the server reported an error mid-stream: \(message)")
        }
        if case .object = json["usage"] ?? .null, let usageJSON = json["usage"] {
            usage = Usage(
                inputTokens: usageJSON["prompt_tokens"]?.intValue ?? 0,
                outputTokens: usageJSON["completion_tokens"]?.intValue ?? 0,
                cachedInputTokens: usageJSON["prompt_tokens_details"]?["cached_tokens"]?.intValue
                    ?? usageJSON["cached_tokens"]?.intValue ?? 0)
        }
        if let reported = json["timings"], reported.isObject { timings = reported }
        if let progress = json["prompt_progress"], let total = progress["total"]?.intValue,
            let processed = progress["processed"]?.intValue
        {
            onDelta(.promptProgress(processed: processed, total: total))
        }
        guard case .array(let choices) = json["choices"] ?? .null, let choice = choices.first else { return false }
        if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        // Non-streamed replies carry `message`, streamed ones `delta`.
        guard let delta = choice["delta"] ?? choice["message"] else { return false }
        if let text = delta["content"]?.stringValue, !text.isEmpty {
            content += text
            onDelta(.text(text))
        }
        if case .array(let toolCalls) = delta["tool_calls"] ?? .null {
            for (offset, call) in toolCalls.enumerated() {
                let index = call["index"]?.intValue ?? offset
                var entry = calls[index] ?? (id: "", name: "", arguments: "")
                if let id = call["id"]?.stringValue, !id.isEmpty { entry.id = id }
                if let name = call["function"]?["name"]?.stringValue, !name.isEmpty {
                    entry.name += name
                    onDelta(.toolCall(name: name))
                }
                if let arguments = call["function"]?["arguments"]?.stringValue { entry.arguments += arguments }
                calls[index] = entry
            }
        }
        return false
    }

    func reply() -> ModelReply {
        let toolCalls = calls.keys.sorted().compactMap { index -> ToolCall? in
            guard let call = calls[index], !call.name.isEmpty else { return nil }
            return ToolCall(id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments)
        }
        var reply = ModelReply(content: content, toolCalls: toolCalls, usage: usage, finishReason: finishReason)
        reply.serverTimings = timings
        return reply
    }
}
