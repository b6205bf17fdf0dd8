/// Token usage, normalised across providers.
///
/// `inputTokens` counts every prompt token, including those read from or written to a cache;
/// `cachedInputTokens` and `cacheWriteTokens` are the parts of it that were. (OpenAI reports it this way; Anthropic
/// reports the three apart, and its provider adds them up.)
public struct Usage: Codable, Hashable, Sendable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteTokens: Int

    public init(inputTokens: Int = 0, outputTokens: Int = 0, cachedInputTokens: Int = 0, cacheWriteTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
    }

    public var totalTokens: Int { inputTokens + outputTokens }

    public static func + (lhs: Usage, rhs: Usage) -> Usage {
        Usage(
            inputTokens: lhs.inputTokens + rhs.inputTokens,
            outputTokens: lhs.outputTokens + rhs.outputTokens,
            cachedInputTokens: lhs.cachedInputTokens + rhs.cachedInputTokens,
            cacheWriteTokens: lhs.cacheWriteTokens + rhs.cacheWriteTokens
        )
    }

    public static func += (lhs: inout Usage, rhs: Usage) { lhs = lhs + rhs }
}

/// Prices in USD per million tokens.
public struct Price: Codable, Hashable, Sendable {
    public var input: Double
    public var output: Double
    public var cachedInput: Double
    public var cacheWrite: Double

    public init(input: Double, output: Double, cachedInput: Double? = nil, cacheWrite: Double? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput ?? input
        self.cacheWrite = cacheWrite ?? input
    }

    public static let free = Price(input: 0, output: 0)

    /// The cost of one call, from the usage the server reported.
    public func cost(of usage: Usage) -> Double {
        let uncached = max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens)
        let micro =
            Double(uncached) * input + Double(usage.cachedInputTokens) * cachedInput
            + Double(usage.cacheWriteTokens) * cacheWrite + Double(usage.outputTokens) * output
        return micro / 1_000_000
    }
}
