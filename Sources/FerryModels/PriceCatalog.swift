import FerryCore

/// Prices per million tokens for common models. Config can override any of them; a model missing here and in
/// config is reported as "cost unknown" rather than guessed.
public struct PriceCatalog: Sendable {
    public var entries: [String: Price]

    public init(entries: [String: Price]) { self.entries = entries }

    /// The longest catalogue key that prefixes the model name wins, so dated names such as
    /// `claude-sonnet-4-5-20250929` find `claude-sonnet-4-5`. A router prefix (`anthropic/…`) is ignored.
    public func price(for model: String) -> Price? {
        var name = model.lowercased()
        if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
        if let exact = entries[name] { return exact }
        let match = entries.keys.filter { name.hasPrefix($0) }.max { $0.count < $1.count }
        return match.flatMap { entries[$0] }
    }

    public static let standard = PriceCatalog(entries: [
        "gpt-5": Price(input: 1.25, output: 10, cachedInput: 0.125),
        "gpt-5-mini": Price(input: 0.25, output: 2, cachedInput: 0.025),
        "gpt-5-nano": Price(input: 0.05, output: 0.40, cachedInput: 0.005),
        "gpt-4.1": Price(input: 2, output: 8, cachedInput: 0.5),
        "gpt-4.1-mini": Price(input: 0.4, output: 1.6, cachedInput: 0.1),
        "gpt-4.1-nano": Price(input: 0.1, output: 0.4, cachedInput: 0.025),
        "gpt-4o": Price(input: 2.5, output: 10, cachedInput: 1.25),
        "gpt-4o-mini": Price(input: 0.15, output: 0.6, cachedInput: 0.075),
        "o3": Price(input: 2, output: 8, cachedInput: 0.5),
        "o4-mini": Price(input: 1.1, output: 4.4, cachedInput: 0.275),
        "claude-opus-4": Price(input: 15, output: 75, cachedInput: 1.5, cacheWrite: 18.75),
        "claude-opus-4-5": Price(input: 5, output: 25, cachedInput: 0.5, cacheWrite: 6.25),
        "claude-sonnet-4": Price(input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75),
        "claude-3-7-sonnet": Price(input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75),
        "claude-3-5-sonnet": Price(input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75),
        "claude-haiku-4-5": Price(input: 1, output: 5, cachedInput: 0.1, cacheWrite: 1.25),
        "claude-3-5-haiku": Price(input: 0.8, output: 4, cachedInput: 0.08, cacheWrite: 1),
        "deepseek-chat": Price(input: 0.27, output: 1.1, cachedInput: 0.07),
        "qwen2.5-coder": .free,
    ])
}
