import AsyncHTTPClient
import FerryAgent
import FerryModels
import FerryServer
import FerryTesting
import Logging
import Synchronization

/// A worker whose every model is `fake`, and the HTTP client to shut down after it.
func fakeWorker(
    _ fake: FakeModelServer, server: TeamServer, config: FerryConfig, id: String = "w",
    policy: QueuePolicy = QueuePolicy(),
    pollSeconds: Double = 1, logger: Logger = Logger(label: "ferry.worker"), forges: ForgeAccess? = nil
) -> (worker: Worker, client: HTTPClient) {
    let profile = ModelProfile(
        name: "t", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
    let client = ModelFactory.httpClient(for: profile)
    // Callers shut the client down when the test body ends; if the body throws first, an HTTPClient that is not shut
    // down traps in its deinit and takes the whole test process (every other suite) with it. Kept alive here, a
    // failing test fails alone.
    keptClients.withLock { $0.append(client) }
    let worker = Worker(
        id: id, store: server.store, runStore: server.runStore, config: config, policy: policy,
        pollSeconds: pollSeconds, logger: logger,
        projects: server.policy, forges: forges,
        makeModel: { _ in
            ModelFactory.make(profile: profile, apiKey: nil, client: client, retry: RetryPolicy(maxAttempts: 1))
        })
    return (worker, client)
}

private let keptClients = Mutex<[HTTPClient]>([])
