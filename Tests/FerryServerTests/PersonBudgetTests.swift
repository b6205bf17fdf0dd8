import FerryAgent
import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// Budgets per person and per group, beside the tenant's and the project's, on both stores: each counts exactly its
/// own spend, applies only to its own people, and refuses a task that would pass it.
@Suite struct PersonBudgetTests {
    @Test(arguments: QueueTests.Kind.allCases)
    func aPersonsAndAGroupsBudgetCountTheirOwnSpend(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let store = f.store
            let tenant = f.tenant.id
            let now = Date()
            func person(_ name: String) async throws -> Person {
                try await store.createPerson(
                    NewPerson(kind: .person, name: name, email: "\(name)@example.com", role: .member), tenantID: tenant,
                    now: now)
            }
            let (ada, bob, cy) = (try await person("ada"), try await person("bob"), try await person("cy"))
            let team = try await store.createGroup(
                name: "platform", externalID: nil, members: [ada.id, bob.id], tenantID: tenant, now: now)
            try await store.setBudget(tenantID: tenant, scope: .tenant, monthlyUSD: 100)
            try await store.setBudget(tenantID: tenant, scope: .person(ada.id), monthlyUSD: 2)
            try await store.setBudget(tenantID: tenant, scope: .group(team.id), monthlyUSD: 3)
            for (index, (who, usd)) in [(ada, 1.5), (bob, 1.0), (cy, 4.0), (ada, 0.25)].enumerated() {
                try await store.recordSpend(
                    SpendRecord(
                        tenantID: tenant, projectID: f.project.id, taskID: "task_\(index)", attempt: 1, step: 1,
                        model: "m", usage: Usage(inputTokens: 10, outputTokens: 5), usd: usd, at: now,
                        personID: who.id))
            }
            func spent(_ list: [BudgetStatus], _ scope: BudgetScope) -> Double? {
                list.first { $0.scope == scope }?.spentUSD
            }
            let forAda = try await store.budgets(tenantID: tenant, projectID: f.project.id, personID: ada.id, now: now)
            #expect(Set(forAda.map(\.scope)) == [.tenant, .person(ada.id), .group(team.id)])
            #expect(spent(forAda, .tenant) == 6.75 && spent(forAda, .person(ada.id)) == 1.75)
            #expect(spent(forAda, .group(team.id)) == 2.75)
            let forCy = try await store.budgets(tenantID: tenant, projectID: f.project.id, personID: cy.id, now: now)
            #expect(forCy.map(\.scope) == [.tenant], "another person's and a group's budgets do not apply to cy")
            let all = try await store.allBudgets(tenantID: tenant, now: now)
            #expect(all.count == 3)
            // Ada may start a task of at most $0.25 (her own budget is the tightest); bob is held by the group's.
            #expect(try BudgetPolicy.admit(maxCostUSD: nil, budgets: forAda) == 0.25)
            #expect(throws: BudgetPolicy.Refusal.self) { try BudgetPolicy.admit(maxCostUSD: 0.5, budgets: forAda) }
            let forBob = try await store.budgets(tenantID: tenant, projectID: f.project.id, personID: bob.id, now: now)
            #expect(try BudgetPolicy.admit(maxCostUSD: nil, budgets: forBob) == 0.25)
            // Spent up: a run of Ada's stops, naming her budget.
            try await store.recordSpend(
                SpendRecord(
                    tenantID: tenant, projectID: f.project.id, taskID: "task_9", attempt: 1, step: 1, model: "m",
                    usage: Usage(), usd: 0.25, at: now, personID: ada.id))
            let reason = BudgetPolicy.stopReason(
                budgets: try await store.budgets(
                    tenantID: tenant, projectID: f.project.id, personID: ada.id, now: now))
            #expect(reason?.contains("person \(ada.id)") == true || reason?.contains("group \(team.id)") == true)
            // Leaving the group takes its budget off her.
            _ = try await store.updateGroup(
                team.id, tenantID: tenant, name: nil, externalID: nil, members: MembersChange(remove: [ada.id]),
                now: now)
            let after = try await store.budgets(tenantID: tenant, projectID: f.project.id, personID: ada.id, now: now)
            #expect(!after.contains { $0.scope == .group(team.id) })
            try await store.setBudget(tenantID: tenant, scope: .person(ada.id), monthlyUSD: nil)
            #expect(try await store.allBudgets(tenantID: tenant, now: now).count == 2)
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func theAPIRefusesAPersonsTaskPastTheirBudgetAndNotAnothers(kind: QueueTests.Kind) async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-person-budget-\(UUID().uuidString.prefix(8))"
        ).path
        try await ServerAPITests.withServer(kind, data: data) { server in
            let admin = try #require(try await server.bootstrap())
            let tenant = try #require(try await server.store.tenant(named: "default"))
            _ = try await server.store.createProject(
                Project(
                    id: "prj_shop", tenantID: tenant.id, name: "shop", repo: "https://example.com/shop.git",
                    base: "main", model: nil, testCommand: nil, createdAt: Date()))
            func member(_ name: String) async throws -> (Person, String) {
                let person = try await server.store.createPerson(
                    NewPerson(kind: .person, name: name, email: "\(name)@example.com", role: .member),
                    tenantID: tenant.id, now: Date())
                let key = try await server.store.createKey(
                    NewKey(role: .member, ownerID: person.id), tenantID: tenant.id, now: Date()
                ).key
                return (person, key)
            }
            let (ada, adaKey) = try await member("ada")
            let (_, bobKey) = try await member("bob")
            try await server.serving { port in
                let client = ServerAPITests.Client(port: port)
                let set = try await client.send(
                    .PUT, "/v1/budgets/people/\(ada.id)", key: admin, body: ["monthly_usd": 1])
                #expect(set.status == 200 && set.json["scope"] == "person" && set.json["id"]?.stringValue == ada.id)
                #expect(
                    try await client.send(.PUT, "/v1/budgets/people/per_nope", key: admin, body: ["monthly_usd": 1])
                        .status == 404)
                #expect(
                    try await client.send(.PUT, "/v1/budgets/people/\(ada.id)", key: adaKey, body: ["monthly_usd": 9])
                        .status == 403)
                let big = try await client.send(
                    .POST, "/v1/tasks", key: adaKey, body: ["project": "shop", "task": "fix it", "max_cost": 5])
                #expect(big.status == 402 && big.json["scope"]?.stringValue == "person \(ada.id)", "\(big.body)")
                let small = try await client.send(
                    .POST, "/v1/tasks", key: adaKey,
                    body: ["project": "shop", "task": "fix it", "max_cost": .number(0.5)])
                #expect(small.status == 201, "\(small.body)")
                let id = try #require(small.json["id"]?.stringValue)
                let stored = try #require(try await server.store.task(id, tenantID: tenant.id))
                #expect(stored.personID == ada.id)
                let bob = try await client.send(
                    .POST, "/v1/tasks", key: bobKey, body: ["project": "shop", "task": "fix it", "max_cost": 5])
                #expect(bob.status == 201, "bob has no budget of his own")
                let listed = try await client.send(.GET, "/v1/budgets", key: adaKey)
                #expect(listed.json["data"].flatMap(\.items)?.contains { $0["scope"] == "person" } == true)
            }
        }
    }

    @Test func aThresholdIsCrossedOnceByTheCallThatPassesIt() {
        let budget = { (spent: Double) in BudgetStatus(scope: .person("per_1"), monthlyUSD: 10, spentUSD: spent) }
        #expect(BudgetPolicy.crossed(after: [budget(8.0)], usd: 0.5).count == 1, "7.5 → 8.0 reaches 80%")
        #expect(BudgetPolicy.crossed(after: [budget(8.5)], usd: 0.25).isEmpty, "already past before the call")
        #expect(BudgetPolicy.crossed(after: [budget(7.9)], usd: 0.5).isEmpty, "not yet")
        #expect(BudgetPolicy.crossed(after: [budget(12)], usd: 5).count == 1, "a call that jumps past the limit too")
        #expect(BudgetPolicy.crossed(after: [budget(8)], usd: 0).isEmpty)
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func aThresholdNoticeGoesToTheProjectsWebhookOncePerMonth(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let project = try await f.store.createProject(
                Project(
                    id: "prj_hooked", tenantID: f.tenant.id, name: "hooked", repo: "/tmp/hooked", base: "main",
                    model: nil, testCommand: nil, createdAt: Date(), webhookURL: "https://hooks.example.com/ferry",
                    webhookSecret: "sealed"))
            let (task, _) = try await f.store.createTask(
                NewTask(projectID: project.id, task: "t", personID: "per_1"), tenantID: f.tenant.id, now: Date())
            let budget = BudgetStatus(scope: .person("per_1"), monthlyUSD: 10, spentUSD: 8.2)
            let now = Date()
            for _ in 0..<2 {
                try await f.store.enqueueNotice(
                    id: Webhooks.thresholdID(budget, task: task, now: now), task: task,
                    payload: Webhooks.thresholdPayload(budget, task: task), now: now)
            }
            let deliveries = try await f.store.deliveries(taskID: task.id, tenantID: f.tenant.id)
            #expect(deliveries.count == 1)
            let first = try #require(deliveries.first)
            let payload = try #require(JSONValue.parse(first.0.payload))
            #expect(payload["event"] == "budget.threshold" && payload["budget"]?["scope"] == "person")
            #expect(payload["budget"]?["spent_usd"] == .number(8.2) && payload["task"]?["id"]?.stringValue == task.id)
            // A project without a webhook gets none.
            let (quiet, _) = try await f.store.createTask(
                NewTask(projectID: f.project.id, task: "t"), tenantID: f.tenant.id, now: Date())
            try await f.store.enqueueNotice(
                id: Webhooks.thresholdID(budget, task: quiet, now: now), task: quiet,
                payload: Webhooks.thresholdPayload(budget, task: quiet), now: now)
            #expect(try await f.store.deliveries(taskID: quiet.id, tenantID: f.tenant.id).isEmpty)
        }
    }

    /// A worker's run: the model call that takes a person's budget past 80% queues one `budget.threshold` notice for
    /// the project's webhook, beside the task's end; the run goes on while the budget lasts.
    @Test func aWorkersRunQueuesTheThresholdNoticeOnce() async throws {
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-threshold-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let ada = try await server.store.createPerson(
            NewPerson(kind: .person, name: "Ada", email: "ada@example.com", role: .member), tenantID: tenant.id,
            now: Date())
        let project = try await server.store.createProject(
            Project(
                id: "prj_calc", tenantID: tenant.id, name: "calc", repo: repo, base: "main", model: nil,
                testCommand: "python3 -m unittest", createdAt: Date(), webhookURL: "http://127.0.0.1:9/hook",
                webhookSecret: try server.secrets.seal("whsec_test")))
        // Five reads at $0.000072 a call: the budget's 80% ($0.000288) is passed by the fourth call.
        try await server.store.setBudget(tenantID: tenant.id, scope: .person(ada.id), monthlyUSD: 0.00036)
        var config = FerryConfig(dataDirectory: data + "/runs")
        config.firstAttempt = .off
        let frozen = config
        let reads: [FakeStep] = (1...5).map {
            .call("read_file", ["path": $0 % 2 == 0 ? "calc.py" : "test_calc.py", "start_line": .number(Double($0))])
        }
        try await FakeModelServer.with(.openai, script: reads) { fake in
            let (task, _) = try await server.store.createTask(
                NewTask(projectID: project.id, task: "fix add()", maxCostUSD: 1, personID: ada.id),
                tenantID: tenant.id, now: Date())
            let (worker, client) = fakeWorker(fake, server: server, config: frozen)
            let claimed = try #require(try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy()))
            #expect(claimed.id == task.id)
            await worker.execute(claimed)
            try await client.shutdown()
            let deliveries = try await server.store.deliveries(taskID: task.id, tenantID: tenant.id)
            let events = deliveries.compactMap { JSONValue.parse($0.0.payload)?["event"]?.stringValue }
            #expect(events.filter { $0 == "budget.threshold" }.count == 1, "\(events)")
            let notice = try #require(deliveries.first { $0.0.payload.contains("budget.threshold") })
            let payload = try #require(JSONValue.parse(notice.0.payload))
            #expect(payload["budget"]?["id"]?.stringValue == ada.id && payload["budget"]?["scope"] == "person")
            #expect((payload["budget"]?["spent_usd"]?.doubleValue ?? 0) >= 0.000288)
        }
    }
}
