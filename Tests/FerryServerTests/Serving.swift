import FerryAgent
import FerryDashboard
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

extension TeamServer {
    /// Serves on a free 127.0.0.1 port, with `workers` and (for the assistant surfaces) `models`, while `body` runs
    /// with the port; then stops the server.
    func serving<T: Sendable>(
        workers: [Worker] = [], models: ModelPool? = nil, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await run(port: 0, workers: workers, signals: [], models: models, pages: try await dashboard()) {
                    continuation.yield($0)
                }
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { group.cancelAll() }
            return try await body(port)
        }
    }

    /// The dashboard over this server's stores, as `ferry serve` adds it.
    func dashboard() async throws -> Dashboard {
        try await Dashboard(store: store, runStore: runStore, policy: policy, secrets: secrets)
    }
}

extension ServerPolicy {
    /// The tests' server: local projects anywhere under the tests' temporary folder, and loopback allowed for the
    /// fake git and webhook servers, with `data` (and Ferry's own folders) protected.
    static func tests(data: String) -> ServerPolicy {
        .server(
            projectRoots: [FileManager.default.temporaryDirectory.path], allowHosts: ["127.0.0.1", "::1", "localhost"],
            dataDirectory: data)
    }
}

extension ModelPool {
    /// The server's models for the assistant surfaces: one profile, `fake`, answered by `fake`.
    static func answering(with fake: FakeModelServer, runs: String) -> ModelPool {
        var config = FerryConfig(dataDirectory: runs)
        config.profiles["fake"] = ModelProfile(
            name: "fake", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
        config.defaultModel = "fake"
        return ModelPool(config: config, environment: [:])
    }
}
