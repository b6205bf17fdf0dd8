import AsyncHTTPClient
import FerryAgent
import FerryModels
import Synchronization

/// One HTTP client per model profile for a server's lifetime, shared by its workers: connections are reused across
/// tasks, and no client is dropped without being shut down.
public final class ModelClients: Sendable {
    private let clients = Mutex<[ModelProfile: HTTPClient]>([:])

    public init() {}

    public func client(for profile: ModelProfile) -> HTTPClient {
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
    }
}
