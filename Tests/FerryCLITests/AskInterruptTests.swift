import FerrySandbox
import FerryTesting
import Foundation
import SystemPackage
import Testing

/// A `local` model whose llama.cpp server is the stand-in (Tests/Fixtures/fake-llama-server.py), which never
/// answers a completion: for tests that stop a command mid-answer and check the server it started is gone.
struct StandInModel {
    static let script = CLITests.packageRoot + "/Tests/Fixtures/fake-llama-server.py"
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ferry-standin-\(UUID().uuidString.prefix(8))"
    ).path
    var model: String { root + "/m.gguf" }
    var log: String { root + "/out.log" }

    init() throws {
        try FileManager.default.createDirectory(atPath: root + "/config/ferry", withIntermediateDirectories: true)
        try "hang".write(toFile: model, atomically: true, encoding: .utf8)
        try """
        default_model = "local"

        [models.local]
        provider = "local"
        base_url = "http://127.0.0.1:9/v1"
        model = "stand-in"
        model_path = "\(model)"
        server_binary = "\(Self.script)"
        """.write(toFile: root + "/config/ferry/config.toml", atomically: true, encoding: .utf8)
    }

    /// `ferry ARGUMENTS` with this model, its output in `log`; its stdin the read end of `input` (closed here).
    func start(_ arguments: [String], input: FileDescriptor? = nil) async throws -> BackgroundProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = root + "/config"
        environment["XDG_DATA_HOME"] = root + "/data"
        environment["XDG_CACHE_HOME"] = root + "/cache"
        return try await BackgroundProcess.start(
            CLITests.packageRoot + "/.build/debug/ferry", arguments, environment: environment,
            stdin: input.map { .descriptor($0) } ?? .null, stdout: .file(log), stderr: .output)
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// The stand-in's pid once it is up (it writes `<model>.pid`).
    func server() async throws -> pid_t {
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: model + ".pid", encoding: .utf8), let pid = pid_t(text) {
                return pid
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Timeout(description: "the stand-in server never started: \(output)")
    }

    struct Timeout: Error, CustomStringConvertible { var description: String }

    /// Signals `process` while the stand-in is busy, and checks that both are gone (a server's teardown allows it
    /// 5 s to stop gracefully).
    func stop(_ process: BackgroundProcess, with signal: Int32, name: String) async throws {
        let server = try await server()
        try await Task.sleep(for: .seconds(2))
        #expect(process.isRunning, "\(name) ended before it was stopped: \(output)")
        process.signal(signal)
        for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "\(name) did not stop on signal \(signal): \(output)")
        var alive = true
        for _ in 0..<100 {
            alive = kill(server, 0) == 0 && !Self.isZombie(server)
            if !alive { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        if alive { kill(server, SIGKILL) }
        #expect(!alive, "the llama.cpp stand-in (pid \(server)) outlived \(name): \(output)")
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else {
            return true
        }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
    }
}

/// `ferry ask` stopped while the local model works — SIGTERM or Ctrl-C — leaves no llama.cpp server behind.
/// (It once left one at 100% CPU until SIGKILL.)
@Suite struct AskInterruptTests {
    @Test(arguments: [SIGTERM, SIGINT]) func askStoppedMidAnswerStopsTheServerItStarted(signal: Int32) async throws {
        let repo = try await FixtureRepo.make(["calc.py": "def add(a, b):\n    return a - b\n"])
        let standIn = try StandInModel()
        let process = try await standIn.start(["ask", "Where is add defined?", "--repo", repo])
        try await standIn.stop(process, with: signal, name: "ferry ask")
        if process.isRunning { await process.stop() }
    }
}
