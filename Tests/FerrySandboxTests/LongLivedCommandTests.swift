import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerrySandbox

/// A command kept running beside the agent (an MCP server) talks over its stdin and stdout under either runner, and
/// `stop()` ends it.
@Suite struct LongLivedCommandTests {
    enum Mode: String, CaseIterable, Sendable { case bubblewrap, none }

    @Test(arguments: Mode.allCases) func aLaunchedCommandEchoesAndStops(mode: Mode) async throws {
        let repo = try await FixtureRepo.make(["a.txt": "x\n"])
        let policy = SandboxPolicy(workspace: repo)
        let runner: any LaunchingRunner =
            mode == .bubblewrap ? try BubblewrapRunner(policy: policy) : DirectRunner(policy: policy)
        // As MCPToolServers starts a server: `exec` and the quoted command.
        let command = try await runner.launch(
            CommandRequest(
                script:
                    "exec 'python3' '-c' 'import sys; [print(line.strip().upper(), flush=True) for line in sys.stdin]'",
                workingDirectory: repo))
        try command.input.writeAll(Array("hello\n".utf8))
        let reply = try await Task.detached {
            var text = ""
            var buffer = [UInt8](repeating: 0, count: 64)
            while !text.hasSuffix("\n") {
                let count = try buffer.withUnsafeMutableBytes { try command.output.read(into: $0) }
                if count == 0 { break }  // the command ended
                text += String(decoding: buffer.prefix(count), as: UTF8.self)
            }
            return text
        }.value
        #expect(reply == "HELLO\n", "stderr: \(command.stderrTail)")
        #expect(command.isRunning)
        await command.stop()
        #expect(!command.isRunning)
    }

    @Test func aCommandDroppedWithoutStopLeavesNoLogBehind() async throws {
        let repo = try await FixtureRepo.make(["a.txt": "x\n"])
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        // This command's own log (other tests' servers write theirs to the same folder at the same time).
        var command: LongLivedCommand? = try await runner.launch(
            CommandRequest(script: "echo gone >&2", workingDirectory: repo))
        let log = try #require(command?.stderrPath)
        #expect((log as NSString).lastPathComponent.hasPrefix("ferry-mcp-"))
        for _ in 0..<100 where command?.isRunning == true { try await Task.sleep(for: .milliseconds(20)) }
        #expect(command?.stderrTail == "gone\n")
        #expect(FileManager.default.fileExists(atPath: log))
        command = nil
        #expect(!FileManager.default.fileExists(atPath: log))
    }
}
