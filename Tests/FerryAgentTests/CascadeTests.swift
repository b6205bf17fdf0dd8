import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryStore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// A cascade of two scripted profiles over real HTTP, a real repository and the real sandbox: the second is called
/// only when the first's change is not proved, starts from what the first found, and spends from the same budget.
@Suite struct CascadeTests {
    static let wrongFix: [FakeStep] = [
        .call("read_file", ["path": "calc.py"]),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a * b"]),
        .call("finish", ["summary": "add() multiplies now."]),
        .call("finish", ["summary": "still multiplies."]),
        .call("finish", ["summary": "still multiplies."]),
        .call("finish", ["summary": "still multiplies."]),
    ]
    static let rightFix: [FakeStep] = [
        .call("read_file", ["path": "calc.py"]),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
        .call("finish", ["summary": "add() subtracted; it now adds."]),
    ]

    struct Outcome: Sendable {
        var result: RunResult
        var first: [JSONValue]
        var second: [JSONValue]
        var limits: [AgentLimits]
    }

    func run(first: [FakeStep], second: [FakeStep], limits: AgentLimits = AgentLimits(repairRounds: 1)) async throws
        -> Outcome
    {
        let repo = try await FixtureRepo.make(EndToEndTests.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-cascade-\(UUID().uuidString.prefix(8))"
        ).path
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = "python3 -m unittest"
        config.firstAttempt = .off
        config.limits = limits
        let store = try SQLiteRunStore(path: config.storePath)
        let frozen = config
        let given = Locked<[AgentLimits]>([])
        return try await FakeModelServer.with(.openai, script: first) { cheap in
            try await FakeModelServer.with(.openai, script: second) { strong in
                let servers = [cheap, strong]
                let cascade = CascadeRunner(
                    profiles: ["cheap", "strong"], limits: frozen.limits,
                    lastPrice: PriceCatalog.standard.price(for: "gpt-4.1"))
                let result = try await cascade.run(RunRequest(task: "add() returns the wrong sum; fix it", repo: repo))
                {
                    index, name, request, limits in
                    given.withLock { $0.append(limits) }
                    let profile = ModelProfile(
                        name: name, provider: .openai, baseURL: servers[index].baseURL,
                        model: index == 0 ? "small-model" : "gpt-4.1", apiKeyEnv: "")
                    let client = ModelFactory.httpClient(for: profile)
                    var config = frozen
                    config.limits = limits
                    let runner = AgentRunner(
                        model: ModelFactory.make(
                            profile: profile, apiKey: nil, client: client, retry: RetryPolicy(maxAttempts: 1)),
                        store: store, config: config)
                    do {
                        let result = try await runner.run(request)
                        try await client.shutdown()
                        return result
                    } catch {
                        try? await client.shutdown()
                        throw error
                    }
                }
                return Outcome(
                    result: result, first: cheap.requests, second: strong.requests, limits: given.withLock { $0 })
            }
        }
    }

    static func count(_ value: JSONValue) -> Int {
        if case .array(let items) = value { return items.count }
        return -1
    }

    @Test func aProvedChangeFromTheFirstProfileNeverCallsTheSecond() async throws {
        let outcome = try await run(first: Self.rightFix, second: Self.rightFix)
        #expect(outcome.result.status == .verified)
        #expect(outcome.second.isEmpty, "the strong profile is never called")
        #expect(outcome.result.cascade.map(\.profile) == ["cheap"] && outcome.result.cascade.first?.chosen == true)
        let json = try String(contentsOfFile: outcome.result.record.runDirectory + "/result.json", encoding: .utf8)
        #expect(JSONValue.parse(json)?["cascade"]?["stages"].map(Self.count) == 1)
        // What the cascade cost against the last profile alone: the same tokens at gpt-4.1's price.
        let usage = try #require(outcome.result.cascade.first?.usage)
        #expect(usage.inputTokens > 0 && usage.outputTokens > 0)
        let atLast = try #require(outcome.result.cascadeAtLastPriceUSD)
        #expect(abs(atLast - (usage.inputTokens * 2 + usage.outputTokens * 8).double / 1_000_000) < 1e-9)
        #expect(JSONValue.parse(json)?["cascade"]?["at_last_profile_price_usd"]?.doubleValue == atLast)
        let summary = try #require(RunReport.cascadeSummary(outcome.result))
        #expect(summary.contains("at the last profile's (strong's) price"), "\(summary)")
    }

    @Test func anUnprovedChangeGoesToTheNextProfileWithWhatTheFirstFound() async throws {
        let outcome = try await run(first: Self.wrongFix, second: Self.rightFix)
        #expect(outcome.result.status == .verified, "\(outcome.result.record.reason)")
        let stages = outcome.result.cascade
        #expect(stages.map(\.profile) == ["cheap", "strong"] && stages.map(\.chosen) == [false, true])
        #expect(stages[0].status != .verified && stages[0].model == "small-model" && stages[1].model == "gpt-4.1")
        #expect(outcome.result.record.model == "gpt-4.1", "the record is the chosen stage's")
        // The second starts from the first's findings: its change, the files and what the tests said.
        let asked = outcome.second.first?.jsonString ?? ""
        #expect(
            asked.contains("What earlier attempts found") && asked.contains("return a * b"), "\(asked.prefix(2000))")
        #expect(asked.contains("Files it changed: calc.py") && asked.contains("FAIL"))
        // Both stages are recorded; the summary tells the cascade and its total.
        let summary = try String(contentsOfFile: outcome.result.record.runDirectory + "/summary.md", encoding: .utf8)
        #expect(
            summary.contains("## Cascade") && summary.contains("1. cheap (small-model)")
                && summary.contains("All stages together"))
        let firstRun = try String(contentsOfFile: outcome.result.record.runDirectory + "/result.json", encoding: .utf8)
        #expect(JSONValue.parse(firstRun)?["cascade"]?["stages"].map(Self.count) == 2)
        #expect(outcome.result.totalCostUSD == stages.reduce(0) { $0 + $1.costUSD })
    }

    @Test func theStagesShareOneBudget() async throws {
        // The cheap profile never finishes: it spends its half of the steps, and the strong one gets the rest.
        let wander = (0..<20).map { FakeStep.call("search", ["pattern": .string("nothing\($0)")]) }
        let outcome = try await run(
            first: wander, second: Self.rightFix, limits: AgentLimits(maxSteps: 10, repairRounds: 1))
        #expect(outcome.limits.map(\.maxSteps) == [5, 10 - outcome.result.cascade[0].steps], "\(outcome.limits)")
        #expect(
            outcome.result.cascade[0].status == .limit && outcome.result.cascade[0].steps <= 5,
            "\(outcome.result.cascade[0])")
        #expect(outcome.result.status == .verified)
        #expect(outcome.result.cascade.reduce(0) { $0 + $1.steps } <= 10)
    }
}

extension Int {
    fileprivate var double: Double { Double(self) }
}
