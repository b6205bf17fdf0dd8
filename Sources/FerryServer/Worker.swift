import FerryAgent
import FerryCore
import FerryForge
import FerryModels
import FerryServerStore
import FerryStore
import FerryWorkspace
import Foundation
import Logging

/// Takes tasks from the queue and runs them through the same library call the CLI uses, holding each claim with a
/// heartbeat. A lost lease or a cancel through the API stops the run (its sandbox is killed); only the attempt that
/// still holds the task may record a result (fencing), so a rescued task is never finished twice.
public struct Worker: Sendable {
    /// What a worker needs of the store: the queue, the projects it runs, the budgets it spends against, and the
    /// outbox (a budget's threshold notice).
    public typealias Store = TaskQueue & ProjectStore & BudgetStore & WebhookOutbox & ForgeStore

    /// The model for a profile name (nil: the project's or the server's default), from the worker's own config and
    /// environment: model keys never enter the database.
    public typealias ModelProvider = @Sendable (String?) async throws -> any ChatModel

    public let id: String
    public let store: any Store
    public let runStore: any RunStore
    public let config: FerryConfig
    public let policy: QueuePolicy
    /// Where projects may be (the server's `ServerPolicy`), checked again before each task.
    public let projects: ServerPolicy
    public let secrets: [String]
    /// The longest an idle worker waits before it looks again (a signal wakes it sooner).
    public let pollSeconds: Double
    let makeModel: ModelProvider
    let logger: Logger
    /// How this worker reaches its projects' forges (nil: tasks from a forge run as plain tasks).
    public let forges: ForgeAccess?

    public init(
        id: String, store: any Store, runStore: any RunStore, config: FerryConfig,
        policy: QueuePolicy = QueuePolicy(),
        secrets: [String] = [], pollSeconds: Double = 5, logger: Logger = Logger(label: "ferry.worker"),
        projects: ServerPolicy = ServerPolicy(), forges: ForgeAccess? = nil, makeModel: @escaping ModelProvider
    ) {
        self.projects = projects
        self.forges = forges
        var logger = logger
        logger[metadataKey: "worker"] = .string(id)
        self.logger = logger
        self.id = id
        self.store = store
        self.runStore = runStore
        self.config = config
        self.policy = policy
        self.secrets = secrets
        self.pollSeconds = pollSeconds
        self.makeModel = makeModel
    }

    /// Claims and runs tasks until cancelled.
    public func run() async {
        while !Task.isCancelled {
            let generation = store.workSignal.generation
            do {
                for lost in try await store.rescueExpired(now: Date(), policy: policy) {
                    logger.warning(
                        "lease expired; attempt lost",
                        metadata: [
                            "task": .string(lost.id), "attempt": .stringConvertible(lost.attempt),
                            "lost_worker": .string(lost.attemptedBy ?? "unknown"),
                        ])
                    // The lost attempt's run is closed as interrupted, so no run stays "running" for ever.
                    if let runID = lost.runID {
                        try await RunReconciler(store: runStore, redactor: Redactor(secrets: secrets)).closeLost(
                            runID,
                            reason:
                                "attempt \(lost.attempt) of task \(lost.id) was lost: \(lost.attemptedBy ?? "its worker") "
                                + "stopped renewing its lease (killed, or its machine stopped)")
                    }
                }
                let asked = Date()
                if let task = try await store.claim(worker: id, now: asked, policy: policy) {
                    logger.info(
                        "task claimed",
                        metadata: [
                            "task": .string(task.id), "tenant": .string(task.tenantID),
                            "attempt": .stringConvertible(task.attempt),
                            "claim_ms": .stringConvertible(Date().timeIntervalSince(asked) * 1000),
                            "wait_s": .stringConvertible(asked.timeIntervalSince(task.scheduledAt)),
                        ])
                    await execute(task)
                    continue
                }
            } catch {
                if Task.isCancelled { break }
                logger.error("queue step failed", metadata: ["error": .string(Self.describe(error))])
            }
            // Until a task may be there (LISTEN/NOTIFY across machines), or the poll interval for retries whose
            // backoff ends and leases that run out.
            await store.workSignal.wait(seconds: pollSeconds, after: generation)
        }
    }

    /// Renews the task's lease every third of its length until the lease is lost or a cancel arrives through the
    /// API; returns which. The one heartbeat of an attempt, whatever it is doing.
    func heartbeat(_ task: ServerTask) async throws -> String {
        while true {
            try await Task.sleep(for: .milliseconds(Int(policy.leaseSeconds * 1000 / 3)))
            let beat = try await store.heartbeat(id: task.id, attempt: task.attempt, now: Date(), policy: policy)
            if !beat.held { return "the worker lost its lease on the task" }
            if beat.cancelRequested { return "cancelled through the API" }
        }
    }

    /// Runs `body` while renewing the task's lease; a lost lease or a cancel through the API stops it.
    func holdingLease<T: Sendable>(_ task: ServerTask, _ body: @escaping @Sendable () async throws -> T) async throws
        -> T
    {
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { throw FerryError(.cancelled, try await heartbeat(task)) }
            defer { group.cancelAll() }
            guard let value = try await group.next() ?? nil else { throw CancellationError() }
            return value
        }
    }

    static func describe(_ error: any Error) -> String { (error as? FerryError)?.message ?? "\(error)" }

    /// Runs one claimed attempt to its end and records it, if the attempt still holds the task.
    public func execute(_ task: ServerTask) async {
        let started = Date()
        var logger = self.logger
        logger[metadataKey: "task"] = .string(task.id)
        logger[metadataKey: "attempt"] = .stringConvertible(task.attempt)
        let outcome: TaskOutcome
        do {
            outcome = try await attempt(task)
        } catch let error as FerryError where error.code == .cancelled {
            outcome = TaskOutcome(
                state: .cancelled, reason: error.message, runID: nil, branch: nil, commitSHA: nil, costUSD: 0)
        } catch {
            // The tenant reads this reason; the server's paths stay in the log.
            logger.error("attempt failed", metadata: ["error": .string(Self.describe(error))])
            outcome = TaskOutcome(
                state: .failed, reason: "error: \(PublicError.message(error))", runID: nil, branch: nil,
                commitSHA: nil, costUSD: 0)
        }
        if Task.isCancelled {
            // The worker is shutting down: the task goes back to the queue for another worker, not to "cancelled".
            _ = try? await Task.detached { [store] in
                try await store.release(
                    id: task.id, attempt: task.attempt,
                    reason: "attempt \(task.attempt) handed back: its worker shut down",
                    now: Date())
            }.value
            logger.notice("attempt handed back to the queue: the worker is shutting down")
            return
        }
        // Recorded even when this task is being cancelled: the store must not refuse the write.
        let recorded: Result<Bool, any Error> = await Task.detached { [store] in
            do {
                return .success(
                    try await store.finish(id: task.id, attempt: task.attempt, outcome: outcome, now: Date()))
            } catch {
                return .failure(error)
            }
        }.value
        let metadata: Logger.Metadata = [
            "status": .string(outcome.state.apiName), "cost_usd": .stringConvertible(outcome.costUSD),
            "seconds": .stringConvertible(Date().timeIntervalSince(started)),
            "run": outcome.runID.map { .string($0) } ?? "none",
        ]
        switch recorded {
        case .success(true): logger.info("task finished", metadata: metadata)
        case .success(false):
            logger.warning("attempt ended but no longer held the task; its result was not recorded", metadata: metadata)
        case .failure(let error):
            logger.error(
                "the attempt's end could not be recorded",
                metadata: metadata.merging(["error": .string(Self.describe(error))]) { $1 })
        }
    }

    func attempt(_ task: ServerTask) async throws -> TaskOutcome {
        guard let project = try await store.project(id: task.projectID) else {
            throw FerryError(.config, "the task's project \(task.projectID) no longer exists")
        }
        var forge = try await forgeWork(task, project: project)
        let checkout = try await ProjectCheckout.prepare(
            project, dataDirectory: (self.config.dataDirectory as NSString).expandingTildeInPath, policy: projects,
            environment: forge?.gitEnvironment ?? [:])
        if var work = forge {
            try await prepare(&work, project: project, repo: checkout.repo, logger: logger)
            forge = work
        }
        let base = forge?.base ?? task.base ?? checkout.base
        // The repository's own .ferry/config.toml at the task's base (its test command, timeouts, a stricter
        // sandbox), as `ferry run` reads it, between the server's config and the project's settings.
        let config = try ConfigLoader.forTask(
            self.config, repository: try? await Git(checkout.repo).run("show", "\(base):.ferry/config.toml"),
            label: "\(project.name):.ferry/config.toml at \(base)", testCommand: project.testCommand,
            maxCostUSD: task.maxCostUSD)
        let request = RunRequest(task: forge?.task ?? task.task, repo: checkout.repo, base: base)
        // One stage: a profile's model (made while the lease is held: starting the embedded model's server, or
        // waiting for another task's start, can outlast one), run through the task's control (budgets, cancel).
        @Sendable func stage(_ name: String?, _ request: RunRequest, _ limits: AgentLimits) async throws -> RunResult {
            let model = try await holdingLease(task) { try await makeModel(name) }
            var stage = config
            stage.limits = limits
            // The tool loop's record is this project's own (`ProjectRunStore`).
            let runs = ProjectRunStore(base: runStore, queue: store, tenantID: task.tenantID, projectID: project.id)
            return try await run(
                request, of: task, with: AgentRunner(model: model, store: runs, config: stage, secrets: secrets),
                control: spendControl(task, project: project, model: model.profile.model))
        }
        // A cascade is the task's or the project's model (`local>anthropic`), else the server's `[agent] cascade`
        // when neither names a model.
        let choice = task.model ?? project.model
        let cascade = choice.map { CascadePolicy.stages($0) ?? [] } ?? config.cascade
        let result =
            cascade.count >= 2
            ? try await CascadeRunner(
                profiles: cascade, limits: config.limits,
                lastPrice: cascade.last.flatMap { config.profiles[$0]?.effectivePrice }
            ).run(request) {
                try await stage($1, $2, $3)
            }
            : try await stage(choice, request, config.limits)
        var reason = result.record.reason
        if let summary = RunReport.cascadeSummary(result) { reason += " (\(summary))" }
        var pushedTo: String?
        // A forge's task always pushes: its pull request is made of the branch.
        if project.push || forge != nil, result.record.commitSHA != nil {
            do {
                pushedTo = try await push(
                    result.record.branch, to: forge?.pushBranch, of: project, in: checkout.repo,
                    environment: forge?.gitEnvironment ?? [:])
            } catch {
                reason += "; the branch could not be pushed: \((error as? FerryError)?.message ?? "\(error)")"
            }
        }
        if let forge {
            let evidence = (try? JSONEncoder().encode(ForgeEvidence.of(result))).map {
                String(decoding: $0, as: UTF8.self)
            }
            try await store.setForgeEvidence(taskID: task.id, evidence: evidence ?? "", calls: forge.calls.lines)
            await ForgeCall.append(forge.calls.all, to: result.record.id, in: runStore)
        }
        return TaskOutcome(
            state: TaskState(result.status), reason: reason, runID: result.record.id,
            branch: result.record.commitSHA == nil ? nil : result.record.branch, commitSHA: result.record.commitSHA,
            costUSD: result.totalCostUSD, diff: result.diff.isEmpty ? nil : result.diff, pushedTo: pushedTo,
            steps: result.record.steps, wallSeconds: result.record.wallSeconds)
    }

    /// Records every model call's spend as it happens, and stops the run when a budget is used up.
    func spendControl(_ task: ServerTask, project: Project, model: String) -> RunControl {
        let store = self.store
        return RunControl { spend in
            let record = SpendRecord(
                tenantID: task.tenantID, projectID: project.id, taskID: task.id, attempt: task.attempt,
                step: spend.steps, model: model, usage: spend.lastCallUsage, usd: spend.lastCallUSD, at: Date(),
                personID: task.personID)
            do {
                try await store.recordSpend(record)
                let budgets = try await store.budgets(
                    tenantID: task.tenantID, projectID: project.id, personID: task.personID, now: Date())
                // A budget this call took past its threshold: its owners hear of it on the project's webhook, once.
                for budget in BudgetPolicy.crossed(after: budgets, usd: record.usd) {
                    try? await store.enqueueNotice(
                        id: Webhooks.thresholdID(budget, task: task, now: record.at), task: task,
                        payload: Webhooks.thresholdPayload(budget, task: task), now: record.at)
                }
                return BudgetPolicy.stopReason(budgets: budgets)
            } catch {
                return "the server could not record the run's spend: \(error)"
            }
        }
    }

    /// The run and its lease's heartbeat in one scope: a lost lease or a cancel stops the run (its sandbox is
    /// killed); the run's end stops the heartbeat.
    func run(_ request: RunRequest, of task: ServerTask, with runner: AgentRunner, control: RunControl) async throws
        -> RunResult
    {
        let store = self.store
        // The task shows its run (and so its live events) as soon as the run exists: the run's first event hands its
        // id to a child of this scope, which links it.
        let (started, runStarted) = AsyncStream.makeStream(of: String.self)
        return try await withThrowingTaskGroup(of: RunResult?.self) { group in
            group.addTask { [logger] in
                do {
                    control.cancel(reason: try await heartbeat(task))
                } catch is CancellationError {
                } catch {
                    logger.warning(
                        "the lease's heartbeat failed; the run goes on",
                        metadata: ["error": .string(Self.describe(error))])
                }
                return nil
            }
            group.addTask { [logger] in
                for await runID in started {
                    do {
                        try await store.attachRun(id: task.id, attempt: task.attempt, runID: runID)
                    } catch {
                        logger.warning(
                            "the task could not be linked to its run; its events show when it ends",
                            metadata: ["run": .string(runID), "error": .string(Self.describe(error))])
                    }
                }
                return nil
            }
            group.addTask {
                defer { runStarted.finish() }
                return try await runner.run(request, control: control) { event in
                    guard case .runStarted(let run) = event.event else { return }
                    runStarted.yield(run.runID)
                }
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw FerryError(.io, "internal error: the run ended without a result")
        }
    }

    /// Delivery: the result branch goes to the repository's origin, with the worker's own credentials (its
    /// environment or git config), never the database's. Where it went, without a password.
    /// `target` is the remote branch (a follow-up's pull request branch); nil pushes to a branch of the same name. Never
    /// forced: a pull request branch someone else moved on refuses the push, and the task says so.
    func push(
        _ branch: String, to target: String? = nil, of project: Project, in repo: String,
        environment: [String: String] = [:]
    ) async throws -> String {
        let git = Git(repo)
        let remote = try await git.run("remote", "get-url", "origin").trimmingCharacters(in: .whitespacesAndNewlines)
        // A tenant's URL is reached under the same rules as its clone (protocols, no redirects, the checked address);
        // an operator's local repository pushes where its own config says.
        let options =
            ProjectCheckout.isURL(project.repo)
            ? try await ProjectCheckout.gitOptions(project.repo, policy: projects, project: project) : []
        let destination = target ?? branch
        try await git.run(
            options + ["push", "--quiet", "origin", "\(branch):refs/heads/\(destination)"], environment: environment)
        return "\(ServerAPI.redactedURL(remote)) \(destination)"
    }
}
