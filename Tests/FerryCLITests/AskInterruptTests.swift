import FerryTesting
import Foundation
import Testing

/// `ferry ask` stopped while the local model works — SIGTERM or Ctrl-C — leaves no llama.cpp server behind.
/// (It once left one at 100% CPU until SIGKILL.) The server here is a stand-in that never answers a completion.
@Suite struct AskInterruptTests {
    static let standIn = CLITests.packageRoot + "/Tests/Fixtures/fake-llama-server.py"

    @Test(arguments: [SIGTERM, SIGINT]) func askStoppedMidAnswerStopsTheServerItStarted(signal: Int32) async throws {
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the ferry binary first")
        let repo = try await FixtureRepo.make(["calc.py": "def add(a, b):\n    return a - b\n"])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-interrupt-\(UUID().uuidString.prefix(8))").path
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
            server_binary = "\(Self.standIn)"
            """.write(toFile: root + "/config/ferry/config.toml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["ask", "Where is add defined?", "--repo", repo]
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = root + "/config"
        environment["XDG_DATA_HOME"] = root + "/data"
        environment["XDG_CACHE_HOME"] = root + "/cache"
        process.environment = environment
        let log = root + "/ask.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The stand-in is up and healthy, and the question is waiting on it.
        var server: pid_t = 0
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: model + ".pid", encoding: .utf8), let pid = pid_t(text) { server = pid }
            if server != 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try #require(server != 0, "the stand-in server never started: \(output())")
        try await Task.sleep(for: .seconds(2))
        #expect(process.isRunning, "ask ended before it was interrupted: \(output())")

        kill(process.processIdentifier, signal)
        for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "ask did not stop on signal \(signal)")
        // The server it started is gone (its teardown allows it 5 s to stop gracefully).
        var alive = true
        for _ in 0..<100 {
            alive = kill(server, 0) == 0 && !Self.isZombie(server)
            if !alive { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        if alive { kill(server, SIGKILL) }
        #expect(!alive, "the llama.cpp stand-in (pid \(server)) outlived ferry ask: \(output())")
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return true
        }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
    }
}
