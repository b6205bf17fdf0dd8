import FerryCore
import FerryLocal
import FerryModels
import Foundation

/// Gives a run a reachable model: for `local` profiles it finds the model and the llama.cpp server, reuses a
/// healthy server or starts one for the scope, and points the profile at it. Other profiles pass through.
public enum LocalModelSession {
    public struct Hooks: Sendable {
        public var progress: @Sendable (TransferProgress) -> Void
        public var status: @Sendable (LocalServer.Status) -> Void
        public init(
            progress: @escaping @Sendable (TransferProgress) -> Void = { _ in },
            status: @escaping @Sendable (LocalServer.Status) -> Void = { _ in }
        ) {
            self.progress = progress
            self.status = status
        }
    }

    /// The file `ferry model serve` writes while it serves, so other runs reuse that server.
    public static func stateFile(_ cache: LocalCache) -> String { cache.serversDirectory + "/serve.json" }

    public static func with<T: Sendable>(
        _ profile: ModelProfile, cache: LocalCache = .default(), install: Bool = false, hooks: Hooks = Hooks(),
        _ body: @Sendable (ModelProfile) async throws -> T
    ) async throws -> T {
        guard profile.provider == .local else { return try await body(profile) }
        var candidates: [String] = []
        if let data = FileManager.default.contents(atPath: stateFile(cache)),
            let url = JSONValue.parse(String(decoding: data, as: UTF8.self))?["base_url"]?.stringValue
        {
            candidates.append(url)
        }
        candidates.append(profile.baseURL)
        for candidate in candidates where await LocalServer.isHealthy(baseURL: candidate) {
            hooks.status(.reusing(candidate))
            var reused = profile
            reused.baseURL = candidate
            return try await body(reused)
        }
        let options = try await serverOptions(for: profile, cache: cache, install: install, hooks: hooks)
        return try await LocalServer.with(options, onStatus: hooks.status) { endpoint in
            var running = profile
            running.baseURL = endpoint.baseURL
            return try await body(running)
        }
    }

    public static func serverOptions(
        for profile: ModelProfile, cache: LocalCache, install: Bool, hooks: Hooks
    ) async throws -> LocalServerOptions {
        let installer = ModelInstaller(cache: cache)
        let builder = ServerBuilder(cache: cache)
        let modelPath: String
        if let configured = profile.modelPath {
            modelPath = configured
        } else if let installed = installer.installedModel {
            modelPath = installed
        } else if install {
            modelPath = try await installer.ensure(progress: hooks.progress)
        } else {
            throw FerryError(
                .config,
                "the local model is not installed yet. Run `ferry model install` (downloads \(installer.spec.name), "
                    + "1.1 GB, and builds llama.cpp's server once), or set model_path in [models.\(profile.name)]")
        }
        let binary: String
        if let configured = profile.serverBinary {
            binary = configured
        } else if let installed = builder.installedBinary {
            binary = installed
        } else if install {
            binary = try await builder.ensure(progress: hooks.progress)
        } else {
            throw FerryError(
                .config,
                "llama.cpp's server is not built yet. Run `ferry model install`, or set server_binary in "
                    + "[models.\(profile.name)]")
        }
        let stamp = Int(Date().timeIntervalSince1970)
        return LocalServerOptions(
            binary: binary, modelPath: modelPath, port: profile.serverPort ?? 0, contextSize: profile.contextWindow,
            extraArguments: profile.serverArguments ?? (profile.toolProtocol == .native ? ["--jinja"] : []),
            logPath: cache.serversDirectory + "/llama-server-\(stamp)-\(ProcessInfo.processInfo.processIdentifier).log")
    }
}
