/// What a run may spend and what it has spent: steps (model calls), tokens, dollars and time.
///
/// One budget goes from phase to phase (the whole-file attempt hands its budget to the tool loop), so `max_steps`,
/// `max_cost` and `max_time` hold for the run as a whole. The host can also halt it: a team's shared budget ran out.
public struct Budget: Sendable, Hashable {
    public let limits: AgentLimits
    public private(set) var steps = 0
    public private(set) var usage = Usage()
    public private(set) var costUSD = 0.0
    /// When the run's agent work started (the clock the driver passes in `now`); time limits count from here.
    public private(set) var startedAt = 0.0
    /// Set when the host stopped the run's spending.
    public private(set) var haltReason: String?
    /// How fast the model has gone in this run, for `admit`.
    public private(set) var pace = Pace()
    /// The last prompt sent: a server that keeps it reads only what follows what the next one shares with it.
    var lastPrompt: [ChatMessage] = []

    public init(limits: AgentLimits) {
        self.limits = limits
    }

    /// Whether the clock has started.
    public private(set) var started = false

    /// Starts the clock. Only the first phase's start counts; later phases go on with the same clock.
    public mutating func start(now: Double) {
        guard !started else { return }
        started = true
        startedAt = now
    }

    /// Counts one model call (a step) or, with `step: false`, a call that is not a step (compaction).
    /// `timings` are the server's own (llama.cpp's), when it reports them: they set the run's `pace`.
    public mutating func spend(_ usage: Usage, cost: Double, step: Bool = true, timings: JSONValue? = nil) {
        if step { steps += 1 }
        self.usage += usage
        costUSD += cost
        pace.observe(timings)
        // A step answers the last prompt admitted (compaction is not admitted, and is no step).
        if step, !lastPrompt.isEmpty {
            pace.calibrate(counted: usage.inputTokens, estimated: lastPrompt.reduce(0) { $0 + $1.estimatedTokens })
        }
    }

    /// Why the model call with `messages` may not be made now (`exhausted`, or too little time left for it at the
    /// run's pace); nil when it may, and then it is the last prompt.
    /// `reserve`: seconds that must stay free after the call (the attempt keeps time to judge a fix it holds).
    public mutating func admit(_ messages: [ChatMessage], now: Double, reserve: Double = 0) -> Exhausted? {
        if let exhausted = exhausted(now: now) { return exhausted }
        if let left = secondsLeft(now: now) {
            let fresh = Pace.freshTokens(messages, after: lastPrompt)
            if let least = pace.leastSeconds(freshTokens: fresh), least + reserve > left {
                return Exhausted(
                    reason:
                        "time limit of \(Int(limits.maxTimeSeconds ?? 0))s: \(Int(left.rounded())) s left, and the "
                        + "next model call needs about \(Int(least.rounded())) s (\(pace.counted(fresh)) prompt tokens "
                        + "to read at "
                        + "the \(Int((pace.secondsPerPromptToken ?? 0) * 1000)) ms a token this model has taken)"
                        + (reserve > 0
                            ? ", with \(Int(reserve.rounded())) s kept to judge the fix already written" : ""),
                    limit: .time)
            }
        }
        lastPrompt = messages
        return nil
    }

    /// The host stops the run: no further model call is made.
    public mutating func halt(_ reason: String) {
        if haltReason == nil { haltReason = reason }
    }

    /// Seconds left before the time limit, or nil when there is none. The one place "time left" is computed.
    public func secondsLeft(now: Double) -> Double? {
        limits.maxTimeSeconds.map { max(0, $0 - (now - startedAt)) }
    }

    /// Why the run may not make another model call now; nil when it may.
    public func exhausted(now: Double) -> Exhausted? {
        if let haltReason { return Exhausted(reason: haltReason, limit: .host) }
        if let maxTime = limits.maxTimeSeconds, now - startedAt >= maxTime { return timeUp }
        if steps >= limits.maxSteps {
            return Exhausted(reason: "step limit of \(limits.maxSteps) reached", limit: .steps)
        }
        if let maxCost = limits.maxCostUSD, costUSD >= maxCost { return costReached }
        return nil
    }

    /// The cost limit, checked right after a reply: a reply that crosses it ends the run at once.
    public var costReached: Exhausted? {
        guard let maxCost = limits.maxCostUSD, costUSD >= maxCost else { return nil }
        return Exhausted(reason: "cost limit of $\(maxCost) reached", limit: .cost)
    }

    public var timeUp: Exhausted {
        Exhausted(reason: "time limit of \(Int(limits.maxTimeSeconds ?? 0))s reached", limit: .time)
    }

    public struct Exhausted: Sendable, Hashable {
        public var reason: String
        public var limit: LimitKind
    }
}
