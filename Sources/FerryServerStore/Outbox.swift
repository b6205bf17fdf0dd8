import Crypto
import FerryCore
import Foundation

/// A webhook call waiting in the outbox. The row is written in the same transaction as the task's end, so no end
/// goes unannounced; the dispatcher delivers it at least once.
public struct Delivery: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var taskID: String
    public var url: String
    /// Sealed (`SecretBox`) when the server has a key.
    public var secret: String
    public var payload: String
    public var state: String
    public var attempts: Int
    public var lastStatus: Int?
    public var lastError: String?
}

/// One try at a delivery, as recorded.
public struct DeliveryAttempt: Sendable, Hashable {
    public var attempt: Int
    public var status: Int?
    public var error: String?
    public var at: Date
}

public enum Webhooks {
    /// The body sent when a task ends.
    public static func payload(_ task: ServerTask) -> String {
        let body: JSONValue = [
            "event": "task.finished",
            "task": [
                "id": .string(task.id), "project": .string(task.projectID), "status": .string(task.state.apiName),
                "branch": task.branch.map { .string($0) } ?? .null,
                "commit": task.commitSHA.map { .string($0) } ?? .null,
                "cost_usd": .number(task.costUSD), "attempt": .number(Double(task.attempt)),
                "reason": task.reason.map { .string($0) } ?? .null,
                "wall_seconds": task.finishedAt.map { .number($0.timeIntervalSince(task.createdAt)) } ?? .null,
            ],
        ]
        return body.jsonString
    }

    /// The body sent when a task's spend takes a budget past `BudgetPolicy.threshold` of its amount.
    public static func thresholdPayload(_ budget: BudgetStatus, task: ServerTask) -> String {
        let body: JSONValue = [
            "event": "budget.threshold",
            "budget": [
                "scope": .string(budget.scope.kind), "id": budget.scope.id.map { .string($0) } ?? .null,
                "monthly_usd": .number(budget.monthlyUSD), "spent_usd": .number(budget.spentUSD),
                "threshold": .number(BudgetPolicy.threshold),
            ],
            "task": ["id": .string(task.id), "project": .string(task.projectID)],
        ]
        return body.jsonString
    }

    /// One notice per budget, project and month, whatever the number of calls or attempts that cross it.
    public static func thresholdID(_ budget: BudgetStatus, task: ServerTask, now: Date) -> String {
        let month = Int(BudgetPolicy.monthStart(now).timeIntervalSince1970)
        let key = "\(task.tenantID)|\(budget.scope.stored)|\(task.projectID)|\(month)"
        return "dlv_thr_" + String(ServerIDs.hash(key).prefix(20))
    }

    /// `sha256=` and the hex HMAC-SHA256 of the body under the project's secret (GitHub's scheme).
    public static func signature(_ body: String, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public static func newSecret() -> String {
        ServerIDs.secret("whsec_")
    }
}
