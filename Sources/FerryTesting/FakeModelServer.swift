import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// One scripted answer of a fake model server.
public enum FakeStep: Sendable, Hashable {
    /// A streamed reply: some text and tool calls (arguments as raw JSON text, which may be malformed on purpose).
    case reply(
        text: String = "", toolCalls: [FakeToolCall] = [], usage: Usage = Usage(inputTokens: 100, outputTokens: 20))
    /// An HTTP error, e.g. 429 with `Retry-After`, or 500.
    case status(Int, body: String = "", headers: [String: String] = [:])
    /// A stream that sends some text and then drops the connection.
    case cutStream(text: String)
    /// Waits before answering (for timeout tests), then answers with the next step's content.
    case delay(seconds: Double, then: FakeReply)
    /// Server-sent events exactly as given (each `data:` payload), then the reply's usual ending: for fields only
    /// some servers send, such as llama.cpp's `prompt_progress`.
    case events([String], then: FakeReply)

    public static func call(
        _ name: String, _ arguments: JSONValue, text: String = "",
        usage: Usage = Usage(inputTokens: 100, outputTokens: 20)
    ) -> FakeStep {
        .reply(text: text, toolCalls: [FakeToolCall(name: name, arguments: arguments.jsonString)], usage: usage)
    }
}

/// A reply's content, for `.delay`.
public struct FakeReply: Sendable, Hashable {
    public var text: String
    public var toolCalls: [FakeToolCall]
    public var usage: Usage
    public init(
        text: String = "", toolCalls: [FakeToolCall] = [], usage: Usage = Usage(inputTokens: 100, outputTokens: 20)
    ) {
        self.text = text
        self.toolCalls = toolCalls
        self.usage = usage
    }
}

public struct FakeToolCall: Sendable, Hashable {
    public var name: String
    public var arguments: String
    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// A fake OpenAI or Anthropic server on 127.0.0.1, over real HTTP, that replays a script and records what it
/// was sent. Use `FakeModelServer.with(...)`, which scopes its lifetime.
public final class FakeModelServer: Sendable {
    public enum Flavor: Sendable { case openai, anthropic }

    public let flavor: Flavor
    public let port: Int
    private let shared: SharedState

    struct State {
        var script: [FakeStep]
        var requests: [JSONValue] = []
        var headers: [[String: String]] = []
    }

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// Request bodies received so far, in order.
    public var requests: [JSONValue] { shared.state.withLock { $0.requests } }
    /// Request headers received so far (lower-cased names).
    public var requestHeaders: [[String: String]] { shared.state.withLock { $0.headers } }
    public var remainingSteps: Int { shared.state.withLock { $0.script.count } }

    init(flavor: Flavor, port: Int, shared: SharedState) {
        self.flavor = flavor
        self.port = port
        self.shared = shared
    }

    /// Starts a server, runs `body` with it, and stops it.
    public static func with<T: Sendable>(
        _ flavor: Flavor, script: [FakeStep], _ body: @Sendable (FakeModelServer) async throws -> T
    ) async throws -> T {
        try await with(flavor, shared: SharedState(script: script), body)
    }

    /// A server that answers each request with what `responder` makes of its body, for many runs at once (a
    /// script's order means nothing when runs interleave). It keeps no record of the requests.
    public static func with<T: Sendable>(
        _ flavor: Flavor, responder: @escaping @Sendable (JSONValue) -> FakeStep,
        _ body: @Sendable (FakeModelServer) async throws -> T
    ) async throws -> T {
        try await with(flavor, shared: SharedState(script: [], responder: responder), body)
    }

    static func with<T: Sendable>(
        _ flavor: Flavor, shared: SharedState, _ body: @Sendable (FakeModelServer) async throws -> T
    ) async throws -> T {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await shared.respond(to: request, flavor: flavor)
        }
        router.post("/v1/chat/completions", use: handler)
        router.post("/v1/messages", use: handler)
        router.get("/health") { _, _ in "ok" }
        return try await serving(router, label: "fake-model-server") { port in
            try await body(FakeModelServer(flavor: flavor, port: port, shared: shared))
        }
    }
}

/// Runs `router` on 127.0.0.1 at a free port for the scope of `body`, which gets the port: the in-process servers
/// the tests talk to over real HTTP.
/// Serves `router` on a free 127.0.0.1 port while `body` runs with the port (a stand-in for a third-party API).
public func serving<T: Sendable>(
    _ router: Router<BasicRequestContext>, label: String = "stand-in", _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: label)
    logger.logLevel = .critical
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        }, logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await app.runService(gracefulShutdownSignals: [])
            return nil
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        defer { group.cancelAll() }
        return try await body(port)
    }!
}

final class SharedState: Sendable {
    let state: Mutex<FakeModelServer.State>
    let responder: (@Sendable (JSONValue) -> FakeStep)?

    init(script: [FakeStep], responder: (@Sendable (JSONValue) -> FakeStep)? = nil) {
        state = Mutex(.init(script: script))
        self.responder = responder
    }

    func respond(to request: Request, flavor: FakeModelServer.Flavor) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 * 1024 * 1024)
        let json = JSONValue.parse(String(buffer: body)) ?? .null
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let step: FakeStep? =
            responder.map { $0(json) }
            ?? state.withLock { state in
                state.requests.append(json)
                state.headers.append(headers)
                return state.script.isEmpty ? nil : state.script.removeFirst()
            }
        guard var step else {
            return Response(
                status: .badRequest, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"fake server: script exhausted"}}"#)))
        }
        if case .delay(let seconds, let reply) = step {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            step = .reply(text: reply.text, toolCalls: reply.toolCalls, usage: reply.usage)
        }
        switch step {
        case .status(let code, let text, let extra):
            var fields: HTTPFields = [.contentType: "application/json"]
            for (name, value) in extra { if let key = HTTPField.Name(name) { fields[key] = value } }
            let payload = text.isEmpty ? #"{"error":{"message":"fake error \#(code)"}}"# : text
            return Response(
                status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(string: payload)))
        case .cutStream(let text):
            let events = SSEScript.events(flavor: flavor, text: text, toolCalls: [], usage: Usage(), complete: false)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for event in events { try await writer.write(ByteBuffer(string: event)) }
                    throw CancellationError()
                })
        case .events(let raw, let reply):
            let events =
                raw.map { "data: \($0)\n\n" }
                + SSEScript.events(
                    flavor: flavor, text: reply.text, toolCalls: reply.toolCalls, usage: reply.usage, complete: true)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for event in events { try await writer.write(ByteBuffer(string: event)) }
                    try await writer.finish(nil)
                })
        case .reply(let text, let toolCalls, let usage):
            let events = SSEScript.events(
                flavor: flavor, text: text, toolCalls: toolCalls, usage: usage, complete: true)
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for event in events { try await writer.write(ByteBuffer(string: event)) }
                    try await writer.finish(nil)
                })
        case .delay:
            fatalError("unreachable")
        }
    }
}

/// Renders a reply as each provider streams it.
enum SSEScript {
    static func events(
        flavor: FakeModelServer.Flavor, text: String, toolCalls: [FakeToolCall], usage: Usage, complete: Bool
    )
        -> [String]
    {
        switch flavor {
        case .openai: openai(text: text, toolCalls: toolCalls, usage: usage, complete: complete)
        case .anthropic: anthropic(text: text, toolCalls: toolCalls, usage: usage, complete: complete)
        }
    }

    static func data(_ value: JSONValue) -> String { "data: \(value.jsonString)\n\n" }

    /// Splits text in two, so clients must join deltas.
    static func halves(_ text: String) -> [String] {
        guard text.count > 1 else { return [text] }
        let middle = text.index(text.startIndex, offsetBy: text.count / 2)
        return [String(text[..<middle]), String(text[middle...])]
    }

    static func openai(text: String, toolCalls: [FakeToolCall], usage: Usage, complete: Bool) -> [String] {
        func chunk(_ delta: JSONValue, finish: String? = nil) -> String {
            data([
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
                "choices": [["index": 0, "delta": delta, "finish_reason": finish.map { .string($0) } ?? .null]],
            ])
        }
        var events = [chunk(["role": "assistant", "content": ""])]
        for piece in halves(text) where !piece.isEmpty { events.append(chunk(["content": .string(piece)])) }
        if !complete { return events }
        for (index, call) in toolCalls.enumerated() {
            let parts = halves(call.arguments)
            events.append(
                chunk([
                    "tool_calls": [
                        [
                            "index": .number(Double(index)),
                            "id": .string("call_\(index)_\(abs(call.arguments.hashValue) % 100000)"),
                            "type": "function",
                            "function": ["name": .string(call.name), "arguments": .string(parts[0])],
                        ]
                    ]
                ]))
            if parts.count > 1 {
                events.append(
                    chunk([
                        "tool_calls": [["index": .number(Double(index)), "function": ["arguments": .string(parts[1])]]]
                    ]))
            }
        }
        events.append(chunk([:], finish: toolCalls.isEmpty ? "stop" : "tool_calls"))
        events.append(
            data([
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [],
                "usage": [
                    "prompt_tokens": .number(Double(usage.inputTokens)),
                    "completion_tokens": .number(Double(usage.outputTokens)),
                    "total_tokens": .number(Double(usage.inputTokens + usage.outputTokens)),
                    "prompt_tokens_details": ["cached_tokens": .number(Double(usage.cachedInputTokens))],
                ],
            ]))
        events.append("data: [DONE]\n\n")
        return events
    }

    static func anthropic(text: String, toolCalls: [FakeToolCall], usage: Usage, complete: Bool) -> [String] {
        func event(_ name: String, _ value: JSONValue) -> String { "event: \(name)\n" + data(value) }
        let uncached = usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens
        var events = [
            event(
                "message_start",
                [
                    "type": "message_start",
                    "message": [
                        "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": "fake",
                        "usage": [
                            "input_tokens": .number(Double(uncached)), "output_tokens": 1,
                            "cache_read_input_tokens": .number(Double(usage.cachedInputTokens)),
                            "cache_creation_input_tokens": .number(Double(usage.cacheWriteTokens)),
                        ],
                    ],
                ])
        ]
        var index = 0
        if !text.isEmpty {
            events.append(
                event(
                    "content_block_start",
                    ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]))
            for piece in halves(text) {
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": 0,
                            "delta": ["type": "text_delta", "text": .string(piece)],
                        ]))
            }
            if !complete { return events }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": 0]))
            index = 1
        }
        if !complete { return events }
        for call in toolCalls {
            events.append(
                event(
                    "content_block_start",
                    [
                        "type": "content_block_start", "index": .number(Double(index)),
                        "content_block": [
                            "type": "tool_use", "id": .string("toolu_\(index)"), "name": .string(call.name),
                            "input": [:],
                        ],
                    ]))
            for piece in halves(call.arguments) {
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": .number(Double(index)),
                            "delta": ["type": "input_json_delta", "partial_json": .string(piece)],
                        ]))
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": .number(Double(index))]))
            index += 1
        }
        events.append(
            event(
                "message_delta",
                [
                    "type": "message_delta",
                    "delta": ["stop_reason": .string(toolCalls.isEmpty ? "end_turn" : "tool_use")],
                    "usage": ["output_tokens": .number(Double(usage.outputTokens))],
                ]))
        events.append(event("message_stop", ["type": "message_stop"]))
        return events
    }
}

extension FakeModelServer {
    /// Writes `<configHome>/ferry/config.toml` for a separate `ferry` process (`XDG_CONFIG_HOME=configHome`): a
    /// profile `fake` that talks to this server, and the whole-file attempt off so the script's order holds.
    public func writeConfig(configHome: String) throws {
        try FileManager.default.createDirectory(atPath: configHome + "/ferry", withIntermediateDirectories: true)
        try """
        [agent]
        first_attempt = "off"

        [models.fake]
        provider = "openai"
        base_url = "\(baseURL)"
        model = "gpt-4.1-mini"
        api_key_env = ""
        """.write(toFile: configHome + "/ferry/config.toml", atomically: true, encoding: .utf8)
    }
}
