import FerryCore
import FerryStore

/// What a finished run hands back: the record, where its files are, and what the tests said.
public struct RunResult: Sendable {
    public var record: RunRecord
    public var diff: String
    public var baseline: TestRun?
    public var final: TestRun?
    public var limit: LimitKind?
    public var costBreakdown: CostBreakdown
    /// Who chose the sandbox mode ("default", "--sandbox none", a config file, "$FERRY_SANDBOX").
    public var sandboxSource = "default"
    /// Which tests judged the change: the related test files chosen for it, and what the wider suite said.
    public var testNotes: [String] = []
    /// A cascade's stages, in order (empty: one profile ran); the record is the chosen stage's.
    public var cascade: [CascadeStage] = []
    /// With a cascade whose last profile's price is known: its stages' tokens at that price, to set against
    /// `totalCostUSD` (what the cascade saved, or cost extra, against the last profile alone).
    public var cascadeAtLastPriceUSD: Double?
    /// With a cascade: its last profile, whether or not its stage came.
    public var cascadeLastProfile: String?

    public var status: RunStatus { record.status }
    /// What the whole run cost: every stage of a cascade.
    public var totalCostUSD: Double { cascade.isEmpty ? record.costUSD : cascade.reduce(0) { $0 + $1.costUSD } }
}

/// Dollars by kind of token.
public struct CostBreakdown: Codable, Hashable, Sendable {
    public var inputUSD = 0.0
    public var cachedInputUSD = 0.0
    public var cacheWriteUSD = 0.0
    public var outputUSD = 0.0
    public var priceKnown = true

    public init() {}

    public init(usage: Usage, price: Price?) {
        guard let price else {
            priceKnown = false
            return
        }
        let uncached = max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens)
        inputUSD = Double(uncached) * price.input / 1e6
        cachedInputUSD = Double(usage.cachedInputTokens) * price.cachedInput / 1e6
        cacheWriteUSD = Double(usage.cacheWriteTokens) * price.cacheWrite / 1e6
        outputUSD = Double(usage.outputTokens) * price.output / 1e6
    }

    public var totalUSD: Double { inputUSD + cachedInputUSD + cacheWriteUSD + outputUSD }
}
