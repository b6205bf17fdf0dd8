import FerryLocal
import FerryModels
import Foundation

/// The embedded local model for a server's workers: its llama.cpp server is started once, when the first task that
/// needs it is claimed (or a healthy one is reused), shared by every worker of the process, started again if it
/// died, and stopped with the server. Other profiles pass through.
public actor LocalModelHost {
    let cache: LocalCache
    private var resolved: [ModelProfile: ModelProfile] = [:]
    private var holders: [ModelProfile: Task<Void, Never>] = [:]
    /// A start under way, which every worker that asks meanwhile waits for (no second server).
    private var starting: [ModelProfile: Task<ModelProfile, any Error>] = [:]

    public init(cache: LocalCache = .default()) {
        self.cache = cache
    }

    /// The profile pointed at a running server.
    public func resolve(_ profile: ModelProfile) async throws -> ModelProfile {
        guard profile.provider == .local else { return profile }
        if let running = resolved[profile] {
            if await LocalServer.isHealthy(baseURL: running.baseURL) { return running }
            holders.removeValue(forKey: profile)?.cancel()
            resolved[profile] = nil
        }
        if let pending = starting[profile] { return try await pending.value }
        let pending = Task { try await self.start(profile) }
        starting[profile] = pending
        defer { starting[profile] = nil }
        return try await pending.value
    }

    private func start(_ profile: ModelProfile) async throws -> ModelProfile {
        let (results, continuation) = AsyncStream.makeStream(of: Result<ModelProfile, any Error>.self)
        let cache = self.cache
        // The session lives in its own task until the server stops; the first task to need it waits for it here.
        holders[profile] = Task {
            do {
                try await LocalModelSession.with(profile, cache: cache) { running in
                    continuation.yield(.success(running))
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        for await result in results {
            switch result {
            case .success(let running):
                resolved[profile] = running
                return running
            case .failure(let error):
                holders[profile] = nil
                throw error
            }
        }
        throw CancellationError()
    }

    /// Stops the servers this host started.
    public func shutdown() async {
        let running = Array(holders.values)
        holders = [:]
        resolved = [:]
        for holder in running {
            holder.cancel()
            await holder.value
        }
    }
}
