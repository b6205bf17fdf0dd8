import FerryCore
import FerryServer
import FerryServerStore
import Foundation
import Hummingbird

/// The admin page: projects (with webhooks and push), API keys, budgets and the audit log. Admin keys only.
extension Dashboard {
    func admin(_ request: Request) async throws -> Viewer {
        let viewer = try await signedIn(request)
        guard viewer.principal.role == .admin else {
            throw page(.forbidden, "Only an admin key can see the admin page.")
        }
        return viewer
    }

    func adminPage(_ request: Request, shownKey: String?, shownSecret: String? = nil) async throws -> Response {
        let viewer = try await admin(request)
        let tenant = viewer.principal.tenantID
        let projects = try await store.projects(tenantID: tenant)
        let keys = try await store.keys(tenantID: tenant)
        let people = try await store.people(tenantID: tenant)
        let groups = try await store.groups(tenantID: tenant)
        let owners = Dictionary(people.map { ($0.id, $0.name) }) { first, _ in first }
        let audit = try await store.auditLog(tenantID: tenant, limit: 100)
        var budgets: [[String: Any]] = []
        for status in try await store.budgets(tenantID: tenant, projectID: nil, now: Date()) {
            budgets.append(Self.budgetRow("Tenant", status))
        }
        return html(
            "admin",
            [
                "title": "Admin", "shownKey": shownKey as Any, "shownSecret": shownSecret as Any,
                "projects": projects.map { project -> [String: Any] in
                    [
                        "id": project.id, "name": project.name, "repo": project.repo, "base": project.base,
                        "model": project.model ?? "default", "testCommand": project.testCommand ?? "–",
                        "webhook": project.webhookURL ?? "–", "push": project.push,
                    ]
                },
                "keys": keys.map { key -> [String: Any] in
                    [
                        "id": key.id, "role": key.role.rawValue, "created": Self.time(key.createdAt) as Any,
                        "owner": owners[key.ownerID] ?? key.ownerID, "name": key.name,
                        "expires": Self.time(key.expiresAt) as Any,
                        "revoked": Self.time(key.revokedAt) as Any, "active": key.revokedAt == nil,
                        "self": key.id == viewer.principal.keyID,
                    ]
                },
                "audit": audit.map { entry -> [String: Any] in
                    [
                        "at": Self.time(entry.at) as Any, "key": entry.keyID, "action": entry.action,
                        "object": entry.object,
                        "detail": entry.detail, "remote": entry.remote ?? "–",
                    ]
                },
                "budgets": budgets,
                "projectOptions": projects.map { ["id": $0.id, "name": "project " + $0.name] }
                    + people.filter { $0.active }.map { ["id": "person:" + $0.id, "name": "person " + $0.name] }
                    + groups.map { ["id": "group:" + $0.id, "name": "group " + $0.name] },
            ], viewer: viewer)
    }

    func adminProject(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        let fields = try await form(request, viewer, admin: true)
        func field(_ name: String) -> String? {
            fields[name].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let name = field("name"), let repo = field("repo") else {
            throw page(.badRequest, "A project needs a name and a repository (a local path or a git URL).")
        }
        let project: Project
        do {
            project = try await ServerAPI(store: store, runStore: runStore, policy: policy, secrets: secrets)
                .addProject(
                    viewer.principal, name: name, repo: repo, base: field("base") ?? "main", model: field("model"),
                    testCommand: field("test_command"), webhook: field("webhook_url"), push: fields["push"] == "on",
                    remote: remote, surface: .dashboard)
        } catch let problem as Problem {
            throw page(problem.status, problem.detail)
        }
        let secret = project.webhookSecret
        return try await adminPage(request, shownKey: nil, shownSecret: secret)
    }

    func adminKey(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        let fields = try await form(request, viewer, admin: true)
        guard let role = fields["role"].flatMap(Role.init(rawValue:)) else { throw page(.badRequest, "Pick a role.") }
        let (id, key) = try await store.createKey(tenantID: viewer.principal.tenantID, role: role)
        try await ServerAPI(store: store, runStore: runStore).record(
            viewer.principal, "key.create", id, "role \(role.rawValue)", remote, surface: .dashboard)
        // Shown once, on this page only.
        return try await adminPage(request, shownKey: key)
    }

    func adminRevoke(_ request: Request, id: String, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        _ = try await form(request, viewer, admin: true)
        guard try await store.revokeKey(id: id, tenantID: viewer.principal.tenantID, now: Date()) else {
            throw page(.notFound, "No key \(id).")
        }
        try await ServerAPI(store: store, runStore: runStore).record(
            viewer.principal, "key.revoke", id, "", remote, surface: .dashboard)
        return Self.redirect("/admin")
    }

    func adminBudget(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await admin(request)
        let fields = try await form(request, viewer, admin: true)
        let text = (fields["monthly_usd"] ?? "").trimmingCharacters(in: .whitespaces)
        let amount = text.isEmpty ? nil : Double(text)
        if !text.isEmpty, !(amount.map { $0 >= 0 && $0.isFinite } ?? false) {
            throw page(.badRequest, "A budget is a number of USD, 0 or more (empty removes it).")
        }
        // "", a project's id, or person:ID / group:ID: the API's own check that the scope is the tenant's.
        let api = ServerAPI(store: store, runStore: runStore)
        let reference = fields["project"] ?? ""
        let scope: BudgetScope
        do {
            if reference.hasPrefix("person:") {
                scope = try await api.budgetScope("person", String(reference.dropFirst(7)), viewer.principal)
            } else if reference.hasPrefix("group:") {
                scope = try await api.budgetScope("group", String(reference.dropFirst(6)), viewer.principal)
            } else {
                scope = try await api.budgetScope("project", reference.isEmpty ? nil : reference, viewer.principal)
            }
        } catch let problem as Problem {
            throw page(problem.status, problem.detail)
        }
        try await store.setBudget(tenantID: viewer.principal.tenantID, scope: scope, monthlyUSD: amount)
        try await api.record(
            viewer.principal, "budget.set", scope.id ?? "tenant",
            "\(scope.kind): " + (amount.map { String(format: "%.2f USD", $0) } ?? "removed"), remote,
            surface: .dashboard)
        return Self.redirect("/spend")
    }
}
