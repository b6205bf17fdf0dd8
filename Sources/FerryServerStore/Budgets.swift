import FerryCore
import Foundation

/// What a budget covers: the whole tenant, one project, one person (or service account), or one group of people.
public enum BudgetScope: Sendable, Hashable {
    case tenant
    case project(String)
    case person(String)
    case group(String)

    /// As stored (the budgets' `project_id` column): "" for the tenant, a project's id, `person:ID`, `group:ID`.
    public var stored: String {
        switch self {
        case .tenant: ""
        case .project(let id): id
        case .person(let id): "person:" + id
        case .group(let id): "group:" + id
        }
    }

    public init(stored: String) {
        if stored.isEmpty {
            self = .tenant
        } else if stored.hasPrefix("person:") {
            self = .person(String(stored.dropFirst(7)))
        } else if stored.hasPrefix("group:") {
            self = .group(String(stored.dropFirst(6)))
        } else {
            self = .project(stored)
        }
    }

    /// `tenant`, `project`, `person` or `group`.
    public var kind: String {
        switch self {
        case .tenant: "tenant"
        case .project: "project"
        case .person: "person"
        case .group: "group"
        }
    }

    /// The project's, person's or group's id; nil for the tenant.
    public var id: String? {
        switch self {
        case .tenant: nil
        case .project(let id), .person(let id), .group(let id): id
        }
    }
}

/// A monthly budget in USD, for a tenant, a project, a person or a group, and what has been spent against it this
/// month.
public struct BudgetStatus: Sendable, Hashable {
    public var scope: BudgetScope
    public var monthlyUSD: Double
    public var spentUSD: Double

    public init(scope: BudgetScope, monthlyUSD: Double, spentUSD: Double) {
        self.scope = scope
        self.monthlyUSD = monthlyUSD
        self.spentUSD = spentUSD
    }

    /// A tenant's (nil) or project's budget.
    public init(projectID: String?, monthlyUSD: Double, spentUSD: Double) {
        self.init(scope: projectID.map { .project($0) } ?? .tenant, monthlyUSD: monthlyUSD, spentUSD: spentUSD)
    }

    /// The project's id, for a project's budget.
    public var projectID: String? {
        if case .project(let id) = scope { return id }
        return nil
    }

    public var remainingUSD: Double { max(0, monthlyUSD - spentUSD) }
    var scopeName: String { scope.id.map { "\(scope.kind) \($0)" } ?? "tenant" }
}

/// The budget rules, pure. Budgets are enforced, not reported: a task that could take a month's spend past a
/// budget is refused at create, and a run stops when a budget is used up.
public enum BudgetPolicy {
    public struct Refusal: Error, Sendable, Hashable {
        public var budget: BudgetStatus
        public var requestedUSD: Double?
        public var message: String {
            let spent = String(format: "$%.2f of $%.2f", budget.spentUSD, budget.monthlyUSD)
            guard let requestedUSD else {
                return "the \(budget.scopeName)'s monthly budget is used up (\(spent) spent this month)"
            }
            return "a task that may cost $\(String(format: "%.2f", requestedUSD)) would take the \(budget.scopeName)'s "
                + "spend past its monthly budget (\(spent) spent this month)"
        }
    }

    /// The `max_cost` a new task runs with: its own, if every budget has room for it; without one, what is left of
    /// the tightest budget (a task under a budget always has a cap). Throws the refusal otherwise.
    public static func admit(maxCostUSD: Double?, budgets: [BudgetStatus]) throws -> Double? {
        guard let tightest = budgets.min(by: { $0.remainingUSD < $1.remainingUSD }) else { return maxCostUSD }
        if let maxCostUSD {
            if let over = budgets.first(where: { $0.spentUSD + maxCostUSD > $0.monthlyUSD + 1e-9 }) {
                throw Refusal(budget: over, requestedUSD: maxCostUSD)
            }
            return maxCostUSD
        }
        guard tightest.remainingUSD > 0 else { throw Refusal(budget: tightest, requestedUSD: nil) }
        return tightest.remainingUSD
    }

    /// Why a running task must stop spending now, if a budget is used up.
    public static func stopReason(budgets: [BudgetStatus]) -> String? {
        budgets.first { $0.spentUSD >= $0.monthlyUSD - 1e-9 }.map { Refusal(budget: $0, requestedUSD: nil).message }
    }

    /// The share of a budget at which its owners hear of it (`budget.threshold` on the project's webhook).
    public static let threshold = 0.8

    /// The budgets that a call costing `usd` took across `threshold` of their amount: below before it, at or above
    /// after (`after` counts the call).
    public static func crossed(after: [BudgetStatus], usd: Double, threshold: Double = threshold) -> [BudgetStatus] {
        after.filter { budget in
            let line = budget.monthlyUSD * threshold
            return usd > 0 && budget.spentUSD - usd < line - 1e-12 && budget.spentUSD >= line - 1e-12
        }
    }

    /// The first instant of `now`'s calendar month, in UTC.
    public static func monthStart(_ now: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: calendar.dateComponents([.year, .month], from: now))!
    }
}

/// The budgets' SQL, the same for both stores: this month's spend against a budget of any scope.
enum BudgetSQL {
    /// The spend a budget row `b` counts since the month's start (the first parameter).
    static let spent = """
        (SELECT COALESCE(SUM(s.usd), 0) FROM spend s WHERE s.tenant_id = b.tenant_id AND s.at >= SINCE
            AND (b.project_id = '' OR s.project_id = b.project_id
                OR (substr(b.project_id, 1, 7) = 'person:' AND s.person_id = substr(b.project_id, 8))
                OR (substr(b.project_id, 1, 6) = 'group:' AND s.person_id IN
                    (SELECT m.person_id FROM group_members m WHERE m.group_id = substr(b.project_id, 7)))))
        """
}
