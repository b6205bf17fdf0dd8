import FerrySandbox
import FerryTesting
import Foundation
import Testing

/// The `ferry` binary itself: exit codes, redaction, the demo.
@Suite struct CLITests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func ferry(_ arguments: [String], in directory: String? = nil, environment extra: [String: String] = [:])
        async throws -> Output
    {
        let binary = Self.packageRoot + "/.build/debug/ferry"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CancellationError()  // built by `swift build --build-tests`, which `make test` runs first
        }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-cli-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_DATA_HOME"] = data
        environment["XDG_CONFIG_HOME"] = data + "/config"
        for (key, value) in extra { environment[key] = value }
        let (out, err) = (data + "/cli-stdout", data + "/cli-stderr")
        let process = try await BackgroundProcess.start(
            binary, arguments, environment: environment, workingDirectory: directory ?? Self.packageRoot,
            stdout: .file(out), stderr: .file(err))
        let exit = await process.wait()
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        return Output(
            status: exit.code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Every command's options are valid together (ArgumentParser checks only when a command is parsed: two options
    /// with one name are a crash at the user's first use).
    @Test(arguments: [
        "run", "ask", "locate", "index", "mcp", "chat", "runs", "show", "config", "demo", "model", "eval", "serve",
        "worker", "tenants",
    ])
    func everyCommandsHelpParses(command: String) async throws {
        let output = try await ferry([command, "--help"])
        #expect(output.status == 0, "ferry \(command) --help: \(output.stdout)\(output.stderr)")
        #expect(!output.stdout.contains("Validation failed"), "\(output.stdout)")
    }

    @Test func demoRunsEndToEndAndVerifies() async throws {
        let result = try await ferry(["demo", "--scripted", "--example", Self.packageRoot + "/examples/cart"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("SCRIPTED"))
        #expect(result.stdout.contains("status    VERIFIED"))
        #expect(result.stdout.contains("+    if item_count(items) >= 10:"))
    }

    @Test func badRepositoryConfigExitsTwoAndNamesTheFile() async throws {
        let repo = try await FixtureRepo.make([".ferry/config.toml": "[limits]\nmax_step = 3\n", "a.py": ""])
        let result = try await ferry(
            ["run", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "fix it"], in: repo)
        #expect(result.status == 2)
        #expect(result.stderr.contains(".ferry/config.toml: unknown key 'limits.max_step'"))
    }

    @Test func missingKeyExitsTwo() async throws {
        let repo = try await FixtureRepo.make(["a.py": ""])
        let result = try await ferry(
            ["run", "--provider", "anthropic", "--api-key-env", "FERRY_TEST_UNSET_KEY", "fix it"], in: repo)
        #expect(result.status == 2)
        #expect(result.stderr.contains("$FERRY_TEST_UNSET_KEY, which is not set"))
    }

    @Test func notARepositoryExitsTwo() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-norepo-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let result = try await ferry(["run", "--provider", "local", "fix it"], in: dir)
        #expect(result.status == 2)
        #expect(result.stderr.contains("not inside a git repository"))
    }

    @Test func unknownFlagExitsTwo() async throws {
        let result = try await ferry(["run", "--max-stepz", "3", "x"])
        #expect(result.status == 2)
    }

    @Test func configRedactsKeys() async throws {
        let result = try await ferry(
            ["config"], environment: ["OPENAI_API_KEY": "fake-openai-key-abcdefghijklmnopqrstuvwxyz"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("api_key_env = \"OPENAI_API_KEY\"  # set (redacted)"))
        #expect(!result.stdout.contains("abcdefghijklmnop"))
    }
}
