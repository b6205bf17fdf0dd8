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

    /// An HTTP client with the profile's connect and idle timeouts. The caller shuts it down.
    public static func httpClient(for profile: ModelProfile) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .milliseconds(Int64(profile.connectTimeoutSeconds * 1000)),
            read: .milliseconds(Int64(profile.idleTimeoutSeconds * 1000)))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
