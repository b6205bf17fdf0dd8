import FerryCore
import Foundation

/// Builds llama.cpp's `llama-server` from the llama.cpp sources inside the `llama-cpp-python` sdist on PyPI, once,
/// into Ferry's cache. (Why this rather than `llama-cpp-python[server]`: docs/LOCAL_MODEL.md.)
public struct ServerBuilder: Sendable {
    public static let llamaCppPythonVersion = "0.3.36"

    public var cache: LocalCache
    public var python: String
    public var jobs: Int

    public init(
        cache: LocalCache = .default(), python: String = "python3",
        jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.cache = cache
        self.python = python
        self.jobs = max(1, jobs)
    }

    public var binaryPath: String { cache.serverBinary(version: Self.llamaCppPythonVersion) }

    /// Whether the user asked for llama.cpp built here rather than the prebuilt wheel (`FERRY_SERVER_BUILD=source`).
    public var sourceOnly: Bool { ProcessInfo.processInfo.environment["FERRY_SERVER_BUILD"] == "source" }

    /// A usable server binary: Ferry's build, else the prebuilt server, else `llama-server` on PATH.
    public var installedBinary: String? {
        if FileManager.default.isExecutableFile(atPath: binaryPath) { return binaryPath }
        if !sourceOnly, let launcher = PrebuiltServer(cache: cache, python: python).installedLauncher {
            return launcher
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { "\($0)/llama-server" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A server to run: the prebuilt one when it installs and loads here, else llama.cpp built from source.
    public func ensure(progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        if let installedBinary { return installedBinary }
        if !sourceOnly {
            do {
                return try await PrebuiltServer(cache: cache, python: python).ensure(progress: progress)
            } catch {
                progress(
                    TransferProgress(phase: "prebuilt server unavailable, building llama.cpp", done: 0, total: 100))
                FileHandle.standardError.write(Data("ferry: \(error); building llama.cpp's server instead\n".utf8))
            }
        }
        return try await build(progress: progress)
    }

    /// Builds llama.cpp's `llama-server` from source.
    public func build(progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        let fm = FileManager.default
        guard
            fm.isExecutableFile(atPath: "/usr/bin/cmake")
                || (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains(where: {
                    fm.isExecutableFile(atPath: "\($0)/cmake")
                })
        else {
            throw FerryError(
                .io, "building llama-server needs cmake and a C++ compiler: sudo apt-get install cmake g++")
        }
        let work = cache.root + "/llama.cpp/build-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: work)
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }

        progress(TransferProgress(phase: "downloading llama.cpp sources", done: 0, total: 100))
        let version = Self.llamaCppPythonVersion
        var result = try await StreamingCommand.run(
            python,
            [
                "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python", "--no-cache-dir",
                "--disable-pip-version-check", "--quiet", "-d", work, "llama-cpp-python==\(version)",
            ])
        try check(result, "pip could not download llama-cpp-python==\(version)")
        result = try await StreamingCommand.run("tar", ["xzf", "llama_cpp_python-\(version).tar.gz"], in: work)
        try check(result, "could not unpack the llama-cpp-python sdist")
        let source = work + "/llama_cpp_python-\(version)/vendor/llama.cpp"
        progress(TransferProgress(phase: "configuring llama.cpp", done: 0, total: 100))
        result = try await StreamingCommand.run(
            "cmake",
            [
                "-S", source, "-B", work + "/build", "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                "-DLLAMA_OPENSSL=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DGGML_NATIVE=ON",
            ])
        try check(result, "cmake could not configure llama.cpp")
        result = try await StreamingCommand.run(
            "cmake", ["--build", work + "/build", "--target", "llama-server", "-j", String(jobs)]
        ) { line in
            // "[ 45%] Building CXX object …"
            if line.hasPrefix("["), let close = line.firstIndex(of: "%"),
                let percent = Int(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces))
            {
                progress(TransferProgress(phase: "building llama-server", done: Int64(percent), total: 100))
            }
        }
        try check(result, "building llama-server failed")
        try fm.createDirectory(
            atPath: (binaryPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let built = work + "/build/bin/llama-server"
        // Every flag Ferry passes must be one this server takes: say so now, not at the first run.
        let help = try await StreamingCommand.run(built, ["--help"], keep: 100_000)
        let missing = LlamaServerFlag.missing(fromHelp: help.tail.joined(separator: "\n"))
        guard missing.isEmpty else {
            throw FerryError(
                .io, "the built llama-server does not take \(missing.joined(separator: " ")), which Ferry passes")
        }
        try? fm.removeItem(atPath: binaryPath + ".partial")
        try fm.copyItem(atPath: built, toPath: binaryPath + ".partial")
        try fm.moveItem(atPath: binaryPath + ".partial", toPath: binaryPath)
        progress(TransferProgress(phase: "building llama-server", done: 100, total: 100))
        return binaryPath
    }

    private func check(_ result: StreamingCommand.Result, _ message: String) throws {
        guard result.status == 0 else {
            throw FerryError(.io, message + ":\n" + result.tail.suffix(12).joined(separator: "\n"))
        }
    }
}
