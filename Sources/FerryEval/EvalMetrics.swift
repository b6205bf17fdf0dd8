import Foundation

/// What happened to one instance. One line of `results.jsonl`.
public struct InstanceResult: Codable, Hashable, Sendable {
    public var instanceID: String
    public var resolved: Bool
    /// The agent's own status (`verified`, `failed`, …), `gold` for `--gold`, or `error`.
    public var status: String
    /// Set when the harness itself failed (clone, patch, setup); such instances count as not resolved.
    public var error: String?
    public var patchApplied: Bool
    public var failToPass: [String: Bool]
    public var passToPass: [String: Bool]
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUSD: Double
    public var wallSeconds: Double
    public var steps: Int
    public var limit: String?
    public var runID: String?
    /// Why this instance cannot run here (from the environment specs' exclusion list); it is not counted.
    public var excluded: String?
    /// Tests left out of scoring because they cannot run here (named with their reason in the environment specs).
    public var excludedTests: [String]?
    /// The instance's version (the release its base builds on), for results per release.
    public var version: String?
    /// With a cascade: how many profiles ran for this instance, and whose change was scored.
    public var stages: Int?
    public var profile: String?
    /// With a cascade whose last profile's price is known: the instance's tokens at that price.
    public var cascadeAtLastPriceUSD: Double?

    public init(instanceID: String, status: String) {
        self.instanceID = instanceID
        self.resolved = false
        self.status = status
        self.error = nil
        self.patchApplied = false
        self.failToPass = [:]
        self.passToPass = [:]
        self.inputTokens = 0
        self.outputTokens = 0
        self.costUSD = 0
        self.wallSeconds = 0
        self.steps = 0
        self.limit = nil
        self.runID = nil
    }

    /// Ferry said `verified` but the hidden tests say otherwise: the number that tells whether to trust the label.
    public var falseVerified: Bool { status == "verified" && !resolved }

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id"
        case resolved, status, error
        case patchApplied = "patch_applied"
        case failToPass = "FAIL_TO_PASS"
        case passToPass = "PASS_TO_PASS"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case costUSD = "cost_usd"
        case wallSeconds = "wall_seconds"
        case steps, limit
        case runID = "run_id"
        case excluded
        case excludedTests = "excluded_tests"
        case version, stages, profile
        case cascadeAtLastPriceUSD = "cascade_at_last_price_usd"
    }
}

/// The suite's numbers.
public struct EvalMetrics: Codable, Hashable, Sendable {
    public var label: String
    /// Instances counted: the excluded ones are listed, not counted.
    public var total: Int
    public var excluded: Int
    public var resolved: Int
    public var resolveRate: Double
    /// Wilson 95% interval of the resolve rate.
    public var ci95Low: Double
    public var ci95High: Double
    public var verifiedClaims: Int
    public var falseVerified: Int
    /// Of the runs Ferry called `verified`, the share whose hidden tests fail.
    public var falseVerifiedRate: Double
    public var errors: Int
    public var tokensPerInstance: Double
    public var usdPerInstance: Double
    public var usdPerResolved: Double?
    public var tokensPerResolved: Double?
    public var medianWallSeconds: Double
    public var meanSteps: Double
    public var limitsHit: [String: Int]

    enum CodingKeys: String, CodingKey {
        case label, total, excluded, resolved
        case resolveRate = "resolve_rate"
        case ci95Low = "ci95_low"
        case ci95High = "ci95_high"
        case verifiedClaims = "verified_claims"
        case falseVerified = "false_verified"
        case falseVerifiedRate = "false_verified_rate"
        case errors
        case tokensPerInstance = "tokens_per_instance"
        case usdPerInstance = "usd_per_instance"
        case usdPerResolved = "usd_per_resolved"
        case tokensPerResolved = "tokens_per_resolved"
        case medianWallSeconds = "median_wall_seconds"
        case meanSteps = "mean_steps"
        case limitsHit = "limits_hit"
    }

    public init(label: String, results all: [InstanceResult]) {
        self.label = label
        let results = all.filter { $0.excluded == nil }
        excluded = all.count - results.count
        total = results.count
        resolved = results.filter(\.resolved).count
        resolveRate = total == 0 ? 0 : Double(resolved) / Double(total)
        (ci95Low, ci95High) = Self.wilson(successes: resolved, trials: total)
        verifiedClaims = results.filter { $0.status == "verified" }.count
        falseVerified = results.filter(\.falseVerified).count
        falseVerifiedRate = verifiedClaims == 0 ? 0 : Double(falseVerified) / Double(verifiedClaims)
        errors = results.filter { $0.error != nil }.count
        let tokens = results.reduce(0) { $0 + $1.inputTokens + $1.outputTokens }
        let cost = results.reduce(0) { $0 + $1.costUSD }
        tokensPerInstance = total == 0 ? 0 : Double(tokens) / Double(total)
        usdPerInstance = total == 0 ? 0 : cost / Double(total)
        usdPerResolved = resolved == 0 ? nil : cost / Double(resolved)
        tokensPerResolved = resolved == 0 ? nil : Double(tokens) / Double(resolved)
        let walls = results.map(\.wallSeconds).sorted()
        medianWallSeconds =
            walls.isEmpty
            ? 0
            : walls.count % 2 == 1 ? walls[walls.count / 2] : (walls[walls.count / 2 - 1] + walls[walls.count / 2]) / 2
        meanSteps = total == 0 ? 0 : Double(results.reduce(0) { $0 + $1.steps }) / Double(total)
        var limits: [String: Int] = [:]
        for result in results { if let limit = result.limit { limits[limit, default: 0] += 1 } }
        limitsHit = limits
    }

    /// The Wilson score interval at 95% (z = 1.96).
    public static func wilson(successes: Int, trials: Int, z: Double = 1.959964) -> (Double, Double) {
        guard trials > 0 else { return (0, 0) }
        let n = Double(trials)
        let p = Double(successes) / n
        let denominator = 1 + z * z / n
        let center = (p + z * z / (2 * n)) / denominator
        let half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()) / denominator
        return (max(0, center - half), min(1, center + half))
    }
}
