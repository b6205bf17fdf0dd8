import FerryCore
import Foundation

/// A project's accuracy watch (issue 27): on a schedule and within a monthly budget, the server mines the project's
/// recent history into instances, runs them with the project's model, and keeps the results as an eval report.
public struct ProjectWatch: Sendable, Hashable {
    public var projectID: String
    public var tenantID: String
    public var everySeconds: Double
    public var monthlyUSD: Double
    public var maxInstances: Int
    /// How far back the history is mined.
    public var sinceDays: Int
    /// A profile or a cascade (`local>anthropic`); nil: the project's model.
    public var model: String?
    public var nextAt: Date
    /// Spent in the month that starts at `month`.
    public var spentUSD: Double
    public var month: Date
    public var lastRunAt: Date?
    public var lastEvalID: String?
    public var lastError: String?

    public init(
        projectID: String, tenantID: String, everySeconds: Double, monthlyUSD: Double, maxInstances: Int,
        sinceDays: Int, model: String?, nextAt: Date, spentUSD: Double = 0, month: Date = .distantPast,
        lastRunAt: Date? = nil, lastEvalID: String? = nil, lastError: String? = nil
    ) {
        self.projectID = projectID
        self.tenantID = tenantID
        self.everySeconds = everySeconds
        self.monthlyUSD = monthlyUSD
        self.maxInstances = maxInstances
        self.sinceDays = sinceDays
        self.model = model
        self.nextAt = nextAt
        self.spentUSD = spentUSD
        self.month = month
        self.lastRunAt = lastRunAt
        self.lastEvalID = lastEvalID
        self.lastError = lastError
    }
}

/// Watches on both back ends.
public protocol WatchStore: Sendable {
    func setWatch(_ watch: ProjectWatch) async throws
    func watch(projectID: String) async throws -> ProjectWatch?
    func deleteWatch(projectID: String) async throws
    /// A watch whose time has come, leased for `leaseSeconds` (two servers never run one watch at once).
    func claimWatch(now: Date, leaseSeconds: Double) async throws -> ProjectWatch?
    /// Stores a run's end (next time, spend, the eval, the error) and frees the lease.
    func recordWatch(_ watch: ProjectWatch) async throws
}
