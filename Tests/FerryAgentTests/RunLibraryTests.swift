import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryStore
import FerryTesting
import FerryWorkspace
import Foundation
import Synchronization
import Testing

/// The runner as a library a server hosts: runs side by side in one process, cancelled or stopped from outside, and
/// always recorded. Real HTTP to fake model servers, real git, the real sandbox, one real store.
@Suite struct RunLibraryTests {
    static let files = EndToEndTests.files

    /// Runs `body` with a runner on its own fake server, sharing `store`.
    static func withRunner<T: Sendable>(
        script: [FakeStep], store: SQLiteRunStore, data: String, limits: AgentLimits = AgentLimits(repairRounds: 1),
        toolLoop: LoopGate.Mode = .auto, firstAttempt: FerryConfig.FirstAttempt = .off,
        attemptRetries: LoopGate.Mode = .auto, _ body: @Sendable (AgentRunner) async throws -> T
    ) async throws -> T {
        var config = FerryConfig(dataDirectory: data)
        config.testCommand = "python3 -m unittest"
        config.limits = limits
        config.firstAttempt = firstAttempt
        config.toolLoop = toolLoop
        config.attemptRetries = attemptRetries
        let frozen = config
        return try await FakeModelServer.with(.openai, script: script) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(
                profile: profile, apiKey: "k", client: client, retry: RetryPolicy(maxAttempts: 1, baseDelay: 0.01))
            let result: Result<T, any Error>
            do { result = .success(try await body(AgentRunner(model: model, store: store, config: frozen))) } catch {
                result = .failure(error)
            }
            try await client.shutdown()
            return try result.get()
        }
    }

    static func freshStore() throws -> (SQLiteRunStore, String) {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-lib-\(UUID().uuidString.prefix(8))"
        ).path
        return (try SQLiteRunStore(path: data + "/ferry.sqlite"), data)
    }

    /// Runs `body` and notes when it returned.
    static func timed<T: Sendable>(_ at: Locked<ContinuousClock.Instant?>, _ body: () async throws -> T) async throws
        -> T
    {
        let value = try await body()
        at.withLock { $0 = .now }
        return value
    }

    /// Whether any process on the machine has `marker` in its command line.
    static func processRunning(_ marker: String) -> Bool {
        let pids =
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.contains { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    @Test func aModelWhoseLoopsKeptNothingIsNotPaidForAnother() async throws {
        let (store, data) = try Self.freshStore()
        func past(_ id: String, model: String = "gpt-4.1-mini", status: RunStatus, age: Double) -> RunRecord {
            var record = RunRecord(
                id: id, repo: "/r", base: "b", branch: "ferry/\(id)", task: "t", model: model, provider: "openai",
                sandbox: "none", runDirectory: "/tmp/\(id)", createdAt: Date(timeIntervalSinceNow: -age))
            record.status = status
            record.toolLoop = .ran
            record.finishedAt = Date()
            return record
        }
        // Four runs of this model whose loops kept nothing (a time limit's partial diff on its branch is not a kept
        // change); another model's, one cut off and one still running do not count.
        for n in 0..<4 {
            var run = past("lost-\(n)", status: n == 0 ? .limit : .failed, age: 100 - Double(n))
            if n == 0 { run.commitSHA = "0123abc" }
            try await store.insert(run)
        }
        try await store.insert(past("other", model: "gpt-4.1", status: .verified, age: 50))
        try await store.insert(past("stopped", status: .interrupted, age: 40))
        try await store.insert(past("live", status: .running, age: 30))
        let history = try await store.gateHistory(
            .toolLoop, model: "gpt-4.1-mini", provider: "openai", limit: LoopGate.window)
        #expect(history == Array(repeating: LoopGate.Past(use: .ran, keptChange: false), count: 4))

        let repo = try await FixtureRepo.make(Self.files)
        let task = RunRequest(task: "add() returns the wrong sum; fix it", repo: repo)
        let skipped = try await Self.withRunner(script: EndToEndTests.fixingScript, store: store, data: data) {
            try await $0.run(task)
        }
        #expect(skipped.status == .failed && skipped.record.steps == 0 && skipped.diff.isEmpty)
        #expect(skipped.record.toolLoop == .skipped)
        #expect(
            skipped.record.reason
                == "the first attempt is off; the tool loop was not started: none of the last 4 tool loops with "
                + "gpt-4.1-mini kept a change, so this run does not pay for another (it runs again after 4 runs "
                + "without it; [agent] tool_loop = \"always\" runs it every time)")
        #expect(try await store.run(skipped.record.id)?.toolLoop == .skipped)
        #expect(try await store.events(of: skipped.record.id).contains { $0.event.type == "loop.skipped" })
        let report = try JSONValue.parse(
            String(contentsOfFile: skipped.record.runDirectory + "/result.json", encoding: .utf8))
        #expect(report?["tool_loop"]?.stringValue == "skipped")

        // `always` runs it; its kept change opens the gate again for the runs after it.
        let forced = try await Self.withRunner(
            script: EndToEndTests.fixingScript, store: store, data: data, toolLoop: .always
        ) { try await $0.run(task) }
        #expect(forced.status == .verified && forced.record.toolLoop == .ran)
        let after = try await Self.withRunner(script: EndToEndTests.fixingScript, store: store, data: data) {
            try await $0.run(task)
        }
        #expect(after.status == .verified && after.record.toolLoop == .ran)

        // A store that tenants share keeps no record: one tenant's runs never steer another's.
        let shared = try SQLiteRunStore(path: data + "/ferry.sqlite", sharedByTenants: true)
        #expect(try await shared.gateHistory(.toolLoop, model: "gpt-4.1-mini", provider: "openai", limit: 20).isEmpty)
    }

    @Test func aModelWhoseLaterRepliesKeptNothingIsAskedOnce() async throws {
        let (store, data) = try Self.freshStore()
        // Four attempts that asked for later replies: none kept a change from them (one run kept its first reply's
        // change, which is not a later reply's).
        for n in 0..<4 {
            var record = RunRecord(
                id: "r\(n)", repo: "/r", base: "b", branch: "ferry/r\(n)", task: "t", model: "gpt-4.1-mini",
                provider: "openai", sandbox: "none", runDirectory: "/tmp/r\(n)",
                createdAt: Date(timeIntervalSinceNow: -100 + Double(n)))
            record.status = n == 0 ? .unverified : .failed
            if n == 0 { record.commitSHA = "0123abc" }
            record.retries = .ran
            record.retryKept = false
            record.finishedAt = Date()
            try await store.insert(record)
        }
        // A later reply's change the tests could not prove counts neither way.
        var unproved = RunRecord(
            id: "u", repo: "/r", base: "b", branch: "ferry/u", task: "t", model: "gpt-4.1-mini", provider: "openai",
            sandbox: "none", runDirectory: "/tmp/u", createdAt: Date(timeIntervalSinceNow: -10))
        unproved.status = .unverified
        unproved.commitSHA = "4567def"
        unproved.retries = .ran
        unproved.retryKept = true
        unproved.finishedAt = Date()
        try await store.insert(unproved)
        #expect(
            try await store.gateHistory(.retries, model: "gpt-4.1-mini", provider: "openai", limit: 20)
                == Array(repeating: LoopGate.Past(use: .ran, keptChange: false), count: 4))
        #expect(try await store.gateHistory(.toolLoop, model: "gpt-4.1-mini", provider: "openai", limit: 20).isEmpty)

        let repo = try await FixtureRepo.make(Self.files)
        let task = RunRequest(task: "add() returns the wrong sum; fix it", repo: repo)
        let script = [
            EndToEndTests.wholeFile("def add(a, b):\n    return a * b\n"),
            EndToEndTests.wholeFile("def add(a, b):\n    return a + b\n"),
        ]
        let once = try await Self.withRunner(
            script: script, store: store, data: data, toolLoop: .never, firstAttempt: .wholeFile
        ) { try await $0.run(task) }
        #expect(once.status == .failed && once.record.steps == 1 && once.diff.isEmpty)
        #expect(once.record.retries == .skipped && once.record.retryKept == nil)
        #expect(once.record.reason.hasPrefix("the first attempt's one reply found no change that passes (no second "))
        #expect(once.record.reason.contains("attempt_retries = \"always\""))
        #expect(try await store.events(of: once.record.id).contains { $0.event.type == "attempt.retries_skipped" })
        let report = try JSONValue.parse(
            String(contentsOfFile: once.record.runDirectory + "/result.json", encoding: .utf8))
        #expect(report?["attempt_retries"]?.stringValue == "skipped")

        // `always` asks again; the second reply's change is kept, and that opens the gate for the runs after it.
        let forced = try await Self.withRunner(
            script: script, store: store, data: data, toolLoop: .never, firstAttempt: .wholeFile,
            attemptRetries: .always
        ) { try await $0.run(task) }
        #expect(forced.status == .verified && forced.record.steps == 2)
        #expect(try await store.run(forced.record.id).map { ($0.retries, $0.retryKept) } ?? (nil, nil) == (.ran, true))
        let after = try await Self.withRunner(
            script: script, store: store, data: data, toolLoop: .never, firstAttempt: .wholeFile
        ) { try await $0.run(task) }
        #expect(after.status == .verified && after.record.retries == .ran)
    }

    @Test func twoRunsAtOnceOneCancelledMidCommandAndBothAreRecorded() async throws {
        let (store, data) = try Self.freshStore()
        let repoA = try await FixtureRepo.make(Self.files)
        let repoB = try await FixtureRepo.make(Self.files)
        let marker = "61.\(Int.random(in: 100_000...999_999))"
        let control = RunControl()
        let live = Locked<[RunEvent]>([])
        let cancelledAt = Locked<ContinuousClock.Instant?>(nil)
        let returnedAt = Locked<ContinuousClock.Instant?>(nil)

        let (a, b) = try await Self.withRunner(script: EndToEndTests.fixingScript, store: store, data: data) { first in
            try await Self.withRunner(
                script: [.call("shell", ["command": "sleep \(marker)"])], store: store, data: data
            ) { second in
                async let a = first.run(RunRequest(task: "add() returns the wrong sum; fix it", repo: repoA))
                async let b = Self.timed(returnedAt) {
                    try await second.run(RunRequest(task: "wait a minute", repo: repoB), control: control) { event in
                        live.withLock { $0.append(event) }
                        guard case .modelReply = event.event else { return }
                        // The command is starting: cancel it once its process runs (a loaded machine may take seconds
                        // to start it; a fixed half second made this test flaky).
                        Task {
                            var running = false
                            for _ in 0..<200 where !running {
                                try await Task.sleep(for: .milliseconds(100))
                                running = Self.processRunning(marker)
                            }
                            #expect(running)
                            cancelledAt.withLock { $0 = .now }
                            control.cancel(reason: "stopped by the test")
                        }
                    }
                }
                return try await (a, b)
            }
        }
        let cancelled = try #require(cancelledAt.withLock { $0 })
        let returned = try #require(returnedAt.withLock { $0 })
        // The sleep was killed, not waited for (it would take a minute); nothing of it is left. (The bound leaves
        // room for a loaded machine: 15 s was once exceeded at 24.)
        #expect(returned - cancelled < .seconds(45))
        #expect(!Self.processRunning(marker))

        #expect(a.status == .verified && a.record.steps == 5)
        #expect(b.status == .interrupted && b.record.reason == "stopped by the test")
        #expect(b.record.steps == 1)
        for result in [a, b] {
            let stored = try #require(try await store.run(result.record.id))
            #expect(stored.status == result.status && stored.finishedAt != nil)
            // The trace file reads back as the same typed events the store holds.
            let trace = try RunEvent.read(
                jsonLines: String(contentsOfFile: result.record.runDirectory + "/trace.jsonl", encoding: .utf8))
            let storedEvents = try await store.events(of: result.record.id)
            #expect(trace.map(\.event) == storedEvents.map(\.event))
            #expect(trace.map(\.seq) == storedEvents.map(\.seq))
            for (x, y) in zip(trace, storedEvents) where x != y { Issue.record("\(x)\n≠\n\(y)") }
            #expect(!trace.contains { if case .unknown = $0.event { true } else { false } })
            guard case .runStarted(let started)? = trace.first?.event,
                case .runFinished(let finished)? = trace.last?.event
            else {
                Issue.record("a trace starts with run.started and ends with run.finished")
                continue
            }
            #expect(started.schema == RunEvent.schemaVersion && started.runID == result.record.id)
            #expect(finished.status == result.status)
        }
        // The live sink saw run B's events, and only B's.
        let seen = live.withLock { $0 }
        #expect(seen.map(\.seq) == Array(1...seen.count))
        #expect(seen.allSatisfy { if case .runStarted(let s) = $0.event { s.runID == b.record.id } else { true } })
    }

    @Test func cancellingDuringTheModelCallStopsTheStream() async throws {
        let (store, data) = try Self.freshStore()
        let repo = try await FixtureRepo.make(Self.files)
        let control = RunControl()
        let result = try await Self.withRunner(
            script: [.delay(seconds: 60, then: FakeReply(text: "late"))], store: store, data: data
        ) { runner in
            Task {
                try await Task.sleep(for: .seconds(1))
                control.cancel()
            }
            return try await runner.run(
                RunRequest(task: "add() returns the wrong sum; fix it", repo: repo), control: control)
        }
        #expect(result.status == .interrupted && result.record.reason == "cancelled by the host")
        // The reply would take 60 s: the run ended well before it, so the stream was stopped, not waited for. (The
        // setup before the model call can take tens of seconds on a loaded machine; 30 s was once exceeded by 0.2.)
        #expect(result.record.wallSeconds < 50)
        #expect(try await store.run(result.record.id)?.status == .interrupted)
    }

    @Test func aSpendCheckStopsTheRunWithTheHostsReason() async throws {
        let (store, data) = try Self.freshStore()
        let repo = try await FixtureRepo.make(Self.files)
        let checks = Locked<[RunControl.Spend]>([])
        let control = RunControl { spend in
            checks.withLock { $0.append(spend) }
            return spend.steps >= 2 ? "the team's monthly budget is used up" : nil
        }
        let result = try await Self.withRunner(script: EndToEndTests.fixingScript, store: store, data: data) { runner in
            try await runner.run(RunRequest(task: "add() returns the wrong sum; fix it", repo: repo), control: control)
        }
        #expect(result.status == .limit && result.limit == .host)
        #expect(result.record.reason == "the team's monthly budget is used up")
        #expect(result.record.steps == 2)
        #expect(checks.withLock { $0.map(\.steps) } == [1, 2])
        #expect(checks.withLock { $0.last?.usage.inputTokens } == 4_000)
        let events = try await store.events(of: result.record.id)
        #expect(
            events.contains {
                if case .runHalted(let halt) = $0.event { halt.message.contains("monthly budget") } else { false }
            })
    }
}
