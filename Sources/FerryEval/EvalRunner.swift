import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation

/// What to run and where to write.
public struct EvalOptions: Sendable {
    public var suitePath: String
    public var outDirectory: String
    public var jobs: Int = 1
    public var limit: Int?
    public var instanceIDs: [String]?
    /// Apply each instance's own `patch` instead of running the agent (validates the harness).
    public var gold = false
    /// Score patches made elsewhere (SWE-bench predictions: `instance_id` → `model_patch`), e.g. by a peer agent.
    public var predictions: [String: String]?
    public var resume = false
    public var reposDirectory: String?
    public var python = "python3"
    /// Per `repo@version` test environments and the instances excluded here (see evals/swebench/environments.toml).
    public var environments = EnvironmentCatalog()
    /// Where their venvs are cached.
    public var environmentCache = EnvironmentCache.defaultRoot()
    public var testTimeoutSeconds: Double = 1800
    public var label: String?

    /// Relative paths are taken from the current directory and made absolute: worktrees are made from other
    /// directories, where a relative path would point somewhere else.
    public init(suitePath: String, outDirectory: String) {
        self.suitePath = Self.absolute(suitePath)
        self.outDirectory = Self.absolute(outDirectory)
    }

    public static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath + "/" + expanded) as NSString).standardizingPath
    }
}

/// The agent an eval runs: a model and the configuration for its runs.
public struct EvalAgent: Sendable {
    public var model: any ChatModel
    public var config: FerryConfig
    public var secrets: [String]
    /// A cascade (`ferry eval --cascade`): the profiles tried in order, each with its model; empty: `model` alone.
    public var cascade: [CascadeModel] = []

    public struct CascadeModel: Sendable {
        public var profile: String
        public var model: any ChatModel
        public init(profile: String, model: any ChatModel) {
            self.profile = profile
            self.model = model
        }
    }

    public init(model: any ChatModel, config: FerryConfig, secrets: [String] = []) {
        self.model = model
        self.config = config
        self.secrets = secrets
    }
}

public struct EvalProgress: Sendable {
    public var done: Int
    public var total: Int
    public var resolved: Int
    public var costUSD: Double
    public var etaSeconds: Double?
    public var last: InstanceResult
}

/// Runs a suite: each instance in its own worktree, scored on hidden tests in a clean copy, in parallel, each
/// isolated so one failure never stops the others.
public struct EvalRunner: Sendable {
    public let options: EvalOptions
    public let agent: EvalAgent?
    public let makeRunner: @Sendable (SandboxPolicy) throws -> any CommandRunner
    /// Where the agent's runs are recorded: the output directory's own SQLite store unless given (the team server's
    /// accuracy watch gives its run store, so each instance's trace is one click away on the dashboard).
    let runStore: (any RunStore)?
    let environments: EnvironmentCache

    public init(
        options: EvalOptions, agent: EvalAgent?, runStore: (any RunStore)? = nil,
        makeRunner: @escaping @Sendable (SandboxPolicy) throws -> any CommandRunner = {
            try BubblewrapRunner(policy: $0)
        }
    ) {
        self.options = options
        self.agent = agent
        self.runStore = runStore
        self.makeRunner = makeRunner
        environments = EnvironmentCache(root: options.environmentCache) { line in
            FileHandle.standardError.write(Data(("ferry eval: " + line + "\n").utf8))
        }
    }

    public var resultsPath: String { options.outDirectory + "/results.jsonl" }

    /// The instances this run covers, after --instances and --limit.
    public func selectedInstances() throws -> [EvalInstance] {
        var instances = try EvalInstance.load(suite: options.suitePath)
        if let ids = options.instanceIDs {
            let known = Set(instances.map(\.instanceID))
            if let missing = ids.first(where: { !known.contains($0) }) {
                throw FerryError(.usage, "instance \(missing) is not in \(options.suitePath)")
            }
            instances = instances.filter { ids.contains($0.instanceID) }
        }
        if let limit = options.limit { instances = Array(instances.prefix(limit)) }
        return instances
    }

    public func run(progress: @escaping @Sendable (EvalProgress) -> Void = { _ in }) async throws -> EvalMetrics {
        guard options.gold || options.predictions != nil || agent != nil else {
            throw FerryError(.usage, "an eval needs a model, --gold or --predictions")
        }
        let instances = try selectedInstances()
        let fm = FileManager.default
        try fm.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)
        var previous = ResultsFile.read(resultsPath)
        if !previous.isEmpty, !options.resume {
            throw FerryError(
                .usage,
                "\(resultsPath) already holds \(previous.count) results; pass --resume to continue that run, "
                    + "or choose another --out")
        }
        let selected = Set(instances.map(\.instanceID))
        previous = previous.filter { selected.contains($0.instanceID) }
        let finished = Set(previous.map(\.instanceID))
        let pending = instances.filter { !finished.contains($0.instanceID) }

        let file = try ResultsFile(path: resultsPath)
        let resolver = RepoResolver(
            suiteDirectory: ((options.suitePath as NSString).deletingLastPathComponent as NSString).standardizingPath,
            reposDirectory: options.reposDirectory, workDirectory: options.outDirectory + "/work")
        let store = try agent.map { _ in
            try runStore ?? SQLiteRunStore(path: options.outDirectory + "/ferry/ferry.sqlite")
        }
        let tally = Tally(total: instances.count, previous: previous, jobs: options.jobs)

        try await withThrowingTaskGroup(of: InstanceResult.self) { group in
            var iterator = pending.makeIterator()
            func startNext() {
                guard let instance = iterator.next() else { return }
                group.addTask { await self.evaluate(instance, resolver: resolver, store: store) }
            }
            for _ in 0..<max(1, options.jobs) { startNext() }
            while let result = try await group.next() {
                // An interrupted eval records nothing more: the instance cut short, and any that failed at once
                // because of the interruption, would otherwise stand as results that `--resume` skips.
                if Task.isCancelled {
                    group.cancelAll()
                    break
                }
                try await file.append(result)
                progress(await tally.add(result))
                startNext()
            }
        }
        await file.close()
        try Task.checkCancellation()
        let all = ResultsFile.read(resultsPath).filter { selected.contains($0.instanceID) }
        let label =
            options.label
            ?? (options.gold
                ? "gold" : options.predictions != nil ? "predictions" : agent?.model.profile.model ?? "ferry")
        let metrics = EvalMetrics(label: label, results: all)
        try EvalReport.write(metrics: metrics, results: all, options: options, to: options.outDirectory)
        return metrics
    }

    /// One instance, end to end. Never throws: whatever goes wrong is recorded on the result.
    func evaluate(_ instance: EvalInstance, resolver: RepoResolver, store: (any RunStore)?) async -> InstanceResult {
        var result = InstanceResult(
            instanceID: instance.instanceID,
            status: options.gold ? "gold" : options.predictions != nil ? "prediction" : "error")
        result.version = instance.version
        let started = ContinuousClock.now
        var instance = instance
        if let exclusion = options.environments.exclusions[instance.instanceID] {
            let dropped = Set(exclusion.tests)
            instance.failToPass.removeAll { dropped.contains($0) }
            instance.passToPass.removeAll { dropped.contains($0) }
            if exclusion.tests.isEmpty || instance.failToPass.isEmpty {
                result.status = "excluded"
                result.excluded = exclusion.reason
                return result
            }
            result.excludedTests = exclusion.tests
        }
        do {
            let (repo, base) = try await resolver.resolve(instance)
            let patch: String
            if options.gold {
                guard let gold = instance.patch, !gold.isEmpty else { throw FerryError(.usage, "no gold patch") }
                patch = gold
            } else if let predictions = options.predictions {
                patch = predictions[instance.instanceID] ?? ""
                if patch.isEmpty { result.status = "no prediction" }
            } else if let agent, let store {
                var config = agent.config
                config.dataDirectory = options.outDirectory + "/ferry"
                config.sandboxReadOnly.append(environments.root)
                if let command = instance.agentTestCmd {
                    config.testCommand = command
                } else if let spec = try options.environments.spec(for: instance) {
                    let prepared = try await environments.prepare(spec)
                    config.testCommand = prepared.agentTestCommand(
                        runner: HiddenTests.runner(for: instance), version: instance.version)
                }
                let runner = AgentRunner(
                    model: agent.model, store: store, config: config, secrets: agent.secrets, makeRunner: makeRunner)
                // The agent works on a copy holding the base and its ancestors only: never the fix in the suite
                // repository's future. The copy goes when the instance ends (the change is in the run's files).
                let isolated = options.outDirectory + "/history/" + Self.folderName(instance.instanceID)
                try await BaseOnlyRepository.make(from: repo, base: base, at: isolated)
                defer { try? FileManager.default.removeItem(atPath: isolated) }
                let request = RunRequest(task: instance.problemStatement, repo: isolated, base: base)
                let run: RunResult
                if agent.cascade.count >= 2 {
                    let (stages, frozen) = (agent.cascade, config)
                    run = try await CascadeRunner(
                        profiles: stages.map(\.profile), limits: config.limits,
                        lastPrice: stages.last?.model.profile.effectivePrice
                    ).run(request) {
                        index, _, request, limits in
                        var stage = frozen
                        stage.limits = limits
                        return try await AgentRunner(
                            model: stages[index].model, store: store, config: stage, secrets: agent.secrets,
                            makeRunner: makeRunner
                        ).run(request)
                    }
                    result.stages = run.cascade.count
                    result.profile = run.cascade.first { $0.chosen }?.profile
                    result.cascadeAtLastPriceUSD = run.cascadeAtLastPriceUSD
                } else {
                    run = try await runner.run(request)
                }
                result.status = run.status.rawValue
                result.runID = run.record.id
                // Every stage's tokens, not only the chosen one's.
                let usage = run.cascade.isEmpty ? nil : run.cascade.reduce(Usage()) { $0 + $1.usage }
                result.inputTokens = usage?.inputTokens ?? run.record.inputTokens
                result.outputTokens = usage?.outputTokens ?? run.record.outputTokens
                result.costUSD = run.totalCostUSD
                result.steps = run.cascade.isEmpty ? run.record.steps : run.cascade.reduce(0) { $0 + $1.steps }
                result.limit = run.limit?.rawValue
                patch = run.diff
            } else {
                throw FerryError(.usage, "no agent")
            }
            try await score(instance, patch: patch, repo: repo, base: base, into: &result)
        } catch {
            result.error = (error as? FerryError)?.message ?? "\(error)"
        }
        result.wallSeconds = Self.seconds(since: started)
        return result
    }

    /// An instance id as one folder name.
    static func folderName(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }.prefix(120))
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds
    }
}

/// Running totals for progress lines.
actor Tally {
    let total: Int
    let jobs: Int
    var done: Int
    var resolved: Int
    var cost: Double
    var wall: [Double] = []

    init(total: Int, previous: [InstanceResult], jobs: Int) {
        self.total = total
        self.jobs = max(1, jobs)
        done = previous.count
        resolved = previous.filter(\.resolved).count
        cost = previous.reduce(0) { $0 + $1.costUSD }
    }

    func add(_ result: InstanceResult) -> EvalProgress {
        done += 1
        if result.resolved { resolved += 1 }
        cost += result.costUSD
        wall.append(result.wallSeconds)
        let mean = wall.reduce(0, +) / Double(wall.count)
        let eta = Double(total - done) * mean / Double(jobs)
        return EvalProgress(done: done, total: total, resolved: resolved, costUSD: cost, etaSeconds: eta, last: result)
    }
}
