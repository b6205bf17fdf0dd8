import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import Foundation
import Testing

@testable import FerryEval

/// An eval stopped mid-instance (Ctrl-C, SIGTERM: `Interrupts.cancelling` cancels its task) records nothing it did not
/// finish, so `--resume` runs those instances again instead of skipping them as errors.
@Suite struct EvalInterruptTests {
    @Test func anInterruptedEvalLeavesNoResultForUnfinishedInstances() async throws {
        let tests = EvalTests()
        var instances: [EvalInstance] = []
        for id in ["a", "b", "c"] {
            instances.append(tests.instance(id, repo: try await FixtureRepo.make(EvalTests.base)))
        }
        let suite = try tests.suite(instances)
        let out = tests.outDirectory()
        // The first instance's model call hangs long enough to be interrupted.
        let slow: [FakeStep] = [.delay(seconds: 30, then: FakeReply(text: "", usage: EvalTests.usage))]
        try await FakeModelServer.with(.openai, script: slow) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
            let client = ModelFactory.httpClient(for: profile)
            var config = FerryConfig(dataDirectory: out + "/unused")
            config.firstAttempt = .off
            let agent = EvalAgent(
                model: ModelFactory.make(profile: profile, apiKey: nil, client: client), config: config)
            let run = Task {
                try await EvalRunner(options: EvalOptions(suitePath: suite, outDirectory: out), agent: agent).run()
            }
            try await Task.sleep(for: .seconds(2))
            run.cancel()
            let outcome = await run.result
            try await client.shutdown()
            #expect(throws: (any Error).self) { try outcome.get() }
        }
        let recorded = ResultsFile.read(out + "/results.jsonl")
        #expect(recorded.isEmpty, "recorded: \(recorded.map { "\($0.instanceID) \($0.status)" })")
    }
}
