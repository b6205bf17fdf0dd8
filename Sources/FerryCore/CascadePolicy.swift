import Foundation

/// A cascade of models under one budget (`[agent] cascade = ["local", "strong"]`), pure: the first profile tries; a
/// change it cannot prove goes to the next, which starts from what the earlier one learned. Every stage spends from
/// the run's one budget (steps, dollars, seconds); a stage that is not the last gets at most half of what is left, so
/// a cheap model that flounders cannot leave nothing for the strong one.
public enum CascadePolicy {
    /// What a stage used.
    public struct Spent: Sendable, Hashable {
        public var steps: Int
        public var costUSD: Double
        public var seconds: Double

        public init(steps: Int, costUSD: Double, seconds: Double) {
            self.steps = steps
            self.costUSD = costUSD
            self.seconds = seconds
        }
    }

    /// The fewest steps a stage is started with (a stage with fewer cannot read, change and finish).
    public static let minimumSteps = 3

    /// The limits stage `index` (0-based) of `count` runs under, after `spent` (all earlier stages together); nil when
    /// nothing useful is left.
    public static func limits(stage index: Int, of count: Int, total: AgentLimits, spent: Spent) -> AgentLimits? {
        var limits = total
        let last = index == count - 1
        let steps = total.maxSteps - spent.steps
        limits.maxSteps = last ? steps : max(min(steps, minimumSteps), steps / 2)
        guard limits.maxSteps >= minimumSteps else { return nil }
        if let cost = total.maxCostUSD {
            let left = cost - spent.costUSD
            guard left > 0 else { return nil }
            limits.maxCostUSD = last ? left : left / 2
        }
        if let time = total.maxTimeSeconds {
            let left = time - spent.seconds
            guard left > 0 else { return nil }
            limits.maxTimeSeconds = last ? left : left / 2
        }
        return limits
    }

    /// Whether the next profile runs after a stage that ended `status`: not after a proved change, nor after an
    /// interruption (the person asked to stop) or the host's halt (a budget it enforces). A stage's own limit (its
    /// share of steps, money or time) passes the rest to the next; `limits` says whether anything is left.
    public static func goesOn(after status: RunStatus, limit: String?) -> Bool {
        switch status {
        case .verified, .interrupted, .running: return false
        case .limit: return limit != "host"
        case .unverified, .failed: return true
        }
    }

    /// Whether a list of profiles makes a cascade: 2 to 4, all different, none empty.
    public static func valid(_ names: [String]) -> Bool {
        (2...4).contains(names.count) && !names.contains(where: \.isEmpty) && Set(names).count == names.count
    }

    /// The profiles a model choice names: `local>anthropic` is a cascade (2 to 4 different profiles, tried in that
    /// order), a single name is not (empty). Nil when it is malformed.
    public static func stages(_ choice: String) -> [String]? {
        guard choice.contains(">") else { return [] }
        let names = choice.split(separator: ">", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return valid(names) ? names : nil
    }

    /// Which stage's change the run hands back: the proved one; else the last that made a change; else the last.
    public static func chosen(_ stages: [(status: RunStatus, hasChange: Bool)]) -> Int {
        if let proved = stages.lastIndex(where: { $0.status == .verified }) { return proved }
        if let changed = stages.lastIndex(where: { $0.hasChange }) { return changed }
        return max(0, stages.count - 1)
    }
}
