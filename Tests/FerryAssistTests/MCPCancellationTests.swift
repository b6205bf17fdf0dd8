import FerryAgent
import FerryAssist
import FerryCore
import FerryIndex
import FerryModels
import FerryTesting
import Foundation
import MCP
import Synchronization
import Testing

/// `notifications/cancelled` stops the call it names: the model's stream under an `ask` is cancelled, not left to
/// run (and bill) to its end; the session goes on answering.
@Suite struct MCPCancellationTests {
    /// A model that streams nothing and waits until it is cancelled, recording that it was.
    final class HangingModel: ChatModel {
        let profile = ModelProfile(
            name: "hang", provider: .openai, baseURL: "http://127.0.0.1:9", model: "hang", apiKeyEnv: "")
        let started = Mutex(false)
        let cancelled = Mutex(false)
        func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
            -> ModelReply
        {
            started.withLock { $0 = true }
            do {
                try await Task.sleep(for: .seconds(120))
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
            return ModelReply(content: "too late", toolCalls: [], usage: Usage(), finishReason: "stop")
        }
    }

    struct NoTasks: TaskHost {
        func start(task: String, project: String?, base: String?) async throws -> TaskReport { throw NotFound("none") }
        func status(_ id: String) async throws -> TaskReport { throw NotFound("none") }
        func result(_ id: String) async throws -> TaskReport { throw NotFound("none") }
        func cancel(_ id: String) async throws -> TaskReport { throw NotFound("none") }
        func trace(_ id: String) async throws -> String { "" }
        func recent(limit: Int) async throws -> [(id: String, title: String)] { [] }
    }

    @Test func aCancelledAskStopsItsModelStream() async throws {
        let repo = try await FixtureRepo.make(["calc.py": "def add(a, b):\n    return a - b\n"])
        let assistant = try await RepoAssistant.open(root: repo)
        let model = HangingModel()
        let server = await FerryMCP.makeServer(
            AssistEnvironment(
                repository: { _ in assistant }, model: { model }, tasks: NoTasks(), projectArgument: false))
        let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
        try await server.start(transport: serverSide)
        let client = Client(name: "test", version: "1")
        _ = try await client.connect(transport: clientSide)

        let call: RequestContext<CallTool.Result> = try await client.callTool(
            name: "ask", arguments: ["question": "Where is add?"])
        for _ in 0..<100 where !model.started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(model.started.withLock { $0 }, "the model was never asked")
        try await client.cancelRequest(call.requestID, reason: "the user moved on")
        for _ in 0..<100 where !model.cancelled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(model.cancelled.withLock { $0 }, "the model's stream went on after notifications/cancelled")

        // The session still answers.
        let (content, isError) = try await client.callTool(name: "search_code", arguments: ["query": "add"])
        #expect(isError != true)
        #expect("\(content)".contains("calc.py"))
        await client.disconnect()
        await server.stop()
    }
}
