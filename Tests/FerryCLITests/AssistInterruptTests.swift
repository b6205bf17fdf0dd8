import FerrySandbox
import FerryTesting
import Foundation
import Testing

/// `ferry mcp` and `ferry chat` stopped while the local model is answering — SIGTERM, or Ctrl-C — stop the llama.cpp
/// server they started (the stand-in never answers a completion) and exit.
@Suite struct AssistInterruptTests {
    enum Surface: String, CaseIterable, Sendable { case mcp, chat }

    static let initialize =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
    static let initialized = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    static let ask =
        #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"Where is add defined?"}}}"#

    @Test(arguments: [(Surface.mcp, SIGTERM), (.mcp, SIGINT), (.chat, SIGTERM)])
    func stoppedMidAnswerStopsTheModelServer(surface: Surface, signal: Int32) async throws {
        let repo = try await FixtureRepo.make(["calc.py": "def add(a, b):\n    return a - b\n"])
        let standIn = try StandInModel()
        let input = try BackgroundProcess.pipe()
        let process = try await standIn.start([surface.rawValue, "--repo", repo], input: input.read)
        defer { try? input.write.close() }
        let lines = surface == .mcp ? [Self.initialize, Self.initialized, Self.ask] : ["Where is add defined?"]
        for line in lines { _ = try input.write.writeAll(Array((line + "\n").utf8)) }
        try await standIn.stop(process, with: signal, name: "ferry \(surface)")
        if process.isRunning { await process.stop() }
    }
}
