import FerryAgent
import FerryCore
import FerryModels
import FerryStore
import FerryTesting
import Foundation
import Testing

/// MCP servers named in the config become tools of `ferry run`: started in the run's sandbox, listed in the trace,
/// called by the model as `mcp__SERVER__TOOL`, their errors returned to the model, stopped with the run. A server
/// that cannot start is reported and left out; the run goes on.
@Suite struct MCPToolsTests {
    static let server = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/mcp-tickets-server.py").path

    @Test func aConfiguredServersToolsJoinTheRunInTheSandbox() async throws {
        let (store, data) = try RunLibraryTests.freshStore()
        // The server is part of the repository, so the sandbox (which hides the host's home and Ferry's folders)
        // shows it in the worktree; the store's file is what the probe must not see.
        var files = EndToEndTests.files
        files["tools/tickets.py"] = try String(contentsOfFile: Self.server, encoding: .utf8)
        let repo = try await FixtureRepo.make(files)
        let hidden = data + "/ferry.sqlite"
        let script: [FakeStep] = [
            .call("mcp__tickets__lookup_ticket", ["id": "T-1"]),
            .call("mcp__tickets__probe", ["path": .string(hidden)]),
            .call("mcp__tickets__fail", [:]),
            .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
            .call("finish", ["summary": "add() subtracted; it now adds (ticket T-1)."]),
        ]
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = "python3 -m unittest"
        config.firstAttempt = .off
        config.mcpServers = [
            "tickets": MCPServer(name: "tickets", command: ["python3", "tools/tickets.py"], timeoutSeconds: 20),
            "broken": MCPServer(name: "broken", command: ["/nonexistent/server"], timeoutSeconds: 5),
        ]
        let frozen = config
        let (result, requests) = try await FakeModelServer.with(.openai, script: script) { fake in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            defer { Task { try? await client.shutdown() } }
            let model = ModelFactory.make(
                profile: profile, apiKey: "k", client: client, retry: RetryPolicy(maxAttempts: 1))
            let result = try await AgentRunner(model: model, store: store, config: frozen).run(
                RunRequest(task: "fix add(); see ticket T-1", repo: repo))
            return (result, fake.requests)
        }
        #expect(result.status == .verified, "\(result.record.reason)")
        let events = try await store.events(of: result.record.id)
        let ready = try #require(events.compactMap { if case .mcpReady(let p) = $0.event { p } else { nil } }.first)
        #expect(ready.servers.first { $0.name == "tickets" }?.tools == ["lookup_ticket", "probe", "fail"])
        #expect(ready.servers.first { $0.name == "broken" }?.error != nil, "\(ready)")
        // The model was offered the tools with their schemas.
        let offered = requests.first?["tools"].map { $0.jsonString } ?? ""
        #expect(
            offered.contains("mcp__tickets__lookup_ticket") && offered.contains("\"required\""),
            "\(offered.prefix(400))")
        let outputs = events.compactMap { if case .toolResult(let p) = $0.event { p } else { nil } }
        let texts = outputs.map { "\($0)" }.joined(separator: "\n")
        #expect(texts.contains("must return the sum"), "\(texts)")
        // In the sandbox: Ferry's folders are hidden and the server runs in the worktree.
        #expect(texts.contains("exists=False"), "\(texts)")
        #expect(texts.contains("cwd=\(result.record.runDirectory)/worktree"), "\(texts)")
        #expect(texts.contains("the tracker is down"), "\(texts)")
        // Stopped with the run.
        #expect(!RunLibraryTests.processRunning("tools/tickets.py"))
    }
}
