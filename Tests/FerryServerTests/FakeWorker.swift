import AsyncHTTPClient
import FerryAgent
import FerryModels
import FerryServer
import FerryTesting
import Logging

/// A worker whose every model is `fake`, and the HTTP client to shut down after it.
func fakeWorker(
    _ fake: FakeModelServer, server: TeamServer, config: FerryConfig, id: String = "w", policy: QueuePolicy = QueuePolicy(),
    pollSeconds: Double = 1, logger: Logger = Logger(label: "ferry.worker")
) -> (worker: Worker, client: HTTPClient) {
    let profile = ModelProfile(name: "t", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
    let client = ModelFactory.httpClient(for: profile)
    let worker = Worker(
        id: id, store: server.store, runStore: server.runStore, config: config, policy: policy, pollSeconds: pollSeconds, logger: logger,
        makeModel: { _ in ModelFactory.make(profile: profile, apiKey: nil, client: client, retry: RetryPolicy(maxAttempts: 1)) })
    return (worker, client)
}
