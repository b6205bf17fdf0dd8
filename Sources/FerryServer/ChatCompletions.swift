import FerryAgent
import FerryAssist
import FerryCore
import FerryModels
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An OpenAI-compatible `/v1/chat/completions` (and `/v1/models`) for editor plugins that take a custom endpoint:
/// the "model" is the project (its name or id; `/v1/models` lists the key's), the last user message is the question,
/// the earlier turns its history; the answer comes from the project's retrieved code with `path:line` citations,
/// which the response also lists, checked against the files (`citations`). Usage is billed to the key's tenant.
/// Errors use OpenAI's shape (`{"error": {"message", "type", "code"}}`) so the SDKs raise their usual exceptions.
extension ServerAPI {
    static func openAIError(_ status: HTTPResponse.Status, _ message: String, type: String, code: String? = nil)
        -> Response
    {
        let body: JSONValue = [
            "error": [
                "message": .string(message), "type": .string(type), "code": code.map { .string($0) } ?? .null,
                "param": .null,
            ]
        ]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
    }

    static func openAIAuthorize(_ api: ServerAPI, _ request: Request) async throws -> Result<Principal, Response> {
        do {
            return .success(try await api.authorize(request, access: .read))
        } catch let problem as Problem {
            return .failure(
                openAIError(problem.status, problem.detail, type: "invalid_request_error", code: "invalid_api_key"))
        }
    }

    static func listModels(_ assist: ServerAssist, api: ServerAPI, request: Request) async throws -> Response {
        let principal: Principal
        switch try await openAIAuthorize(api, request) {
        case .success(let value): principal = value
        case .failure(let response): return response
        }
        let projects = try await assist.store.projects(tenantID: principal.tenantID)
        let data: [JSONValue] = projects.map {
            [
                "id": .string($0.name), "object": "model",
                "created": .number($0.createdAt.timeIntervalSince1970.rounded()), "owned_by": "ferry",
            ]
        }
        return respond(.ok, ["object": "list", "data": .array(data)])
    }

    static func chatCompletions(_ assist: ServerAssist, api: ServerAPI, request: Request) async throws -> Response {
        let principal: Principal
        switch try await openAIAuthorize(api, request) {
        case .success(let value): principal = value
        case .failure(let response): return response
        }
        let chat: ChatRequest
        switch try await ChatRequest.read(request) {
        case .success(let value): chat = value
        case .failure(let response): return response
        }
        let project: Project
        do {
            project = try await assist.project(chat.model, for: principal)
            try await assist.admit(principal, project: project)
        } catch let missing as NotFound {
            return openAIError(
                .notFound, "\(missing.description); \"model\" names the project (GET /v1/models lists them)",
                type: "invalid_request_error", code: "model_not_found")
        } catch let exhausted as BudgetExhausted {
            return openAIError(
                .init(code: 402), exhausted.message, type: "insufficient_quota", code: "budget_exhausted")
        }
        let repository = try await assist.repositories.assistant(for: project)
        let model = try await assist.model(for: project)
        let reply = ChatReply(project: project.name, includeUsage: chat.includeUsage)
        let ask = { @Sendable (onText: @escaping @Sendable (String) -> Void) async throws -> AskAnswer in
            let answer = try await repository.ask(chat.question, model: model, history: chat.history, onText: onText)
            await assist.recordSpend(
                principal, project: project, usage: answer.usage, usd: answer.costUSD, model: model.profile.model)
            return answer
        }
        guard chat.stream else { return respond(.ok, reply.completion(try await ask { _ in })) }
        return reply.stream(ask)
    }

    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?: return parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        default: return ""
        }
    }

    static func usage(_ usage: Usage) -> JSONValue {
        [
            "prompt_tokens": .number(Double(usage.inputTokens)),
            "completion_tokens": .number(Double(usage.outputTokens)),
            "total_tokens": .number(Double(usage.inputTokens + usage.outputTokens)),
        ]
    }

    static func citations(_ answer: AskAnswer) -> JSONValue {
        .array(
            answer.citations.map {
                [
                    "path": .string($0.path), "line": .number(Double($0.line)),
                    "end_line": $0.endLine.map { .number(Double($0)) } ?? .null, "valid": .bool($0.valid),
                ]
            })
    }
}

/// What a `/v1/chat/completions` body asks: the question (the last message, the user's), the turns before it, the
/// project (`model`), and whether to stream.
struct ChatRequest: Sendable {
    var question: String
    var history: [ChatMessage]
    var model: String?
    var stream: Bool
    var includeUsage: Bool

    /// The request's body read, or the OpenAI-shaped error to answer with.
    static func read(_ request: Request) async throws -> Result<ChatRequest, Response> {
        func invalid(_ status: HTTPResponse.Status, _ message: String, code: String? = nil) -> Result<
            ChatRequest, Response
        > {
            .failure(ServerAPI.openAIError(status, message, type: "invalid_request_error", code: code))
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 4 << 20)
        } catch is NIOTooManyBytesError {
            return invalid(.contentTooLarge, "the request body is larger than 4 MB")
        }
        guard let body = JSONValue.parse(String(buffer: buffer)), case .object = body else {
            return invalid(.badRequest, "the body must be a JSON object")
        }
        guard case .array(let messages)? = body["messages"], !messages.isEmpty else {
            return invalid(.badRequest, "\"messages\" must be a non-empty array", code: "invalid_messages")
        }
        let turns = messages.compactMap { message -> ChatMessage? in
            let text = ServerAPI.text(of: message["content"])
            switch message["role"]?.stringValue {
            case "user": return .user(text)
            case "assistant": return ChatMessage(role: .assistant, content: text)
            default: return nil  // the client's system prompt gives way to Ferry's, which asks for cited answers
            }
        }
        guard let question = turns.last, question.role == .user,
            !question.content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            return invalid(.badRequest, "the last message must be the user's question", code: "invalid_messages")
        }
        return .success(
            ChatRequest(
                question: question.content, history: Array(turns.dropLast()), model: body["model"]?.stringValue,
                stream: body["stream"]?.boolValue == true,
                includeUsage: body["stream_options"]?["include_usage"]?.boolValue == true))
    }
}

/// An answer in OpenAI's shapes: one `chat.completion`, or a stream of `chat.completion.chunk` events.
struct ChatReply: Sendable {
    let id = "chatcmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24)
    let created = Date().timeIntervalSince1970.rounded()
    /// The project's name, which the client sent as the model.
    let project: String
    let includeUsage: Bool

    func completion(_ answer: AskAnswer) -> JSONValue {
        [
            "id": .string(id), "object": "chat.completion", "created": .number(created), "model": .string(project),
            "choices": [
                [
                    "index": 0, "message": ["role": "assistant", "content": .string(answer.answer)],
                    "finish_reason": "stop",
                ]
            ],
            "usage": ServerAPI.usage(answer.usage), "citations": ServerAPI.citations(answer),
        ]
    }

    func chunk(_ delta: JSONValue, finish: JSONValue = .null, extra: [String: JSONValue] = [:]) -> ByteBuffer {
        var object: [String: JSONValue] = [
            "id": .string(id), "object": "chat.completion.chunk", "created": .number(created),
            "model": .string(project), "choices": [["index": 0, "delta": delta, "finish_reason": finish]],
        ]
        object.merge(extra) { _, new in new }
        return Self.event(.object(object))
    }

    static func event(_ object: JSONValue) -> ByteBuffer { ByteBuffer(string: "data: \(object.jsonString)\n\n") }

    /// Server-sent events: the answer's text as it comes, then its end (with citations, and usage when asked for).
    /// The answer runs inside the response's own task: a client that goes away stops it (and its spending).
    func stream(_ ask: @escaping @Sendable (@escaping @Sendable (String) -> Void) async throws -> AskAnswer)
        -> Response
    {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let (pieces, continuation) = AsyncStream.makeStream(of: String.self)
                try await writer.write(chunk(["role": "assistant", "content": ""]))
                let outcome = try await withThrowingTaskGroup(of: Result<AskAnswer, any Error>.self) { group in
                    group.addTask {
                        defer { continuation.finish() }
                        do { return .success(try await ask { continuation.yield($0) }) } catch {
                            return .failure(error)
                        }
                    }
                    for await piece in pieces { try await writer.write(chunk(["content": .string(piece)])) }
                    return try await group.next()!
                }
                switch outcome {
                case .success(let answer):
                    try await writer.write(
                        chunk([:], finish: "stop", extra: ["citations": ServerAPI.citations(answer)]))
                    if includeUsage {
                        try await writer.write(
                            Self.event([
                                "id": .string(id), "object": "chat.completion.chunk", "created": .number(created),
                                "model": .string(project), "choices": [], "usage": ServerAPI.usage(answer.usage),
                            ]))
                    }
                case .failure(let error):
                    let message = "the answer failed: \((error as? FerryError)?.message ?? "\(error)")"
                    try await writer.write(
                        Self.event(["error": ["message": .string(message), "type": "server_error"]]))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }
}
