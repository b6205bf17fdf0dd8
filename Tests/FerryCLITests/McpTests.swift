import FerryCore
import FerryTesting
import Foundation
import Testing

/// `ferry mcp` driven by the real `mcp` Python SDK (Tests/assist/mcp_stdio.py) against a scripted model: every tool,
/// progress while `ask` streams, resources, an abandoned call, a cancelled task.
@Suite struct McpTests {
    static let python =
        (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/assist-venv/bin/python"

    @Test func aRealMCPClientCallsEveryToolGetsProgressAndCancels() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "run scripts/setup.sh --test-clients (make test does)")
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        let repo = try await FixtureRepo.make(CalcFixture.files)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-mcp-\(UUID().uuidString.prefix(8))"
        ).path
        try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
            try fake.writeConfig(configHome: home + "/config")
            let (status, output) = try await ChildProcess.run(
                Self.python, [CLITests.packageRoot + "/Tests/assist/mcp_stdio.py", "--ferry", binary, "--repo", repo],
                environment: ["XDG_CONFIG_HOME": home + "/config", "XDG_DATA_HOME": home + "/data"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("ok: all"), "\(output)")
            // stdout carried only the protocol: the SDK would have failed on anything else, and no log line leaked.
            #expect(!output.contains("Traceback"), "\(output)")
        }
    }
}
