import AsyncHTTPClient
import FerryCore
import FerryModels
import NIOCore

/// Makes the chat model for a profile, wrapping it in the text protocol when the profile asks for it.
public enum ModelFactory {
    public static func make(
        profile: ModelProfile, apiKey: String?, client: HTTPClient, retry: RetryPolicy = .standard
    ) -> any ChatModel {
        let base: any ChatModel =
            switch profile.provider {
            case .anthropic: AnthropicChatModel(profile: profile, apiKey: apiKey, client: client, retry: retry)
            case .openai, .local: OpenAIChatModel(profile: profile, apiKey: apiKey, client: client, retry: retry)
            }
        return profile.toolProtocol == .text ? TextProtocolModel(base: base) : base
    }

    /// Runs `body` with the profile's model on its own HTTP client, and shuts the client down however `body` ends.
    public static func withModel<T: Sendable>(
        profile: ModelProfile, apiKey: String?, retry: RetryPolicy = .standard,
        _ body: (any ChatModel) async throws -> T
    ) async throws -> T {
        let client = httpClient(for: profile)
        let result: T
        do {
            result = try await body(make(profile: profile, apiKey: apiKey, client: client, retry: retry))
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        return result
    }

    /// An HTTP client with the profile's connect and idle timeouts. The caller shuts it down.
    public static func httpClient(for profile: ModelProfile) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .milliseconds(Int64(profile.connectTimeoutSeconds * 1000)),
            read: .milliseconds(Int64(profile.idleTimeoutSeconds * 1000)))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
