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
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 4 << 20)
        } catch is NIOTooManyBytesError {
            // OpenAI's error shape, as for every other refusal here.
            return openAIError(.contentTooLarge, "the request body is larger than 4 MB", type: "invalid_request_error")
        }
        guard let body = JSONValue.parse(String(buffer: buffer)), case .object = body else {
            return openAIError(.badRequest, "the body must be a JSON object", type: "invalid_request_error")
        }
        guard case .array(let messages)? = body["messages"], !messages.isEmpty else {
            return openAIError(
                .badRequest, "\"messages\" must be a non-empty array", type: "invalid_request_error",
                code: "invalid_messages")
        }
        let turns = messages.compactMap { message -> ChatMessage? in
            let text = Self.text(of: message["content"])
            switch message["role"]?.stringValue {
            case "user": return .user(text)
            case "assistant": return ChatMessage(role: .assistant, content: text)
            default: return nil  // the client's system prompt gives way to Ferry's, which asks for cited answers
            }
        }
        guard let question = turns.last, question.role == .user,
            !question.content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            return openAIError(
                .badRequest, "the last message must be the user's question", type: "invalid_request_error",
                code: "invalid_messages")
        }
        let project: Project
        do {
            project = try await assist.project(body["model"]?.stringValue, for: principal)
        } catch let missing as NotFound {
            return openAIError(
                .notFound, "\(missing.description); \"model\" names the project (GET /v1/models lists them)",
                type: "invalid_request_error", code: "model_not_found")
        }
        do {
            try await assist.admit(principal, project: project)
        } catch let exhausted as BudgetExhausted {
            return openAIError(
                .init(code: 402), exhausted.message, type: "insufficient_quota", code: "budget_exhausted")
        }
        let history = Array(turns.dropLast())
        let repository = try await assist.repositories.assistant(for: project)
        let model = try await assist.model(for: project)
        let id = "chatcmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24)
        let created = Date().timeIntervalSince1970.rounded()
        let name = project.name
        let finish = { @Sendable (answer: AskAnswer) async in
            await assist.recordSpend(
                principal, project: project, usage: answer.usage, usd: answer.costUSD, model: model.profile.model)
        }
        let ask = { @Sendable (onText: @escaping @Sendable (String) -> Void) async throws -> AskAnswer in
            try await repository.ask(question.content, model: model, history: history, onText: onText)
        }
        guard body["stream"]?.boolValue == true else {
            let answer = try await ask { _ in }
            await finish(answer)
            return respond(
                .ok,
                [
                    "id": .string(String(id)), "object": "chat.completion", "created": .number(created),
                    "model": .string(name),
                    "choices": [
                        [
                            "index": 0, "message": ["role": "assistant", "content": .string(answer.answer)],
                            "finish_reason": "stop",
                        ]
                    ],
                    "usage": usage(answer.usage), "citations": citations(answer),
                ])
        }
        let includeUsage = body["stream_options"]?["include_usage"]?.boolValue == true
        let (pieces, continuation) = AsyncStream.makeStream(of: String.self)
        let work = Task { () -> Result<AskAnswer, any Error> in
            defer { continuation.finish() }
            do {
                let answer = try await ask { continuation.yield($0) }
                await finish(answer)
                return .success(answer)
            } catch {
                return .failure(error)
            }
        }
        let chunk = { @Sendable (delta: JSONValue, finish: JSONValue, extra: [String: JSONValue]) -> ByteBuffer in
            var object: [String: JSONValue] = [
                "id": .string(String(id)), "object": "chat.completion.chunk", "created": .number(created),
                "model": .string(name),
                "choices": [["index": 0, "delta": delta, "finish_reason": finish]],
            ]
            object.merge(extra) { _, new in new }
            return ByteBuffer(string: "data: \(JSONValue.object(object).jsonString)\n\n")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                // A client that goes away stops the answer (and its spending) with it.
                try await withTaskCancellationHandler {
                    try await writer.write(chunk(["role": "assistant", "content": ""], .null, [:]))
                    for await piece in pieces { try await writer.write(chunk(["content": .string(piece)], .null, [:])) }
                    switch await work.value {
                    case .success(let answer):
                        try await writer.write(chunk([:], "stop", ["citations": citations(answer)]))
                        if includeUsage {
                            let object: JSONValue = [
                                "id": .string(String(id)), "object": "chat.completion.chunk",
                                "created": .number(created),
                                "model": .string(name), "choices": [], "usage": usage(answer.usage),
                            ]
                            try await writer.write(ByteBuffer(string: "data: \(object.jsonString)\n\n"))
                        }
                    case .failure(let error):
                        let object: JSONValue = [
                            "error": [
                                "message": .string(
                                    "the answer failed: \((error as? FerryError)?.message ?? "\(error)")"),
                                "type": "server_error",
                            ]
                        ]
                        try await writer.write(ByteBuffer(string: "data: \(object.jsonString)\n\n"))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                } onCancel: {
                    work.cancel()
                }
            })
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
