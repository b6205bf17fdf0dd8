import FerryCore
import FerryServer
import FerryServerStore
import Foundation
import Hummingbird

/// `/people` (people, service accounts and groups, with their spend and budgets) and `/audit` (the audit trail,
/// searched, with the chain's check). Admins only.
extension Dashboard {
    func addPeopleRoutes(to router: Router<ServerContext>) {
        router.get("/people") { request, _ in try await handle { try await peoplePage(request) } }
        router.post("/people") { request, context in
            try await handle { try await addPerson(request, remote: context.remote) }
        }
        router.post("/people/:id/active") { request, context in
            try await handle {
                try await setActive(request, id: context.parameters.get("id") ?? "", remote: context.remote)
            }
        }
        router.get("/audit") { request, _ in try await handle { try await auditPage(request) } }
    }

    func peoplePage(_ request: Request) async throws -> Response {
        let viewer = try await admin(request)
        let tenant = viewer.principal.tenantID
        let people = try await store.people(tenantID: tenant)
        let groups = try await store.groups(tenantID: tenant)
        let keys = try await store.keys(tenantID: tenant)
        let budgets = try await store.allBudgets(tenantID: tenant, now: Date())
        let names = Dictionary(people.map { ($0.id, $0.name) }) { first, _ in first }
        let spend = try await store.spendByPerson(tenantID: tenant, now: Date())
        func budget(_ scope: BudgetScope) -> String? {
            budgets.first { $0.scope == scope }.map { Self.money($0.monthlyUSD) }
        }
        return html(
            "people",
            [
                "title": "People",
                "people": people.map { person -> [String: Any] in
                    [
                        "id": person.id, "name": person.name, "kind": person.kind.rawValue,
                        "email": person.email ?? "–", "role": person.role.rawValue, "active": person.active,
                        "groups": groups.filter { $0.members.contains(person.id) }.map(\.name).joined(separator: ", "),
                        "keys": keys.filter { $0.ownerID == person.id && $0.revokedAt == nil }.count,
                        "spent": Self.money(spend[person.id] ?? 0), "budget": budget(.person(person.id)) as Any,
                        "builtIn": person.id == Person.builtInID(tenantID: tenant),
                        "self": person.id == viewer.principal.personID,
                    ]
                },
                "groups": groups.map { group -> [String: Any] in
                    [
                        "name": group.name,
                        "members": group.members.compactMap { names[$0] }.joined(separator: ", "),
                        "spent": Self.money(group.members.reduce(0) { $0 + (spend[$1] ?? 0) }),
                        "budget": budget(.group(group.id)) as Any,
                    ]
                },
            ], viewer: viewer)
    }

    func addPerson(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        let fields = try await form(request, viewer, admin: true)
        let name = (fields["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let email = (fields["email"] ?? "").trimmingCharacters(in: .whitespaces)
        let kind = AccountKind(rawValue: fields["kind"] ?? "") ?? .person
        guard !name.isEmpty, kind == .service || email.contains("@"),
            let role = Role(rawValue: fields["role"] ?? "")
        else {
            throw page(.badRequest, "A person needs a name, an email and a role; a service account a name and a role.")
        }
        do {
            let person = try await store.createPerson(
                NewPerson(kind: kind, name: name, email: email.isEmpty ? nil : email, role: role),
                tenantID: viewer.principal.tenantID, now: Date())
            try await ServerAPI(store: store, runStore: runStore).record(
                viewer.principal, "\(kind.rawValue).create", person.id, "\(name), role \(role.rawValue)", remote,
                surface: .dashboard)
        } catch let error as FerryError where error.code == .usage {
            throw page(.conflict, error.message)
        }
        return Self.redirect("/people")
    }

    func setActive(_ request: Request, id: String, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        let fields = try await form(request, viewer, admin: true)
        let active = fields["active"] == "1"
        let tenant = viewer.principal.tenantID
        guard id != Person.builtInID(tenantID: tenant), id != viewer.principal.personID else {
            throw page(.conflict, "The built-in account and your own cannot be deactivated here.")
        }
        guard try await store.updatePerson(id, tenantID: tenant, PersonChange(active: active), now: Date()) != nil
        else { throw page(.notFound, "No such person.") }
        try await ServerAPI(store: store, runStore: runStore).record(
            viewer.principal, "person.update", id, active ? "reactivated" : "deactivated", remote, surface: .dashboard)
        return Self.redirect("/people")
    }

    func auditPage(_ request: Request) async throws -> Response {
        let viewer = try await admin(request)
        let tenant = viewer.principal.tenantID
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? {
            query.get(name).map { String($0).trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let filter = AuditFilter(
            action: value("action"), personID: value("person"), object: value("object"),
            surface: value("surface").flatMap(Surface.init(rawValue:)), before: value("cursor").flatMap { Int($0) })
        let entries = try await store.auditLog(tenantID: tenant, filter: filter, limit: 100)
        let people = try await store.people(tenantID: tenant)
        let names = Dictionary(people.map { ($0.id, $0.name) }) { first, _ in first }
        let (report, _) = try await ServerAPI.checkChain(store, tenantID: tenant)
        var older: String?
        if entries.count == 100, let last = entries.last {
            var items = URLComponents()
            items.queryItems =
                ["action", "person", "object", "surface"].compactMap { name in
                    value(name).map { URLQueryItem(name: name, value: $0) }
                } + [URLQueryItem(name: "cursor", value: String(last.seq))]
            older = "/audit?" + (items.percentEncodedQuery ?? "")
        }
        return html(
            "audit",
            [
                "title": "Audit trail", "action": value("action") ?? "", "object": value("object") ?? "",
                "intact": report.intact,
                "chain": report.intact
                    ? "The chain is intact: \(report.entries) entries, the last #\(report.lastSeq)."
                    : "The chain is broken: " + report.breaks.prefix(3).map(\.description).joined(separator: "; "),
                "personOptions": people.map {
                    ["id": $0.id, "name": $0.name, "selected": $0.id == value("person")] as [String: Any]
                },
                "surfaceOptions": Surface.allCases.map {
                    ["name": $0.rawValue, "selected": $0.rawValue == value("surface")] as [String: Any]
                },
                "entries": entries.map { entry -> [String: Any] in
                    [
                        "seq": entry.seq, "at": Self.time(entry.at) as Any,
                        "who": entry.personID.flatMap { names[$0] } ?? (entry.surface == .system ? "Ferry" : "–"),
                        "key": entry.keyID, "surface": entry.surface.rawValue, "action": entry.action,
                        "object": entry.object, "detail": entry.detail, "remote": entry.remote ?? "–",
                    ]
                },
                "older": older as Any,
            ], viewer: viewer)
    }
}
