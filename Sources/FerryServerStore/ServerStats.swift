import Foundation

/// What `/metrics` reports. Every figure is read from the database, so each API server reports the same and a restart
/// loses nothing; a task counts in a terminal status once, when it reaches it.
public struct ServerStats: Sendable, Hashable {
    public struct Spend: Sendable, Hashable {
        public var usd: Double
        public var inputTokens: Int
        public var outputTokens: Int
        public var calls: Int
    }

    public var tasksByState: [String: Int] = [:]
    public var spendByModel: [String: Spend] = [:]
    /// From a task being due (created, or its retry's backoff over) to a worker claiming it, per attempt.
    public var claimLatency = Histogram(bounds: Histogram.claimBounds)
    /// From claim to end, per attempt that ended, by how it ended (a task status, `lost` or `released`).
    public var runDuration: [String: Histogram] = [:]

    /// Prometheus' text format.
    public var prometheus: String {
        var lines = [
            "# HELP ferry_tasks Tasks by status (queued includes tasks waiting for a retry).",
            "# TYPE ferry_tasks gauge",
        ]
        var byStatus: [String: Int] = [:]
        for state in TaskState.allCases { byStatus[state.apiName, default: 0] += tasksByState[state.rawValue] ?? 0 }
        for (status, count) in byStatus.sorted(by: { $0.key < $1.key }) {
            lines.append("ferry_tasks{status=\"\(status)\"} \(count)")
        }
        lines += [
            "# HELP ferry_queue_depth Tasks waiting to be claimed.", "# TYPE ferry_queue_depth gauge",
            "ferry_queue_depth \(byStatus["queued"] ?? 0)",
        ]
        let models = spendByModel.sorted(by: { $0.key < $1.key }).map { (label: Self.escape($0.key), spend: $0.value) }
        lines += [
            "# HELP ferry_model_cost_usd_total USD spent on model calls.", "# TYPE ferry_model_cost_usd_total counter",
        ]
        lines += models.map { "ferry_model_cost_usd_total{model=\"\($0.label)\"} \($0.spend.usd)" }
        lines += [
            "# HELP ferry_model_tokens_total Tokens sent and received.", "# TYPE ferry_model_tokens_total counter",
        ]
        for (label, spend) in models {
            lines.append("ferry_model_tokens_total{model=\"\(label)\",direction=\"input\"} \(spend.inputTokens)")
            lines.append("ferry_model_tokens_total{model=\"\(label)\",direction=\"output\"} \(spend.outputTokens)")
        }
        lines += ["# HELP ferry_model_calls_total Model calls.", "# TYPE ferry_model_calls_total counter"]
        lines += models.map { "ferry_model_calls_total{model=\"\($0.label)\"} \($0.spend.calls)" }
        lines += [
            "# HELP ferry_claim_latency_seconds From a task being due to a worker claiming it, per attempt.",
            "# TYPE ferry_claim_latency_seconds histogram",
        ]
        lines += claimLatency.lines(name: "ferry_claim_latency_seconds", labels: "")
        lines += [
            "# HELP ferry_run_duration_seconds From claim to end, per attempt, by how it ended.",
            "# TYPE ferry_run_duration_seconds histogram",
        ]
        for (outcome, histogram) in runDuration.sorted(by: { $0.key < $1.key }) {
            lines += histogram.lines(name: "ferry_run_duration_seconds", labels: "outcome=\"\(Self.escape(outcome))\",")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A label value as the text format wants it.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// A Prometheus histogram computed by the database: cumulative counts at fixed upper bounds, the sum and the count.
public struct Histogram: Sendable, Hashable {
    public static let claimBounds: [Double] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
    public static let durationBounds: [Double] = [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200]

    public var bounds: [Double]
    /// `cumulative[i]` observations are at or under `bounds[i]`.
    public var cumulative: [Int]
    public var sum: Double = 0
    public var count: Int = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        cumulative = Array(repeating: 0, count: bounds.count)
    }

    /// The SQL columns that compute it over `value` (both stores' dialects): count, sum, then one per bound. The
    /// bounds are constants of this type, never input.
    static func columns(_ value: String, bounds: [Double]) -> String {
        (["COUNT(\(value))", "COALESCE(SUM(\(value)), 0)"]
            + bounds.map { "COALESCE(SUM(CASE WHEN \(value) <= \($0) THEN 1 ELSE 0 END), 0)" }).joined(separator: ", ")
    }

    /// Reads what `columns` computed, in order.
    init(bounds: [Double], count: Int, sum: Double, cumulative: [Int]) {
        self.bounds = bounds
        self.count = count
        self.sum = sum
        self.cumulative = cumulative
    }

    func lines(name: String, labels: String) -> [String] {
        zip(bounds, cumulative).map { "\(name)_bucket{\(labels)le=\"\(Self.format($0))\"} \($1)" }
            + [
                "\(name)_bucket{\(labels)le=\"+Inf\"} \(count)",
                "\(name)_sum\(labels.isEmpty ? "" : "{\(labels.dropLast())}") \(sum)",
                "\(name)_count\(labels.isEmpty ? "" : "{\(labels.dropLast())}") \(count)",
            ]
    }

    static func format(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }
}
