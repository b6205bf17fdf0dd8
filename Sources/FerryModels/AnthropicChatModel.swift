import AsyncHTTPClient
import FerryCore
import Foundation

/// Anthropic Messages with `tool_use`/`tool_result` and streaming. It marks the stable prefix (tools, system prompt,
/// the conversation so far) with `cache_control`, so each step pays full price only for what is new.
public struct AnthropicChatModel: ChatModel {
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
        var headers: [(String, String)] = [("anthropic-version", "2023-06-01")]
        if let apiKey, !apiKey.isEmpty { headers.append(("x-api-key", apiKey)) }
        let body = Data(Self.body(for: request, profile: profile).jsonString.utf8)
        return try await http.stream(
            path: "/messages", headers: headers, body: body, as: AnthropicStream.self, onDelta: onDelta)
    }

    static let ephemeral: JSONValue = ["type": "ephemeral"]

    static func body(for request: ChatRequest, profile: ModelProfile) -> JSONValue {
        let systemText = request.messages.filter { $0.role == .system }.map(\.content).joined(separator: "\n\n")
        var body: [String: JSONValue] = [
            "model": .string(profile.model),
            "max_tokens": .number(Double(request.replyCap(profile))),
            "stream": true,
            "messages": .array(messages(request.messages.filter { $0.role != .system })),
        ]
        if !systemText.isEmpty {
            body["system"] = [["type": "text", "text": .string(systemText), "cache_control": ephemeral]]
        }
        if let temperature = request.temperature ?? profile.temperature { body["temperature"] = .number(temperature) }
        if !request.tools.isEmpty {
            var tools: [JSONValue] = request.tools.map { tool in
                ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.parameters]
            }
            if case .object(var last) = tools[tools.count - 1] {
                last["cache_control"] = ephemeral
                tools[tools.count - 1] = .object(last)
            }
            body["tools"] = .array(tools)
        }
        return .object(body)
    }

    /// Maps the neutral history onto Anthropic's alternating turns: tool results become `tool_result` blocks in a
    /// user turn, consecutive same-role turns merge, and the last block carries the rolling cache breakpoint.
    static func messages(_ history: [ChatMessage]) -> [JSONValue] {
        var turns: [(role: String, blocks: [JSONValue])] = []
        for message in history {
            let role = message.role == .assistant ? "assistant" : "user"
            var blocks: [JSONValue] = []
            switch message.role {
            case .tool:
                blocks.append([
                    "type": "tool_result", "tool_use_id": .string(message.toolCallID ?? ""),
                    "content": .string(message.content.isEmpty ? "(no output)" : message.content),
                ])
            case .assistant:
                if !message.content.isEmpty { blocks.append(["type": "text", "text": .string(message.content)]) }
                for call in message.toolCalls {
                    let input = JSONValue.parse(call.arguments) ?? [:]
                    blocks.append([
                        "type": "tool_use", "id": .string(call.id), "name": .string(call.name),
                        "input": input.isObject ? input : [:],
                    ])
                }
            case .user, .system:
                blocks.append(["type": "text", "text": .string(message.content.isEmpty ? " " : message.content)])
            }
            if blocks.isEmpty { continue }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        if let lastTurn = turns.indices.last, case .object(var block) = turns[lastTurn].blocks.last {
            block["cache_control"] = ephemeral
            turns[lastTurn].blocks[turns[lastTurn].blocks.count - 1] = .object(block)
        }
        return turns.map { ["role": .string($0.role), "content": .array($0.blocks)] }
    }
}

extension JSONValue {
    var isObject: Bool {
        if case .object = self { return true }
        return false
    }
}

/// Assembles a streamed Messages reply.
struct AnthropicStream: StreamAccumulator {
    private var text = ""
    private var blocks: [Int: (id: String, name: String, json: String)] = [:]
    private var usage = Usage()
    private var stopReason: String?
    private var stopped = false

    init() {}

    var isComplete: Bool { stopped }

    mutating func consume(_ event: SSEEvent, onDelta: @Sendable (StreamDelta) -> Void) throws -> Bool {
        guard let json = JSONValue.parse(event.data) else { return false }
        let type = json["type"]?.stringValue ?? event.event ?? ""
        switch type {
        case "message_start":
            let reported = json["message"]?["usage"] ?? [:]
            let input = reported["input_tokens"]?.intValue ?? 0
            let read = reported["cache_read_input_tokens"]?.intValue ?? 0
            let write = reported["cache_creation_input_tokens"]?.intValue ?? 0
            usage = Usage(
                inputTokens: input + read + write, outputTokens: reported["output_tokens"]?.intValue ?? 0,
                cachedInputTokens: read, cacheWriteTokens: write)
        case "content_block_start":
            let index = json["index"]?.intValue ?? blocks.count
            let block = json["content_block"] ?? [:]
            if block["type"]?.stringValue == "tool_use" {
                let name = block["name"]?.stringValue ?? ""
                blocks[index] = (block["id"]?.stringValue ?? "toolu_\(index)", name, "")
                onDelta(.toolCall(name: name))
            } else if let initial = block["text"]?.stringValue, !initial.isEmpty {
                text += initial
            }
        case "content_block_delta":
            let index = json["index"]?.intValue ?? 0
            let delta = json["delta"] ?? [:]
            if let piece = delta["text"]?.stringValue {
                text += piece
                onDelta(.text(piece))
            } else if let partial = delta["partial_json"]?.stringValue, var block = blocks[index] {
                block.json += partial
                blocks[index] = block
            }
        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
            if let output = json["usage"]?["output_tokens"]?.intValue { usage.outputTokens = output }
        case "message_stop":
            stopped = true
            return true
        case "error":
            let message = json["error"]?["message"]?.stringValue ?? "unknown error"
            let kind = json["error"]?["type"]?.stringValue ?? "error"
            if kind == "overloaded_error" || kind == "api_error" {
                throw ModelHTTP.Retryable(
                    reason: kind, retryAfter: nil,
                    final: FerryError(.model, "Anthropic kept failing mid-stream: \(kind): \(message)"))
            }
            throw FerryError(.model, "Anthropic reported \(kind) mid-stream: \(message)")
        default:
            break
        }
        return false
    }

    func reply() -> ModelReply {
        let calls = blocks.keys.sorted().compactMap { index -> ToolCall? in
            guard let block = blocks[index] else { return nil }
            let arguments = block.json.trimmingCharacters(in: .whitespaces).isEmpty ? "{}" : block.json
            return ToolCall(id: block.id, name: block.name, arguments: arguments)
        }
        return ModelReply(content: text, toolCalls: calls, usage: usage, finishReason: stopReason)
    }
}
