import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

/// The team server's assistant surfaces driven by real clients (Tests/assist/server_clients.py): the `openai` SDK
/// against /v1/chat/completions, streaming and not, and the `mcp` SDK over streamable HTTP at /mcp, with a key of
/// one tenant refused the other's project; the answers' spend reaches the tenant's spend.
@Suite struct AssistServerTests {
    static let python =
        (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/assist-venv/bin/python"

    @Test func openAIAndMCPClientsAskTheServerAndAnotherTenantIsRefused() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "run scripts/setup.sh --test-clients (make test does)")
        let repo = try await FixtureRepo.make(CalcFixture.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-assist-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        _ = try await server.store.createProject(
            Project(
                id: "prj_calc", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                testCommand: "python3 -m unittest", createdAt: Date()))
        let (_, member) = try await server.store.createKey(tenantID: tenant.id, role: .member)
        let other = try await server.store.createTenant(name: "other")
        let (_, otherKey) = try await server.store.createKey(tenantID: other.id, role: .admin)

        try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
            let models = ModelPool.answering(with: fake, runs: data + "/runs")
            try await server.serving(models: models) { port in
                let (status, output) = try await ChildProcess.run(
                    Self.python,
                    [
                        CrashTests.packageRoot + "/Tests/assist/server_clients.py",
                        "--url", "http://127.0.0.1:\(port)", "--key", member, "--other-key", otherKey, "--project",
                        "calc", "--repo", repo,
                    ])
                #expect(status == 0, "\(output)")
                #expect(output.contains("ok: all"), "\(output)")
                if ProcessInfo.processInfo.environment["FERRY_SHOW_CLIENTS"] != nil { print(output) }
            }
            await models.shutdown()
        }
        // Two answers through the chat endpoint and one through MCP, each billed to the tenant; none to the other.
        let stats = try await server.store.stats()
        let calls = stats.spendByModel["gpt-4.1-mini"]?.calls ?? 0
        #expect(calls == 3, "answers billed: \(calls)")
    }
}
