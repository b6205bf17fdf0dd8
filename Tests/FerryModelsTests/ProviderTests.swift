import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Both providers against the fake servers over real HTTP.
@Suite struct ProviderTests {
    static let fastRetry = RetryPolicy(maxAttempts: 3, baseDelay: 0.01, maxDelay: 2)

    func withModel<T: Sendable>(
        _ flavor: FakeModelServer.Flavor, script: [FakeStep],
        profile edit: @Sendable (inout ModelProfile) -> Void = { _ in },
        _ body: @Sendable (any ChatModel, FakeModelServer) async throws -> T
    ) async throws -> T {
        try await FakeModelServer.with(flavor, script: script) { server in
            var profile = ModelProfile(
                name: "t", provider: flavor == .openai ? .openai : .anthropic, baseURL: server.baseURL,
                model: flavor == .openai ? "gpt-4.1-mini" : "claude-sonnet-4-5", apiKeyEnv: "TEST_KEY")
            edit(&profile)
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(
                profile: profile, apiKey: "test-key-123456", client: client, retry: Self.fastRetry)
            do {
                let result = try await body(model, server)
                try await client.shutdown()
                return result
            } catch {
                try await client.shutdown()
                throw error
            }
        }
    }

    static let request = ChatRequest(
        messages: [.system("sys"), .user("hi")],
        tools: [
            ToolSpec(
                name: "read_file", description: "Read",
                parameters: ["type": "object", "properties": ["path": ["type": "string"]]])
        ])

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func streamedReplyWithToolCallAndUsage(flavor: FakeModelServer.Flavor) async throws {
        let usage = Usage(inputTokens: 1_000, outputTokens: 50, cachedInputTokens: 600)
        let reply = try await withModel(
            flavor,
            script: [
                .reply(
                    text: "Reading the file.",
                    toolCalls: [FakeToolCall(name: "read_file", arguments: #"{"path": "cart.py"}"#)], usage: usage)
            ]
        ) { model, _ in try await model.complete(Self.request) }
        #expect(reply.content == "Reading the file.")
        #expect(reply.toolCalls.count == 1)
        #expect(reply.toolCalls.first?.name == "read_file")
        #expect(JSONValue.parse(reply.toolCalls.first?.arguments ?? "") == ["path": "cart.py"])
        #expect(reply.usage.inputTokens == 1_000)
        #expect(reply.usage.outputTokens == 50)
        #expect(reply.usage.cachedInputTokens == 600)
    }

    @Test func openAIRequestCarriesToolsStreamingUsageAndKey() async throws {
        let (body, headers) = try await withModel(.openai, script: [.reply(text: "ok")]) { model, server in
            _ = try await model.complete(Self.request)
            return (server.requests[0], server.requestHeaders[0])
        }
        #expect(body["stream"] == true)
        #expect(body["stream_options"]?["include_usage"] == true)
        #expect(body["tools"]?.arrayCount == 1)
        #expect(headers["authorization"] == "Bearer test-key-123456")
    }

    @Test func anthropicRequestMarksTheStablePrefixForCaching() async throws {
        let body = try await withModel(.anthropic, script: [.reply(text: "ok")]) { model, server in
            _ = try await model.complete(
                ChatRequest(
                    messages: [
                        .system("sys"), .user("task"),
                        ChatMessage(
                            role: .assistant, content: "",
                            toolCalls: [ToolCall(id: "t1", name: "read_file", arguments: #"{"path":"a"}"#)]),
                        .tool("contents", callID: "t1", name: "read_file"),
                    ],
                    tools: Self.request.tools))
            return server.requests[0]
        }
        #expect(body["system"]?.lastElement?["cache_control"] == ["type": "ephemeral"])
        #expect(body["tools"]?.lastElement?["cache_control"] == ["type": "ephemeral"])
        let messages = body["messages"]
        #expect(messages?.arrayCount == 3)
        #expect(messages?.element(1)?["content"]?.element(0)?["type"] == "tool_use")
        #expect(messages?.element(2)?["content"]?.element(0)?["type"] == "tool_result")
        #expect(messages?.lastElement?["content"]?.lastElement?["cache_control"] == ["type": "ephemeral"])
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func retriesAfter429HonouringRetryAfter(flavor: FakeModelServer.Flavor) async throws {
        let started = ContinuousClock.now
        let (reply, count) = try await withModel(
            flavor,
            script: [
                .status(429, headers: ["Retry-After": "1"]), .reply(text: "after the wait"),
            ]
        ) { model, server in (try await model.complete(Self.request), server.requests.count) }
        #expect(reply.content == "after the wait")
        #expect(count == 2)
        #expect(ContinuousClock.now - started >= .milliseconds(950))
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func retriesServerErrorsAndCutStreams(flavor: FakeModelServer.Flavor) async throws {
        let reply = try await withModel(
            flavor, script: [.status(500), .cutStream(text: "partial"), .reply(text: "whole")]
        ) { model, _ in
            try await model.complete(Self.request)
        }
        #expect(reply.content == "whole")
    }

    @Test func givesUpAfterTheLastAttempt() async throws {
        await #expect {
            try await self.withModel(.openai, script: [.status(503), .status(503), .status(503)]) { model, _ in
                try await model.complete(Self.request)
            }
        } throws: { error in
            (error as? FerryError)?.message.contains("HTTP 503") == true
        }
    }

    @Test(arguments: [FakeModelServer.Flavor.openai, .anthropic])
    func rejectedKeyIsNotRetriedAndNamesTheVariable(flavor: FakeModelServer.Flavor) async throws {
        let count = try await withModel(
            flavor, script: [.status(401, body: #"{"error":{"message":"invalid x-api-key"}}"#), .reply(text: "never")]
        ) { model, server in
            await #expect { try await model.complete(Self.request) } throws: { error in
                let error = error as? FerryError
                return error?.code == .modelAuth && error?.message.contains("$TEST_KEY") == true
                    && error?.message.contains("invalid x-api-key") == true
                    && error?.message.contains("test-key-123456") == false
            }
            return server.requests.count
        }
        #expect(count == 1)
    }

    @Test func unknownModelSaysSo() async throws {
        _ = try await withModel(.openai, script: [.status(404)], profile: { $0.model = "gpt-nope" }) { model, server in
            await #expect { try await model.complete(Self.request) } throws: { error in
                let message = (error as? FerryError)?.message ?? ""
                // Both possible causes: the URL and the model.
                return message.contains("\(server.baseURL)/chat/completions answered HTTP 404")
                    && message.contains("the URL is wrong")
                    && message.contains("the model 'gpt-nope' does not exist there")
            }
        }
    }

    @Test func nothingListeningFailsFastAndSaysSo() async throws {
        // A port where nothing listens.
        let port = unusedLocalPort()
        let profile = ModelProfile(name: "x", provider: .openai, baseURL: "http://127.0.0.1:\(port)/v1", model: "m")
        let client = ModelFactory.httpClient(for: profile)
        // A retry policy whose first retry alone would wait 15–30 s: the refusal must not wait through any of it.
        // (With the standard 1 s base a 5 s bound told a retry from a loaded machine badly.)
        let model = ModelFactory.make(
            profile: profile, apiKey: nil, client: client,
            retry: RetryPolicy(maxAttempts: 5, baseDelay: 30, maxDelay: 60))
        let started = ContinuousClock.now
        await #expect { try await model.complete(Self.request) } throws: { error in
            let error = error as? FerryError
            return error?.code == .modelUnreachable
                && error?.message.contains("nothing is listening at http://127.0.0.1:\(port)/v1/chat/completions")
                    == true
                && error?.message.contains("base_url of the model profile 'x'") == true
        }
        #expect(ContinuousClock.now - started < .seconds(15))
        try await client.shutdown()
    }

    @Test func unresolvableHostSaysSo() async throws {
        let profile = ModelProfile(name: "x", provider: .openai, baseURL: "http://no-such-host.invalid/v1", model: "m")
        let client = ModelFactory.httpClient(for: profile)
        let model = ModelFactory.make(profile: profile, apiKey: nil, client: client, retry: Self.fastRetry)
        await #expect { try await model.complete(Self.request) } throws: { error in
            (error as? FerryError)?.message.contains("cannot resolve the host 'no-such-host.invalid'") == true
        }
        try await client.shutdown()
    }

    @Test func idleStreamTimesOut() async throws {
        _ = try await withModel(
            .openai,
            script: [
                .delay(seconds: 3, then: FakeReply(text: "late")), .delay(seconds: 3, then: FakeReply(text: "late")),
                .delay(seconds: 3, then: FakeReply(text: "late")),
            ], profile: { $0.idleTimeoutSeconds = 0.5 }
        ) { model, _ in
            await #expect { try await model.complete(Self.request) } throws: { error in
                (error as? FerryError)?.code == .modelTimeout
            }
        }
    }

    @Test func malformedToolArgumentsReachTheLoopVerbatim() async throws {
        let reply = try await withModel(
            .openai,
            script: [.reply(toolCalls: [FakeToolCall(name: "edit_file", arguments: #"{"path": "a.py", "old": "#)])]
        ) { model, _ in
            try await model.complete(Self.request)
        }
        #expect(reply.toolCalls.first?.arguments == #"{"path": "a.py", "old": "#)
        var machine = AgentMachine(history: [.system("s")], limits: AgentLimits(), contextWindow: 10_000)
        _ = machine.handle(.start(now: 0))
        guard case .callModel(let history) = machine.handle(.modelReplied(reply, cost: 0, now: 0)) else {
            Issue.record("expected retry")
            return
        }
        #expect(history.last?.content.contains("not a valid JSON object") == true)
    }

    @Test func textProtocolOverOpenAIParsesQwenToolCalls() async throws {
        let reply = try await withModel(
            .openai,
            script: [
                .reply(
                    text: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>")
            ], profile: { $0.toolProtocol = .text }
        ) { model, server in
            let reply = try await model.complete(Self.request)
            #expect(server.requests[0]["tools"] == nil)
            #expect(
                server.requests[0]["messages"]?.element(0)?["content"]?.stringValue?.contains("`read_file`") == true)
            return reply
        }
        #expect(reply.toolCalls.first?.name == "read_file")
    }

    @Test func priceCatalogueAndCost() {
        let price = PriceCatalog.standard.price(for: "claude-sonnet-4-5-20250929")
        #expect(price?.input == 3)
        #expect(PriceCatalog.standard.price(for: "openai/gpt-4.1-mini")?.output == 1.6)
        #expect(PriceCatalog.standard.price(for: "gpt-4.1-mini")?.input == 0.4)  // longest prefix beats gpt-4.1
        #expect(PriceCatalog.standard.price(for: "mystery-model") == nil)
        let cost = Price(input: 2, output: 8, cachedInput: 0.5).cost(
            of: Usage(inputTokens: 1_000_000, outputTokens: 100_000, cachedInputTokens: 400_000))
        #expect(abs(cost - (0.6 * 2 + 0.4 * 0.5 + 0.1 * 8)) < 1e-9)
    }

    @Test func retryAfterParsing() {
        #expect(RetryPolicy.retryAfter(milliseconds: "250", value: "9") == 0.25)
        #expect(RetryPolicy.retryAfter(milliseconds: nil, value: "3") == 3)
        let now = Date(timeIntervalSince1970: 1_000_000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let date = formatter.string(from: now.addingTimeInterval(5))
        #expect(RetryPolicy.retryAfter(milliseconds: nil, value: date, now: now) == 5)
        let delay = RetryPolicy(maxAttempts: 5, baseDelay: 1, maxDelay: 8).delay(afterAttempt: 3, retryAfter: nil)
        #expect(delay >= 2 && delay <= 4)
    }

    @Test func sseParserHandlesSplitsAndCRLF() {
        var parser = SSEParser()
        #expect(parser.feed(Array("event: a\r\ndata: {\"x\"".utf8)).isEmpty)
        let events = parser.feed(Array(":1}\r\n\r\ndata: two\ndata: lines\n\n".utf8))
        #expect(events == [SSEEvent(event: "a", data: "{\"x\":1}"), SSEEvent(event: nil, data: "two\nlines")])
        #expect(parser.feed(Array("data: tail".utf8)).isEmpty)
        #expect(parser.finish() == SSEEvent(event: nil, data: "tail"))
    }
}

extension JSONValue {
    var arrayCount: Int? { if case .array(let items) = self { return items.count } else { return nil } }
    var lastElement: JSONValue? { if case .array(let items) = self { return items.last } else { return nil } }
    func element(_ index: Int) -> JSONValue? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }
}

/// A local llama.cpp server is asked for its prompt progress and each report reaches the caller before the text.
@Suite struct PromptProgressTests {
    @Test func aLocalServersPromptProgressIsStreamed() async throws {
        let progress = [
            #"{"choices":[],"prompt_progress":{"total":600,"cache":0,"processed":256,"time_ms":900}}"#,
            #"{"choices":[],"prompt_progress":{"total":600,"cache":0,"processed":512,"time_ms":1800}}"#,
            #"{"choices":[],"prompt_progress":{"total":600,"cache":0,"processed":600,"time_ms":2100}}"#,
        ]
        try await FakeModelServer.with(.openai, script: [.events(progress, then: FakeReply(text: "calc.py:1"))]) {
            server in
            let profile = ModelProfile(
                name: "local", provider: .local, baseURL: server.baseURL, model: "qwen", apiKeyEnv: "")
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(profile: profile, apiKey: nil, client: client, retry: .standard)
            let seen = Locked<[String]>([])
            let reply = try await model.complete(ChatRequest(messages: [.user("hi")], tools: [])) { delta in
                switch delta {
                case .promptProgress(let processed, let total): seen.withLock { $0.append("\(processed)/\(total)") }
                case .text(let text): seen.withLock { $0.append("text:\(text)") }
                default: break
                }
            }
            try await client.shutdown()
            #expect(reply.content == "calc.py:1")
            #expect(seen.withLock { $0 }.prefix(3) == ["256/600", "512/600", "600/600"])
            #expect(seen.withLock { $0 }.last?.hasPrefix("text:") == true)
            #expect(server.requests.first?["return_progress"] == .bool(true))
        }
    }
}
