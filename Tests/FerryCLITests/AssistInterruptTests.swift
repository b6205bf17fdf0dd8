import FerryTesting
import Foundation
import Testing

/// `ferry mcp` and `ferry chat` stopped while the local model is answering — SIGTERM, or Ctrl-C — stop the llama.cpp
/// server they started (the stand-in never answers a completion) and exit.
@Suite struct AssistInterruptTests {
    enum Surface: String, CaseIterable, Sendable { case mcp, chat }

    static let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
    static let initialized = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    static let ask = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"Where is add defined?"}}}"#

    @Test(arguments: [(Surface.mcp, SIGTERM), (.mcp, SIGINT), (.chat, SIGTERM)])
    func stoppedMidAnswerStopsTheModelServer(surface: Surface, signal: Int32) async throws {
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        let repo = try await FixtureRepo.make(["calc.py": "def add(a, b):\n    return a - b\n"])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-assist-int-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root + "/config/ferry", withIntermediateDirectories: true)
        let model = root + "/m.gguf"
        try "hang".write(toFile: model, atomically: true, encoding: .utf8)
        try """
            default_model = "local"

            [models.local]
            provider = "local"
            base_url = "http://127.0.0.1:9/v1"
            model = "stand-in"
            model_path = "\(model)"
            server_binary = "\(AskInterruptTests.standIn)"
            """.write(toFile: root + "/config/ferry/config.toml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [surface.rawValue, "--repo", repo]
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = root + "/config"
        environment["XDG_DATA_HOME"] = root + "/data"
        environment["XDG_CACHE_HOME"] = root + "/cache"
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        let log = root + "/out.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let lines = surface == .mcp ? [Self.initialize, Self.initialized, Self.ask] : ["Where is add defined?"]
        for line in lines { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

        var server: pid_t = 0
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: model + ".pid", encoding: .utf8), let pid = pid_t(text) { server = pid }
            if server != 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try #require(server != 0, "the stand-in server never started: \(output())")
        try await Task.sleep(for: .seconds(2))
        #expect(process.isRunning, "ferry \(surface) ended before it was stopped: \(output())")

        kill(process.processIdentifier, signal)
        for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "ferry \(surface) did not stop on signal \(signal): \(output())")
        var alive = true
        for _ in 0..<100 {
            alive = kill(server, 0) == 0 && !AskInterruptTests.isZombie(server)
            if !alive { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        if alive { kill(server, SIGKILL) }
        #expect(!alive, "the llama.cpp stand-in (pid \(server)) outlived ferry \(surface): \(output())")
    }
}
