import FerryCore

/// A named model: where it is, how to pay for it and how to talk to it. It holds the *name* of the environment
/// variable with the key, never the key.
public struct ModelProfile: Codable, Hashable, Sendable {
    public enum Provider: String, Codable, Sendable, CaseIterable {
        case openai, anthropic, local
    }

    public enum ToolProtocol: String, Codable, Sendable, CaseIterable {
        /// The API's own tool calls.
        case native
        /// One fenced action per reply, parsed from the text (see docs/TOOLS.md).
        case text
    }

    public var name: String
    public var provider: Provider
    public var baseURL: String
    public var model: String
    public var apiKeyEnv: String?
    public var contextWindow: Int
    /// Overrides the price catalogue.
    public var price: Price?
    public var toolProtocol: ToolProtocol
    public var maxOutputTokens: Int
    public var temperature: Double?
    public var connectTimeoutSeconds: Double
    public var idleTimeoutSeconds: Double
    /// Local profiles: the GGUF file (default: the embedded model in Ferry's cache).
    public var modelPath: String?
    /// Local profiles: the llama.cpp server binary (default: Ferry's build, else `llama-server` on PATH).
    public var serverBinary: String?
    /// Local profiles: the port to start the server on (default 0: a free one).
    public var serverPort: Int?
    /// Local profiles: extra server arguments (default `--jinja` for the native protocol).
    public var serverArguments: [String]?

    public init(
        name: String, provider: Provider, baseURL: String? = nil, model: String, apiKeyEnv: String? = nil,
        contextWindow: Int? = nil, price: Price? = nil, toolProtocol: ToolProtocol? = nil, maxOutputTokens: Int = 4096,
        temperature: Double? = nil, connectTimeoutSeconds: Double = 10, idleTimeoutSeconds: Double = 120
    ) {
        self.name = name
        self.provider = provider
        self.baseURL = baseURL ?? provider.defaultBaseURL
        self.model = model
        self.apiKeyEnv = apiKeyEnv ?? provider.defaultKeyEnv
        self.contextWindow = contextWindow ?? (provider == .local ? 16_384 : 128_000)
        self.price = price
        self.toolProtocol = toolProtocol ?? (provider == .local ? .text : .native)
        self.maxOutputTokens = maxOutputTokens
        self.temperature = temperature
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// The price used for cost accounting: the profile's own, else the catalogue's, else free for local models.
    public var effectivePrice: Price? {
        price ?? PriceCatalog.standard.price(for: model) ?? (provider == .local ? .free : nil)
    }
}

extension ModelProfile.Provider {
    public var defaultBaseURL: String {
        switch self {
        case .openai: "https://api.openai.com/v1"
        case .anthropic: "https://api.anthropic.com/v1"
        case .local: "http://127.0.0.1:8080/v1"
        }
    }

    public var defaultKeyEnv: String? {
        switch self {
        case .openai: "OPENAI_API_KEY"
        case .anthropic: "ANTHROPIC_API_KEY"
        case .local: nil
        }
    }
}
