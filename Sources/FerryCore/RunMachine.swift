/// A whole run as one value-type state machine with no I/O: setup, the whole-file attempt, the tool loop.
///
/// The driver (`RunExecutor`) performs each `Action` and reports what happened as an `Event`; every decision is made
/// here or in the phase machines (`AttemptMachine`, `AgentMachine`), which share one `Budget`. A new rule about
/// *what happens next* belongs in one of these three; a new way of *doing* something belongs in the executor.
public struct RunMachine: Sendable {
    public enum Action: Sendable, Hashable {
        /// Run the test command before any change; report `baselineRan`.
        case runBaseline(command: String)
        /// Read the worktree for the first phase; report `contextGathered`. `attempt`: find the attempt's files;
        /// `reproduction`: also the test file a reproduction test would go into.
        case gatherContext(attempt: Bool, reproduction: Bool)
        /// Report `modelReplied`, `modelFailed` or `timeUp`.
        case callModel(ModelRequest)
        /// Report `toolFinished` or `timeUp`.
        case runTool(ToolCall)
        /// Write these files whole; report `written` with the files that differ from the base.
        case write([String: String])
        /// Check that these files parse, where a parser is at hand; report `syntaxChecked`.
        case checkSyntax([String])
        /// Report `testsRan`.
        case runTests
        /// A change is to be judged: record that it starts (with the model's summary, when it gave one) and report
        /// `changesListed` with the files that differ from the base. The `ProofMachine` takes it from there.
        case listChanges(summary: String?)
        /// A step of the proof (`ProofMachine`): run the tests with files put back, or list the ignored files;
        /// report `proved`.
        case prove(ProofMachine.Action)
        /// Report `compacted` or `compactionFailed`.
        case compact([ChatMessage])
        /// Build the tool loop's first prompt (index, repo map, what the attempt tried); report `loopReady`.
        case prepareLoop(note: String)
        case stop(AgentMachine.Outcome)
    }

    public enum Event: Sendable {
        case start(now: Double)
        case baselineRan(TestRun, now: Double)
        case contextGathered(Context, now: Double)
        case loopReady(history: [ChatMessage], now: Double)
        case modelReplied(ModelReply, cost: Double, now: Double)
        case modelFailed(String, now: Double)
        case timeUp(now: Double)
        case toolFinished(AgentMachine.ToolResult, now: Double)
        case written(changed: [String], now: Double)
        case syntaxChecked(problems: [String], now: Double)
        case testsRan(TestRun, now: Double)
        case changesListed([String], now: Double)
        case proved(ProofMachine.Event)
        case compacted(summary: String, usage: Usage, cost: Double, now: Double)
        case compactionFailed(now: Double)
    }

    public enum Phase: Sendable {
        case setup
        case attempt(AttemptMachine)
        case preparingLoop
        case loop(AgentMachine)
        case done(AgentMachine.Outcome)
    }

    public let settings: Settings
    public private(set) var phase = Phase.setup
    /// The test command the run uses: the configured one, unless it could not even start.
    public private(set) var testCommand: String?
    /// Detected commands not tried yet.
    private var fallbackTestCommands: [String]
    /// The tests before any change (nil without a usable test command).
    public private(set) var baseline: TestRun?
    /// The tests that judged the change the run ends with.
    public private(set) var finalTests: TestRun?
    /// Whether the tool loop ran or was kept from starting (nil: the run never came to it), for the model's record.
    public private(set) var loopUse: LoopGate.Use?
    /// Whether the attempt asked for a reply after its first, or was kept from it (nil: it never came to that).
    public private(set) var retryUse: LoopGate.Use?
    /// Whether the change the attempt settled on came from a reply after its first.
    public private(set) var retryKept = false
    private var parkedBudget: Budget
    private var records: [TraceEvent] = []
    /// The proof under way, with the files it judges.
    private var proof: (machine: ProofMachine, changed: [String])?

    public init(settings: Settings) {
        self.settings = settings
        testCommand = settings.testCommand
        fallbackTestCommands = settings.fallbackTestCommands
        parkedBudget = Budget(limits: settings.limits)
    }

    // MARK: - State

    public var budget: Budget {
        switch phase {
        case .attempt(let attempt): attempt.budget
        case .loop(let loop): loop.budget
        default: parkedBudget
        }
    }

    public var outcome: AgentMachine.Outcome? {
        if case .done(let outcome) = phase { return outcome }
        return nil
    }

    /// How often the loop compacted its history.
    public var compactions: Int {
        if case .loop(let loop) = phase { return loop.compactions }
        return loopCompactions
    }
    private var loopCompactions = 0

    /// The loop's history estimate, for the trace's compaction line.
    public var estimatedTokens: Int {
        if case .loop(let loop) = phase { return loop.estimatedTokens }
        return 0
    }

    /// The trace lines gathered since the last call, in order.
    public mutating func takeRecords() -> [TraceEvent] {
        var taken = records
        records = []
        switch phase {
        case .attempt(var attempt):
            taken += attempt.takeRecords()
            phase = .attempt(attempt)
        case .loop(var loop):
            taken += loop.takeRecords()
            phase = .loop(loop)
        default: break
        }
        return taken
    }

    /// The host stops the run's spending (a shared budget ran out); no further model call is made.
    public mutating func halt(_ reason: String) {
        guard budget.haltReason == nil else { return }
        records.append(.runHalted(.init(reason)))
        switch phase {
        case .attempt(var attempt):
            attempt.halt(reason)
            phase = .attempt(attempt)
        case .loop(var loop):
            loop.halt(reason)
            phase = .loop(loop)
        default: parkedBudget.halt(reason)
        }
    }

    /// Ends the run from outside the events: an error, or a cancellation.
    public mutating func abort(status: RunStatus, reason: String) {
        if case .loop(let loop) = phase { loopCompactions = loop.compactions }
        guard outcome == nil else { return }
        _ = finish(.init(status: status, reason: reason), budget: budget)
    }

    // MARK: - Events

    public mutating func handle(_ event: Event) -> Action {
        if case .done(let outcome) = phase { return .stop(outcome) }
        switch (phase, event) {
        case (.setup, .start):
            guard let command = testCommand else {
                return .gatherContext(attempt: settings.firstAttempt, reproduction: false)
            }
            return .runBaseline(command: command)
        case (.setup, .baselineRan(let run, _)):
            if Self.isUnusable(run) {
                records.append(.testsUnusable(.init(command: run.command, output: String(run.output.suffix(500)))))
                testCommand = nil
                // A command that failed at once may give way to the next detected one; one that ran out of time
                // does not (the next could take as long).
                if !run.timedOut, !fallbackTestCommands.isEmpty {
                    let next = fallbackTestCommands.removeFirst()
                    testCommand = next
                    return .runBaseline(command: next)
                }
            } else {
                baseline = run
            }
            return .gatherContext(attempt: settings.firstAttempt, reproduction: Self.anchorsReproduction(baseline))
        case (.setup, .contextGathered(let context, let now)):
            guard settings.firstAttempt, !context.attemptFiles.isEmpty || !context.attemptSymbols.isEmpty else {
                if case .skip(let why) = settings.loopGate {
                    return skipLoop(
                        why,
                        after: settings.firstAttempt
                            ? "no first attempt could be made (no likely files to show the model)"
                            : "the first attempt is off")
                }
                phase = .preparingLoop
                return .prepareLoop(note: "")
            }
            let plan = AttemptMachine.Plan(
                task: settings.task, files: context.attemptFiles, agents: context.agents, testCommand: testCommand,
                testFile: Self.anchorsReproduction(baseline, testFile: context.testFile?.path) ? context.testFile : nil,
                symbols: context.attemptSymbols,
                outlines: context.outlines, candidates: settings.candidates, baseline: baseline,
                retries: settings.retryGate)
            return attempt(AttemptMachine(plan: plan, budget: parkedBudget), .start(now: now))
        case (.preparingLoop, .loopReady(let history, let now)):
            if let short = Self.loopOutOfTime(history, budget: parkedBudget, now: now) {
                return finish(.init(status: .limit, reason: short.reason, limit: short.limit), budget: parkedBudget)
            }
            loopUse = .ran
            return loop(
                AgentMachine(history: history, budget: parkedBudget, contextWindow: settings.contextWindow),
                .start(now: now))

        case (.attempt, .changesListed(let changed, let now)), (.loop, .changesListed(let changed, let now)):
            return startProof(changed: changed, now: now)
        case (.attempt, .proved(let step)), (.loop, .proved(let step)):
            guard var running = proof else { return unexpected(event) }
            let action = running.machine.handle(step)
            proof = running
            return proofAction(action)
        case (.attempt(let machine), _):
            guard let event = Self.attemptEvent(event) else { return unexpected(event) }
            return attempt(machine, event)
        case (.loop(let machine), _):
            guard let event = Self.loopEvent(event) else { return unexpected(event) }
            return loop(machine, event)
        default:
            return unexpected(event)
        }
    }

    private mutating func attempt(_ machine: AttemptMachine, _ event: AttemptMachine.Event) -> Action {
        var machine = machine
        let action = machine.handle(event)
        records += machine.takeRecords()
        phase = .attempt(machine)
        retryUse = machine.retryUse
        switch action {
        case .callModel(let call):
            return .callModel(
                ModelRequest(
                    messages: call.messages, tools: false, maxTokens: call.maxTokens, temperature: call.temperature,
                    phase: call.phase))
        case .write(let files): return .write(files)
        case .checkSyntax(let paths): return .checkSyntax(paths)
        case .runTests: return .runTests
        case .verify: return .listChanges(summary: nil)
        case .settle(let outcome):
            finalTests = machine.finalTests
            retryKept = (machine.settledReply ?? 1) > 1
            return finish(outcome, budget: machine.budget)
        case .stop(let outcome):
            return finish(outcome, budget: machine.budget)
        case .handOver(let note):
            parkedBudget = machine.budget
            // Out of steps, dollars or the host's leave already: building the loop's prompt would be wasted. (Time is
            // checked when the loop starts, with the clock.)
            if let exhausted = parkedBudget.exhausted(now: parkedBudget.startedAt) {
                return finish(
                    .init(status: .limit, reason: exhausted.reason, limit: exhausted.limit), budget: parkedBudget)
            }
            // A loop with one step can only start an edit, never finish it; its first prompt (the largest of the
            // run) would be spent for nothing.
            let left = parkedBudget.limits.maxSteps - parkedBudget.steps
            if left < Self.minimumLoopSteps {
                return finish(
                    .init(
                        status: .limit,
                        reason:
                            "step limit of \(parkedBudget.limits.maxSteps) reached: \(left) step left, and the tool "
                            + "loop needs \(Self.minimumLoopSteps) (an edit and finish)",
                        limit: .steps),
                    budget: parkedBudget)
            }
            if case .skip(let why) = settings.loopGate {
                let after =
                    machine.retryUse == .skipped
                    ? "the first attempt's one reply found no change that passes (no second was asked for: "
                        + "\(settings.retryGate.reason ?? ""))"
                    : "the first attempt found no change that passes"
                return skipLoop(why, after: after)
            }
            phase = .preparingLoop
            return .prepareLoop(note: note)
        }
    }

    /// Ends the run where the tool loop would have started, which `LoopGate` refused: nothing is kept (the attempt
    /// has put back what it tried).
    private mutating func skipLoop(_ why: String, after what: String) -> Action {
        loopUse = .skipped
        records.append(.loopSkipped(.init(why)))
        return finish(
            .init(status: .failed, reason: "\(what); the tool loop was not started: \(why)"), budget: parkedBudget)
    }

    private mutating func loop(_ machine: AgentMachine, _ event: AgentMachine.Event) -> Action {
        var machine = machine
        let action = machine.handle(event)
        records += machine.takeRecords()
        phase = .loop(machine)
        switch action {
        case .callModel(let history):
            return .callModel(
                ModelRequest(
                    messages: history, tools: true, maxTokens: nil, temperature: machine.nextTemperature, phase: nil))
        case .runTool(let call): return .runTool(call)
        case .verify(let summary): return .listChanges(summary: summary)
        case .compact(let messages): return .compact(messages)
        case .stop(let outcome):
            loopCompactions = machine.compactions
            return finish(outcome, budget: machine.budget)
        }
    }

    // MARK: - The proof

    /// The change is judged by a `ProofMachine`, which the phase machine waits on as it would on any step.
    private mutating func startProof(changed: [String], now: Double) -> Action {
        var machine = ProofMachine(
            .init(
                changed: changed, testCommand: testCommand, widerCommand: settings.widerCommand, baseline: baseline,
                testTimeout: settings.testTimeoutSeconds, budget: budget, task: settings.task))
        let action = machine.start(now: now)
        proof = (machine, changed)
        return proofAction(action)
    }

    private mutating func proofAction(_ action: ProofMachine.Action) -> Action {
        guard case .done(let result) = action else { return .prove(action) }
        let changed = proof?.changed ?? []
        // The verdict reaches the phase at the proof's last moment on the run's clock.
        let now = proof?.machine.now ?? 0
        proof = nil
        if let note = result.wider { records.append(.testsWider(.init(note))) }
        let phaseName: String? = if case .attempt = phase { "attempt" } else { nil }
        records.append(
            .verifyResult(
                .init(
                    outcome: result.verification.name, phase: phaseName, changedFiles: changed,
                    tests: result.tests.map(TraceEvent.Tests.init))))
        switch phase {
        case .attempt(let machine):
            return attempt(machine, .verified(result.verification, tests: result.tests, now: now))
        case .loop(let machine):
            finalTests = result.tests
            return loop(machine, .verified(result.verification, now: now))
        default:
            return unexpected(.changesListed(changed, now: now))
        }
    }

    private mutating func finish(_ outcome: AgentMachine.Outcome, budget: Budget) -> Action {
        parkedBudget = budget
        phase = .done(outcome)
        return .stop(outcome)
    }

    /// An event the driver should not send now: a bug in the driver, so the run fails rather than guess.
    private mutating func unexpected(_ event: Event) -> Action {
        let name = String(describing: event).prefix { $0 != "(" }
        return finish(
            .init(status: .failed, reason: "internal error: unexpected event \(name) in this phase"), budget: budget)
    }
}
