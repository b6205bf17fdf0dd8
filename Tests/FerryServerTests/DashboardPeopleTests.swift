import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The dashboard's people and audit pages over real HTTP: an admin adds a person, sets their budget, deactivates
/// them (their key stops), and finds each step in the audit trail, with the chain's check on the page.
@Suite struct DashboardPeopleTests {
    @Test func anAdminManagesPeopleAndSearchesTheAuditTrail() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-dash-people-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let viewer = try await server.store.createKey(tenantID: tenant.id, role: .viewer).key
        try await server.serving { port in
            let base = "http://127.0.0.1:\(port)"
            func signIn(_ key: String) async throws -> String {
                let login = try await DashboardTests.send(.POST, base + "/login", form: "key=\(key)")
                return String(try #require(login.cookie).split(separator: ";")[0])
            }
            let cookie = try await signIn(admin)
            let page = try await DashboardTests.send(.GET, base + "/people", cookie: cookie)
            #expect(page.status == 200 && page.body.contains("built-in"), "\(page.body.prefix(300))")
            let csrf = DashboardTests.csrf(page.body)
            let added = try await DashboardTests.send(
                .POST, base + "/people", cookie: cookie,
                form: "csrf=\(csrf)&name=Ada+Lovelace&email=ada%40example.com&kind=person&role=member")
            #expect(added.status == 303 && added.location == "/people")
            let ada = try #require(
                try await server.store.person(externalID: nil, email: "ada@example.com", tenantID: tenant.id))
            let key = try await server.store.createKey(
                NewKey(role: .member, ownerID: ada.id, name: "laptop"), tenantID: tenant.id, now: Date()
            ).key
            // Her budget, set from the admin page's form.
            let budget = try await DashboardTests.send(
                .POST, base + "/admin/budgets", cookie: cookie,
                form: "csrf=\(csrf)&project=person%3A\(ada.id)&monthly_usd=7")
            #expect(budget.status == 303)
            #expect(
                try await server.store.allBudgets(tenantID: tenant.id, now: Date()).contains {
                    $0.scope == .person(ada.id) && $0.monthlyUSD == 7
                })
            try await server.store.recordSpend(
                SpendRecord(
                    tenantID: tenant.id, projectID: "prj_x", taskID: "task_x", attempt: 1, step: 1, model: "m",
                    usage: Usage(), usd: 1.25, at: Date(), personID: ada.id))
            let spend = try await DashboardTests.send(.GET, base + "/spend", cookie: cookie)
            #expect(spend.body.contains("By person") && spend.body.contains("Person Ada Lovelace"), "\(spend.body)")
            #expect(spend.body.contains("<td>Ada Lovelace</td><td class=\"num\">$1.25</td>"))
            let listed = try await DashboardTests.send(.GET, base + "/people", cookie: cookie)
            #expect(listed.body.contains("Ada Lovelace") && listed.body.contains("$1.25 of $7.00"), "\(listed.body)")
            // Deactivated from the page: her key stops.
            let off = try await DashboardTests.send(
                .POST, base + "/people/\(ada.id)/active", cookie: cookie, form: "csrf=\(csrf)&active=0")
            #expect(off.status == 303)
            #expect(try await server.store.authenticate(key) == nil)
            #expect(try await DashboardTests.send(.GET, base + "/people", cookie: cookie).body.contains("deactivated"))
            // The audit page finds each step, and says the chain is intact.
            let audit = try await DashboardTests.send(
                .GET, base + "/audit?action=person.&surface=dashboard", cookie: cookie)
            #expect(audit.status == 200 && audit.body.contains("The chain is intact"), "\(audit.body.prefix(500))")
            #expect(audit.body.contains("person.create") && audit.body.contains("deactivated"))
            #expect(!audit.body.contains("budget.set"), "the filter narrows")
            let budgets = try await DashboardTests.send(.GET, base + "/audit?action=budget.set", cookie: cookie)
            #expect(budgets.body.contains("person: 7.00 USD"))
            // Not for a viewer.
            let viewerCookie = try await signIn(viewer)
            #expect(try await DashboardTests.send(.GET, base + "/people", cookie: viewerCookie).status == 403)
            #expect(try await DashboardTests.send(.GET, base + "/audit", cookie: viewerCookie).status == 403)
        }
    }
}
