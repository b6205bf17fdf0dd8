import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation
import Logging

/// One task to run.
public struct RunRequest: Sendable {
    public var task: String
    public var repo: String
    public var base: String?
    public var keepWorktree: Bool
    /// The run's id, when the host must know it before the run starts (a tool that returns it at once); unique.
    public var runID: String?

    public init(task: String, repo: String, base: String? = nil, keepWorktree: Bool = false, runID: String? = nil) {
        self.runID = runID
        self.task = task
        self.repo = repo
        self.base = base
        self.keepWorktree = keepWorktree
    }
}

/// Runs tasks end to end: worktree, the `RunMachine` (baseline, whole-file attempt, tool loop, verification) driven
/// by a `RunExecutor`, then the commit, the files and the store row. This is the library entry point: the CLI and
/// the server's workers call `run`. A runner holds no per-run state, so one runner serves many runs at once.
public struct AgentRunner: Sendable {
    public typealias RunnerFactory = @Sendable (SandboxPolicy) throws -> any CommandRunner

    public let model: any ChatModel
    public let store: any RunStore
    public let config: FerryConfig
    public let makeRunner: RunnerFactory
    /// What every file, row, event and commit of a run passes through before it is written.
    public let redactor: Redactor
    public let logger: Logger

    public init(
        model: any ChatModel, store: any RunStore, config: FerryConfig, secrets: [String] = [],
        logger: Logger = Logger(label: "ferry"), makeRunner: RunnerFactory? = nil
    ) {
        self.model = model
        self.store = store
        self.config = config
        self.redactor = Redactor(secrets: secrets)
        self.logger = logger
        let mode = config.sandbox
        self.makeRunner =
            makeRunner ?? { policy in
                // The sandbox mode is the user's: a flag, their config or $FERRY_SANDBOX (never a repository's).
                switch mode {
                case .bubblewrap: try BubblewrapRunner(policy: policy)
                case .none: DirectRunner(policy: policy)
                }
            }
    }

    /// Runs one task. `events` sees every trace event as it is recorded; `control` lets the caller cancel the run or
    /// stop its spending. The run is recorded whatever happens once its worktree exists (an error before that, such
    /// as a path that is not a repository, is thrown); a cancelled run ends `interrupted` with its partial change.
    public func run(
        _ request: RunRequest, control: RunControl = RunControl(),
        events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> RunResult {
        let started = ContinuousClock.now
        let setup = try await setUp(request, events: events)
        let (testCommand, fallbacks, index) = await testCommand(for: request.task, setup: setup)
        var settings = RunMachine.Settings(
            task: request.task, limits: config.limits, contextWindow: model.profile.contextWindow,
            maxOutputTokens: model.profile.maxOutputTokens,
            testCommand: testCommand, fallbackTestCommands: fallbacks,
            firstAttempt: config.firstAttempt == .wholeFile, repoMapTokens: config.repoMapTokens,
            candidates: config.candidates,
            // A command that names `{related_tests}` is judged by those first; the whole suite is the wider check.
            widerCommand: config.testCommand.flatMap {
                $0.contains(RelatedTests.placeholder) ? RelatedTests.wholeSuite($0) : nil
            },
            testTimeoutSeconds: config.testTimeoutSeconds)
        (settings.loopGate, settings.retryGate) = await gates()
        // The config's MCP servers start in the run's sandbox; their tools join the loop's.
        var mcp: MCPToolServers?
        if !config.mcpServers.isEmpty {
            let servers = await MCPToolServers.start(
                Array(config.mcpServers.values), runner: setup.runner, workingDirectory: setup.workspace.root)
            await setup.recorder.record(.mcpReady(.init(servers: servers.report)))
            mcp = servers
        }
        var executor = RunExecutor(
            task: request.task, model: model, config: config, workspace: setup.workspace, git: setup.worktreeGit,
            base: setup.base, runner: setup.runner, recorder: setup.recorder, control: control, runID: setup.record.id,
            started: started, machine: RunMachine(settings: settings))
        executor.externalTools = mcp
        executor.index = index

        // The run's work is its own task, so a host's cancel (or the caller's) stops the model stream and the
        // sandboxed command; finishing below still runs.
        let work = Task {
            var executor = executor
            return await executor.execute()
        }
        control.onCancel { work.cancel() }
        let machine = await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            work.cancel()
        }
        await mcp?.stop()

        // Finishing must survive an interrupt, so it runs detached: a run is never left without its diff, files and
        // store row.
        var record = setup.record
        record.toolLoop = machine.loopUse
        record.retries = machine.retryUse
        record.retryKept = machine.retryUse == .ran ? machine.retryKept : nil
        let finishing = Finishing(
            record: record,
            outcome: machine.outcome ?? .init(status: .failed, reason: "internal error: the run did not end"),
            budget: machine.budget, compactions: machine.compactions, baseline: machine.baseline,
            finalTests: machine.finalTests, wallSeconds: (ContinuousClock.now - started).inSeconds, base: setup.base,
            repoGit: setup.repoGit, worktreeGit: setup.worktreeGit, recorder: setup.recorder,
            keepWorktree: request.keepWorktree, worktreePath: setup.workspace.root, price: model.profile.effectivePrice,
            store: store, redactor: redactor, maxFileBytes: config.maxCommitFileBytes,
            sandboxSource: config.sandboxSource)
        return try await Task.detached { try await finishing.run() }.value
    }

    /// Whether this run may pay for its tool loop and for the attempt's later replies: the config's modes, and in
    /// `auto` the model's record in the store, read once for both (a store that cannot say leaves the gates open).
    func gates() async -> (loop: LoopGate.Decision, retries: LoopGate.Decision) {
        let modes: [LoopGate.Stage: LoopGate.Mode] = [.toolLoop: config.toolLoop, .retries: config.attemptRetries]
        let recorded = Set(modes.filter { $0.value == .auto }.keys)
        var histories: [LoopGate.Stage: [LoopGate.Past]] = [:]
        if !recorded.isEmpty {
            do {
                histories = try await store.gateHistories(
                    recorded, model: model.profile.model, provider: model.profile.provider.rawValue,
                    limit: LoopGate.fetched)
            } catch {
                logger.warning("the record of the tool loop and later replies could not be read: \(error)")
            }
        }
        func decide(_ stage: LoopGate.Stage) -> LoopGate.Decision {
            LoopGate.decide(modes[stage]!, history: histories[stage] ?? [], model: model.profile.model, stage: stage)
        }
        return (decide(.toolLoop), decide(.retries))
    }

    public static func newRunID(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return formatter.string(from: now) + "-" + String(repeating: "0", count: 8 - random.count) + random
    }

    static func commitMessage(task: String, outcome: AgentMachine.Outcome, runID: String) -> String {
        let firstLine = task.split(separator: "\n").first.map(String.init) ?? "change"
        let subject = firstLine.count > 66 ? String(firstLine.prefix(65)) + "…" : firstLine
        var body = outcome.summary.isEmpty ? "Task: \(task)" : outcome.summary
        if body.count > 4000 { body = String(body.prefix(4000)) + "…" }
        return "ferry: \(subject)\n\n\(body)\n\nFerry-Run: \(runID)\nFerry-Status: \(outcome.status.rawValue)"
    }
}
