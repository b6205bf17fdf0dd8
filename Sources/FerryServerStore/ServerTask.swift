import FerryCore
import Foundation

/// A task's place in the queue. `retryable` is a task whose attempt was lost (its worker died or its lease ran out)
/// and that waits for its backoff before it may be claimed again; the API shows it as `queued`.
public enum TaskState: String, Codable, Sendable, CaseIterable {
    case queued, running, retryable, verified, unverified, failed, limit, cancelled

    public var isTerminal: Bool { ![.queued, .running, .retryable].contains(self) }

    /// The state a finished run leaves its task in.
    public init(_ status: RunStatus) {
        switch status {
        case .verified: self = .verified
        case .unverified: self = .unverified
        case .limit: self = .limit
        case .interrupted: self = .cancelled
        case .failed, .running: self = .failed
        }
    }

    /// What the API reports.
    public var apiName: String { self == .retryable ? "queued" : rawValue }
}

/// One task of the team server: what was asked, and where it is in the queue.
public struct ServerTask: Codable, Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var projectID: String
    public var task: String
    public var base: String?
    /// The model profile, resolved by the worker through its own config.
    public var model: String?
    public var maxCostUSD: Double?
    public var state: TaskState
    /// Attempts started so far; a worker may finish only the attempt it holds.
    public var attempt: Int
    public var maxAttempts: Int
    public var priority: Int
    public var scheduledAt: Date
    public var attemptedBy: String?
    public var leaseUntil: Date?
    public var idempotencyKey: String?
    /// Why earlier attempts ended without a result, one line each.
    public var errors: [String]
    public var cancelRequested: Bool
    public var runID: String?
    public var branch: String?
    public var commitSHA: String?
    public var reason: String?
    public var costUSD: Double
    public var createdAt: Date
    public var finishedAt: Date?
    /// The finished attempt's change as a patch, kept with the task so any API server can serve it.
    public var diff: String?
    /// Where the result branch was pushed (`<remote> <branch>`), when the project asks for it.
    public var pushedTo: String?
    /// The API key that created it.
    public var createdBy: String? = nil
    /// The task this one retries.
    public var retryOf: String? = nil
    /// The finished attempt's model calls and wall time.
    public var steps: Int = 0
    public var wallSeconds: Double? = nil
    /// The person or service account it is for (its creator key's owner): its spend counts against their budgets.
    public var personID: String? = nil
}

/// What a finished attempt hands back to the queue.
public struct TaskOutcome: Sendable, Hashable {
    public var state: TaskState
    public var reason: String
    public var runID: String?
    public var branch: String?
    public var commitSHA: String?
    public var costUSD: Double
    public var diff: String?
    public var pushedTo: String?
    public var steps: Int
    public var wallSeconds: Double?

    public init(
        state: TaskState, reason: String, runID: String?, branch: String?, commitSHA: String?, costUSD: Double,
        diff: String? = nil, pushedTo: String? = nil, steps: Int = 0, wallSeconds: Double? = nil
    ) {
        self.pushedTo = pushedTo
        self.steps = steps
        self.wallSeconds = wallSeconds
        self.state = state
        self.reason = reason
        self.runID = runID
        self.branch = branch
        self.commitSHA = commitSHA
        self.costUSD = costUSD
        self.diff = diff
    }
}
