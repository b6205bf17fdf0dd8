import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

/// Budgets are enforced, not reported: refused at create, stopped mid-run, spend counted once per call.
@Suite struct BudgetTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15

    @Test func admissionGivesEveryTaskUnderABudgetACap() throws {
        #expect(try BudgetPolicy.admit(maxCostUSD: nil, budgets: []) == nil)
        #expect(try BudgetPolicy.admit(maxCostUSD: 2, budgets: []) == 2)
        let tenant = BudgetStatus(projectID: nil, monthlyUSD: 10, spentUSD: 7)
        let project = BudgetStatus(projectID: "prj", monthlyUSD: 5, spentUSD: 4)
        #expect(try BudgetPolicy.admit(maxCostUSD: 1, budgets: [tenant, project]) == 1)
        #expect(try BudgetPolicy.admit(maxCostUSD: nil, budgets: [tenant, project]) == 1)
        do {
            _ = try BudgetPolicy.admit(maxCostUSD: 2, budgets: [tenant, project])
            Issue.record("expected a refusal")
        } catch let refusal as BudgetPolicy.Refusal {
            #expect(refusal.budget == project)
            #expect(
                refusal.message
                    == "a task that may cost $2.00 would take the project prj's spend past its monthly budget ($4.00 of $5.00 spent this month)"
            )
        }
        #expect(throws: BudgetPolicy.Refusal.self) {
            try BudgetPolicy.admit(maxCostUSD: nil, budgets: [BudgetStatus(projectID: nil, monthlyUSD: 3, spentUSD: 3)])
        }
        #expect(BudgetPolicy.stopReason(budgets: [tenant, project]) == nil)
        #expect(
            BudgetPolicy.stopReason(budgets: [BudgetStatus(projectID: nil, monthlyUSD: 1, spentUSD: 1.2)])?
                .contains("the tenant's monthly budget is used up") == true)
        #expect(BudgetPolicy.monthStart(Self.t0) == Date(timeIntervalSince1970: 1_798_761_600))  // 2027-01-01 UTC
    }

    @Test(arguments: QueueTests.Kind.allCases) func spendIsCountedOncePerCallAndPerMonth(kind: QueueTests.Kind)
        async throws
    {
        try await QueueTests.withFixture(kind) { f in
            try await f.store.setBudget(tenantID: f.tenant.id, projectID: nil, monthlyUSD: 10)
            try await f.store.setBudget(tenantID: f.tenant.id, projectID: f.project.id, monthlyUSD: 2)
            func spend(
                _ task: String, attempt: Int, step: Int, _ usd: Double, project: String = "prj_1", at: Date = Self.t0
            ) -> SpendRecord {
                SpendRecord(
                    tenantID: f.tenant.id, projectID: project, taskID: task, attempt: attempt, step: step, model: "m",
                    usage: Usage(inputTokens: 10), usd: usd, at: at)
            }
            try await f.store.recordSpend(spend("t1", attempt: 1, step: 1, 0.5))
            try await f.store.recordSpend(spend("t1", attempt: 1, step: 1, 0.5))  // a repeat of the same call
            try await f.store.recordSpend(spend("t1", attempt: 2, step: 1, 0.25))  // a rescued task's new attempt
            try await f.store.recordSpend(spend("t2", attempt: 1, step: 1, 3, project: "prj_other"))
            try await f.store.recordSpend(
                spend("t0", attempt: 1, step: 1, 100, at: Self.t0.addingTimeInterval(-40 * 86_400)))
            let budgets = try await f.store.budgets(tenantID: f.tenant.id, projectID: f.project.id, now: Self.t0)
            #expect(budgets.map(\.projectID) == [nil, "prj_1"])
            #expect(budgets.map(\.spentUSD) == [3.75, 0.75])
            try await f.store.setBudget(tenantID: f.tenant.id, projectID: f.project.id, monthlyUSD: nil)
            #expect(try await f.store.budgets(tenantID: f.tenant.id, projectID: f.project.id, now: Self.t0).count == 1)
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func theAPIRefusesATaskPastTheBudgetAndAWorkerStopsARunThatUsesItUp(kind: QueueTests.Kind) async throws {
        let repo = try await FixtureRepo.make(ServerAPITests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-budget-\(UUID().uuidString.prefix(8))"
        ).path
        try await ServerAPITests.withServer(kind, data: data) { server in
            let admin = try #require(try await server.bootstrap())
            let tenant = try #require(try await server.store.tenant(named: "default"))
            let member = try await server.store.createKey(tenantID: tenant.id, role: .member).key
            var config = FerryConfig(dataDirectory: data + "/runs")
            config.firstAttempt = .off
            config.testCommand = "python3 -m unittest"
            let frozen = config
            let reads: [FakeStep] = (1...5).map {
                .call(
                    "read_file", ["path": $0 % 2 == 0 ? "calc.py" : "test_calc.py", "start_line": .number(Double($0))])
            }
            try await FakeModelServer.with(.openai, script: reads) { fake in
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // No workers in the server: the test runs the one attempt itself, after arranging the spend.
                    group.addTask { try await server.run(port: 0, workers: [], signals: []) { continuation.yield($0) } }
                    var iterator = ports.makeAsyncIterator()
                    let client = ServerAPITests.Client(port: try #require(await iterator.next()))
                    _ = try await client.send(
                        .POST, "/v1/projects", key: admin, body: ["name": "calc", "repo": .string(repo)])
                    #expect(
                        try await client.send(.PUT, "/v1/budgets/tenant", key: member, body: ["monthly_usd": 1]).status
                            == 403)
                    let set = try await client.send(
                        .PUT, "/v1/budgets/tenant", key: admin, body: ["monthly_usd": .number(0.5)])
                    #expect(set.status == 200 && set.json["monthly_usd"] == .number(0.5) && set.json["spent_usd"] == 0)

                    let refused = try await client.send(
                        .POST, "/v1/tasks", key: member, body: ["project": "calc", "task": "x", "max_cost": 1])
                    #expect(refused.status == 402 && refused.contentType == "application/problem+json")
                    #expect(refused.json["budget_usd"] == .number(0.5) && refused.json["spent_usd"] == 0)
                    #expect(refused.json["requested_usd"] == 1 && refused.json["scope"] == "tenant")
                    #expect(refused.json["detail"]?.stringValue?.contains("past its monthly budget") == true)

                    let created = try await client.send(
                        .POST, "/v1/tasks", key: member, body: ["project": "calc", "task": "fix add()"],
                        headers: ["Idempotency-Key": "fix-1"])
                    #expect(created.status == 201 && created.json["max_cost"] == .number(0.5), "\(created.body)")
                    let id = try #require(created.json["id"]?.stringValue)

                    // Other work has used the budget up to a call and a half of this model's price.
                    try await server.store.recordSpend(
                        SpendRecord(
                            tenantID: tenant.id, projectID: "elsewhere", taskID: "earlier", attempt: 1, step: 1,
                            model: "m",
                            usage: Usage(), usd: 0.5 - 0.0001, at: Date()))
                    let (worker, modelClient) = fakeWorker(fake, server: server, config: frozen)
                    let claimed = try #require(
                        try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy()))
                    #expect(claimed.id == id)
                    await worker.execute(claimed)
                    try await modelClient.shutdown()

                    let task = try await client.send(.GET, "/v1/tasks/\(id)", key: member).json
                    #expect(task["status"] == "limit", "\(task)")
                    #expect(task["reason"]?.stringValue?.contains("monthly budget is used up") == true)
                    // Two calls at $0.000072 each: the second took the month past the budget, and the run stopped there.
                    #expect(abs((task["cost_usd"]?.doubleValue ?? 0) - 0.000144) < 1e-9)
                    let budgets = try await client.send(.GET, "/v1/budgets", key: member).json
                    #expect(
                        abs(
                            (budgets["data"]?.arrayItems?.first?["spent_usd"]?.doubleValue ?? 0)
                                - (0.5 - 0.0001 + 0.000144)
                        ) < 1e-9)
                    #expect(
                        try await client.send(.POST, "/v1/tasks", key: member, body: ["project": "calc", "task": "y"])
                            .status == 402)
                    // A client retrying the create it made before the budget ran out gets that task, not a refusal;
                    // the same key on another request is an error.
                    let replayed = try await client.send(
                        .POST, "/v1/tasks", key: member, body: ["project": "calc", "task": "fix add()"],
                        headers: ["Idempotency-Key": "fix-1"])
                    #expect(
                        replayed.status == 200 && replayed.json["id"]?.stringValue == id
                            && replayed.json["status"] == "limit")
                    let reused = try await client.send(
                        .POST, "/v1/tasks", key: member, body: ["project": "calc", "task": "other"],
                        headers: ["Idempotency-Key": "fix-1"])
                    #expect(
                        reused.status == 422
                            && reused.json["detail"]?.stringValue?.contains("used for another request") == true)
                    group.cancelAll()
                }
            }
        }
    }
}
