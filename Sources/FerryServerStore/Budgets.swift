import FerryCore
import Foundation

/// A monthly budget in USD, for a tenant or one of its projects, and what has been spent against it this month.
public struct BudgetStatus: Sendable, Hashable {
    /// nil: the tenant's own budget.
    public var projectID: String?
    public var monthlyUSD: Double
    public var spentUSD: Double

    public init(projectID: String?, monthlyUSD: Double, spentUSD: Double) {
        self.projectID = projectID
        self.monthlyUSD = monthlyUSD
        self.spentUSD = spentUSD
    }

    public var remainingUSD: Double { max(0, monthlyUSD - spentUSD) }
    var scope: String { projectID.map { "project \($0)" } ?? "tenant" }
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
                return "the \(budget.scope)'s monthly budget is used up (\(spent) spent this month)"
            }
            return "a task that may cost $\(String(format: "%.2f", requestedUSD)) would take the \(budget.scope)'s "
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

    /// The first instant of `now`'s calendar month, in UTC.
    public static func monthStart(_ now: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: calendar.dateComponents([.year, .month], from: now))!
    }
}
