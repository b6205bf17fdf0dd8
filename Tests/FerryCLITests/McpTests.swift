import FerryCore
import FerryTesting
import Foundation
import Testing

/// `ferry mcp` driven by the real `mcp` Python SDK (Tests/assist/mcp_stdio.py) against a scripted model: every tool,
/// progress while `ask` streams, resources, an abandoned call, a cancelled task.
@Suite struct McpTests {
    static let python = (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/assist-venv/bin/python"

    static let files = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py": "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
        ".ferry/config.toml": "[project]\ntest_command = \"python3 -m unittest\"\n",
    ]

    /// The model: an answer that cites calc.py:1 for questions, the fix for tasks; anything saying "hangs" waits.
    static let responder: @Sendable (JSONValue) -> FakeStep = { body in
        guard case .array(let messages)? = body["messages"] else { return .status(400) }
        let text = messages.compactMap { $0["content"]?.stringValue }.joined(separator: "\n")
        if messages.contains(where: { $0["role"] == "user" && ($0["content"]?.stringValue ?? "").contains("hangs") }) {
            return .delay(seconds: 120, then: FakeReply(text: "too late"))
        }
        if text.contains("You answer questions about a code repository") {
            return .reply(text: "add() is defined at calc.py:1; it returns a - b (calc.py:2).")
        }
        let call: FakeToolCall
        switch messages.filter({ $0["role"] == "tool" }).count {
        case 0: call = FakeToolCall(name: "read_file", arguments: #"{"path": "calc.py"}"#)
        case 1: call = FakeToolCall(name: "edit_file", arguments: #"{"path": "calc.py", "old": "return a - b", "new": "return a + b"}"#)
        default: call = FakeToolCall(name: "finish", arguments: #"{"summary": "add() subtracted; it now adds."}"#)
        }
        return .reply(toolCalls: [call])
    }

    @Test func aRealMCPClientCallsEveryToolGetsProgressAndCancels() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "run scripts/setup.sh --test-clients (make test does)")
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        let repo = try await FixtureRepo.make(Self.files)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-mcp-\(UUID().uuidString.prefix(8))").path
        try await FakeModelServer.with(.openai, responder: Self.responder) { fake in
            try fake.writeConfig(configHome: home + "/config")
            let (status, output) = try await Self.runPython(
                CLITests.packageRoot + "/Tests/assist/mcp_stdio.py", ["--ferry", binary, "--repo", repo],
                environment: ["XDG_CONFIG_HOME": home + "/config", "XDG_DATA_HOME": home + "/data"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("ok: all"), "\(output)")
            // stdout carried only the protocol: the SDK would have failed on anything else, and no log line leaked.
            #expect(!output.contains("Traceback"), "\(output)")
        }
    }

    /// Runs a Python script of the test clients' venv to its end without blocking a thread of the cooperative pool.
    static func runPython(_ script: String, _ arguments: [String], environment extra: [String: String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-py-\(UUID().uuidString.prefix(8)).log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let started = ContinuousClock.now
        while process.isRunning {
            if ContinuousClock.now - started > .seconds(300) { process.terminate() }
            try await Task.sleep(for: .milliseconds(200))
        }
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
