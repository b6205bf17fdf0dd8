import AsyncHTTPClient
import FerryCore
import FerryModels
import Synchronization

/// The models a long-lived process uses (a server's workers, `ferry mcp`, `ferry chat`), from its own config and
/// environment (model keys never enter a database): one HTTP client per profile, reused across calls, and the
/// embedded model's server started once, when it is first needed. `shutdown()` when the process stops: no client is
/// dropped unshut, and the local server stops.
public final class ModelPool: Sendable {
    private let clients = Mutex<[ModelProfile: HTTPClient]>([:])
    public let local: LocalModelHost
    let config: FerryConfig
    let environment: [String: String]

    public init(config: FerryConfig, environment: [String: String], local: LocalModelHost = LocalModelHost()) {
        self.config = config
        self.environment = environment
        self.local = local
    }

    /// The model for a profile name (nil: the default), with its key from this process's environment.
    public func model(named name: String?) async throws -> any ChatModel {
        try await model(for: try config.profile(named: name, environment: environment))
    }

    /// The model for a resolved profile (a local one gets its running server).
    public func model(for requested: ModelProfile) async throws -> any ChatModel {
        let profile = try await local.resolve(requested)
        let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
        return ModelFactory.make(profile: profile, apiKey: apiKey, client: client(for: profile), retry: .standard)
    }

    func client(for profile: ModelProfile) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[profile] { return client }
            let client = ModelFactory.httpClient(for: profile)
            clients[profile] = client
            return client
        }
    }

    public func shutdown() async {
        let all = clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in all { try? await client.shutdown() }
        await local.shutdown()
    }
}
