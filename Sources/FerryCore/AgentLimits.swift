/// The limits of one run. Everything has a default.
public struct AgentLimits: Codable, Hashable, Sendable {
    public var maxSteps: Int
    public var maxCostUSD: Double?
    public var maxTimeSeconds: Double?
    /// How many malformed replies in a row stop the run.
    public var maxMalformedReplies: Int
    /// How many times a failing verification goes back to the model.
    public var repairRounds: Int

    public init(
        maxSteps: Int = 40, maxCostUSD: Double? = nil, maxTimeSeconds: Double? = nil, maxMalformedReplies: Int = 3,
        repairRounds: Int = 2
    ) {
        self.maxSteps = maxSteps
        self.maxCostUSD = maxCostUSD
        self.maxTimeSeconds = maxTimeSeconds
        self.maxMalformedReplies = maxMalformedReplies
        self.repairRounds = repairRounds
    }

}
