import FerryCore
import FerryServer
import FerryServerStore
import Foundation
import Hummingbird

/// Spend and the admin page.
extension Dashboard {
    func addOtherRoutes(to router: Router<ServerContext>) {
        router.get("/spend") { request, _ in try await handle { try await spendPage(request) } }
        router.get("/admin") { request, _ in try await handle { try await adminPage(request, shownKey: nil) } }
        router.post("/admin/projects") { request, context in
            try await handle { try await adminProject(request, remote: context.remote) }
        }
        router.post("/admin/keys") { request, context in
            try await handle { try await adminKey(request, remote: context.remote) }
        }
        router.post("/admin/keys/:id/revoke") { request, context in
            try await handle {
                try await adminRevoke(request, id: context.parameters.get("id") ?? "", remote: context.remote)
            }
        }
        router.post("/admin/budgets") { request, context in
            try await handle { try await adminBudget(request, remote: context.remote) }
        }
    }

    static func monthStart(_ now: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: calendar.dateComponents([.year, .month], from: now)) ?? now
    }

    func spendPage(_ request: Request) async throws -> Response {
        let viewer = try await signedIn(request)
        let tenant = viewer.principal.tenantID
        let now = Date()
        let start = Self.monthStart(now)
        let projects = try await store.projects(tenantID: tenant)
        let names = Dictionary(projects.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let rows = try await store.spendByDay(tenantID: tenant, since: start)
        let total = rows.reduce(0) { $0 + $1.usd }
        func grouped(_ key: (SpendRow) -> String) -> [(label: String, value: Double)] {
            Dictionary(grouping: rows, by: key).map { ($0.key, $0.value.reduce(0) { $0 + $1.usd }) }.sorted {
                $0.label < $1.label
            }
        }
        // Every day of the month so far, spent or not.
        var days: [(label: String, value: Double)] = []
        let byDay = Dictionary(grouped(\.day).map { ($0.label, $0.value) }, uniquingKeysWith: +)
        var day = start
        while day <= now {
            let label = String(Date.ISO8601FormatStyle().format(day).prefix(10))
            days.append((label, byDay[label] ?? 0))
            day = day.addingTimeInterval(86_400)
        }
        let byModel = grouped(\.model)
        let byProject = grouped { names[$0.projectID] ?? $0.projectID }
        let (budgets, byPerson, byGroup) = try await spendByWho(viewer, projects: names, now: now)
        let counts = try await store.taskCounts(tenantID: tenant, since: start)
        let verified = counts[TaskState.verified.rawValue] ?? 0
        let table = { (data: [(label: String, value: Double)]) in
            data.map { ["label": $0.label, "usd": Self.money($0.value)] }
        }
        return html(
            "spend",
            [
                "title": "Spend", "month": String(Date.ISO8601FormatStyle().format(start).prefix(7)),
                "total": Self.money(total),
                "budgets": budgets, "hasBudgets": !budgets.isEmpty, "verified": verified,
                "perVerified": verified > 0 ? Self.money(total / Double(verified)) : "–",
                "dayChart": Charts.bars(days, label: "USD spent per day this month", dates: true, format: Self.money),
                "modelChart": Charts.bars(byModel, label: "USD spent per model this month", format: Self.money),
                "projectChart": Charts.bars(byProject, label: "USD spent per project this month", format: Self.money),
                "models": table(byModel), "projectsSpend": table(byProject), "calls": rows.reduce(0) { $0 + $1.calls },
                "people": table(byPerson), "groupsSpend": table(byGroup), "hasPeople": !byPerson.isEmpty,
            ], viewer: viewer)
    }

    /// Every budget with its name, and (for admins) this month's spend by person and by group.
    func spendByWho(_ viewer: Viewer, projects names: [String: String], now: Date) async throws -> (
        budgets: [[String: Any]], byPerson: [(label: String, value: Double)], byGroup: [(label: String, value: Double)]
    ) {
        let tenant = viewer.principal.tenantID
        let people = try await store.people(tenantID: tenant)
        let groups = try await store.groups(tenantID: tenant)
        let personNames = Dictionary(people.map { ($0.id, $0.name) }) { first, _ in first }
        func label(_ scope: BudgetScope) -> String {
            switch scope {
            case .tenant: "Tenant"
            case .project(let id): "Project \(names[id] ?? id)"
            case .person(let id): "Person \(personNames[id] ?? id)"
            case .group(let id): "Group \(groups.first { $0.id == id }?.name ?? id)"
            }
        }
        let budgets = try await store.allBudgets(tenantID: tenant, now: now).map { Self.budgetRow(label($0.scope), $0) }
        // Who spent what, for admins: by person and by group (a group's members together).
        var byPerson: [(label: String, value: Double)] = []
        var byGroup: [(label: String, value: Double)] = []
        if viewer.principal.role == .admin {
            let spend = try await store.spendByPerson(tenantID: tenant, now: now)
            byPerson = spend.map { (personNames[$0.key] ?? $0.key, $0.value) }.sorted { $0.value > $1.value }
            byGroup = groups.map { group in (group.name, group.members.reduce(0) { $0 + (spend[$1] ?? 0) }) }
                .filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        }
        return (budgets, byPerson, byGroup)
    }

    static func budgetRow(_ scope: String, _ status: BudgetStatus) -> [String: Any] {
        let used = status.monthlyUSD > 0 ? min(1, status.spentUSD / status.monthlyUSD) : 1
        return [
            "scope": scope, "budget": money(status.monthlyUSD), "spent": money(status.spentUSD),
            "left": money(max(0, status.monthlyUSD - status.spentUSD)), "percent": Int((used * 100).rounded()),
            "over": status.spentUSD >= status.monthlyUSD,
        ]
    }
}
