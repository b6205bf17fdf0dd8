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
    let environments: EnvironmentCache

    public init(
        options: EvalOptions, agent: EvalAgent?,
        makeRunner: @escaping @Sendable (SandboxPolicy) throws -> any CommandRunner = { try BubblewrapRunner(policy: $0) }
    ) {
        self.options = options
        self.agent = agent
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
                .usage, "\(resultsPath) already holds \(previous.count) results; pass --resume to continue that run, "
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
        let store = try agent.map { _ in try SQLiteRunStore(path: options.outDirectory + "/ferry/ferry.sqlite") }
        let tally = Tally(total: instances.count, previous: previous, jobs: options.jobs)

        try await withThrowingTaskGroup(of: InstanceResult.self) { group in
            var iterator = pending.makeIterator()
            func startNext() {
                guard let instance = iterator.next() else { return }
                group.addTask { await self.evaluate(instance, resolver: resolver, store: store) }
            }
            for _ in 0..<max(1, options.jobs) { startNext() }
            while let result = try await group.next() {
                try await file.append(result)
                progress(await tally.add(result))
                startNext()
            }
        }
        await file.close()
        let all = ResultsFile.read(resultsPath).filter { selected.contains($0.instanceID) }
        let label = options.label ?? (options.gold ? "gold" : options.predictions != nil ? "predictions" : agent?.model.profile.model ?? "ferry")
        let metrics = EvalMetrics(label: label, results: all)
        try EvalReport.write(metrics: metrics, results: all, options: options, to: options.outDirectory)
        return metrics
    }

    /// One instance, end to end. Never throws: whatever goes wrong is recorded on the result.
    func evaluate(_ instance: EvalInstance, resolver: RepoResolver, store: (any RunStore)?) async -> InstanceResult {
        var result = InstanceResult(
            instanceID: instance.instanceID, status: options.gold ? "gold" : options.predictions != nil ? "prediction" : "error")
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
                if let command = instance.agentTestCmd { config.testCommand = command }
                let runner = AgentRunner(
                    model: agent.model, store: store, config: config, secrets: agent.secrets, makeRunner: makeRunner)
                let run = try await runner.run(RunRequest(task: instance.problemStatement, repo: repo, base: base))
                result.status = run.status.rawValue
                result.runID = run.record.id
                result.inputTokens = run.record.inputTokens
                result.outputTokens = run.record.outputTokens
                result.costUSD = run.record.costUSD
                result.steps = run.record.steps
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

    /// Reads SWE-bench predictions (JSONL with `instance_id` and `model_patch`).
    public static func loadPredictions(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw FerryError(.usage, "cannot read \(path)") }
        var predictions: [String: String] = [:]
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            guard let json = JSONValue.parse(String(line)), let id = json["instance_id"]?.stringValue else {
                throw FerryError(.usage, "\(path):\(number + 1): not a prediction (needs instance_id and model_patch)")
            }
            predictions[id] = json["model_patch"]?.stringValue ?? ""
        }
        return predictions
    }

    /// Applies the patch and then the hidden tests to a clean copy at the base commit, and runs the tests.
    func score(_ instance: EvalInstance, patch: String, repo: String, base: String, into result: inout InstanceResult) async throws {
        let directory = options.outDirectory + "/work/score-" + instance.instanceID.replacingOccurrences(of: "/", with: "_")
        let git = Git(repo)
        try? await git.removeWorktree(path: directory)
        try? FileManager.default.removeItem(atPath: directory)
        try await git.run("worktree", "add", "-q", "--detach", directory, base)
        do {
            try await scoreInWorktree(instance, patch: patch, directory: directory, repoGit: git, into: &result)
        } catch {
            try? await git.removeWorktree(path: directory)
            throw error
        }
        try? await git.removeWorktree(path: directory)
    }

    /// The paths a unified diff changes (both sides of each `diff --git` header).
    static func files(touchedBy patch: String) -> [String] {
        var paths: [String] = []
        for line in patch.split(separator: "\n") where line.hasPrefix("diff --git ") {
            let parts = line.dropFirst("diff --git ".count).split(separator: " ")
            for part in parts where part.hasPrefix("a/") || part.hasPrefix("b/") {
                let path = String(part.dropFirst(2))
                if !paths.contains(path) { paths.append(path) }
            }
        }
        return paths
    }

    private func scoreInWorktree(
        _ instance: EvalInstance, patch: String, directory: String, repoGit git: Git, into result: inout InstanceResult
    ) async throws {
        let scoring = Git(directory)
        if !patch.isEmpty {
            guard try await apply(patch, in: scoring, name: "model.patch") else {
                result.patchApplied = false
                return
            }
        }
        result.patchApplied = !patch.isEmpty
        if !instance.testPatch.isEmpty {
            // As SWE-bench's harness does: the files the test patch touches go back to the base first, so tests the
            // agent added to the same files cannot conflict with the official ones.
            try await scoring.reset(Self.files(touchedBy: instance.testPatch), to: "HEAD")
            guard try await apply(instance.testPatch, in: scoring, name: "test.patch") else {
                throw FerryError(.git, "the test patch does not apply on top of the change")
            }
        }
        let commonGitDir = try await git.run("rev-parse", "--path-format=absolute", "--git-common-dir")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var environment: PreparedEnvironment?
        if let spec = try options.environments.spec(for: instance) { environment = try await environments.prepare(spec) }
        let variables = environment?.variables(scoringCopy: directory, hostPath: ProcessInfo.processInfo.environment["PATH"]) ?? [:]
        let runner = try makeRunner(
            SandboxPolicy(
                workspace: directory, readOnlyPaths: [directory + "/.git", commonGitDir], environment: variables,
                // The venvs live in Ferry's cache, which the sandbox hides; the scoring copy needs them.
                readOnlyBinds: [environments.root]))
        if let setup = environment?.spec.setup {
            let script = setup.replacingOccurrences(of: "{version}", with: instance.version ?? "0")
            let output = try await runner.run(CommandRequest(script: script, workingDirectory: directory, timeoutSeconds: 600))
            guard output.succeeded else { throw FerryError(.io, "environment setup failed: \(output.output.suffix(600))") }
        }
        if let setup = instance.setup, !setup.isEmpty {
            let output = try await runner.run(CommandRequest(script: setup, workingDirectory: directory, timeoutSeconds: options.testTimeoutSeconds))
            guard output.succeeded else {
                throw FerryError(.io, "setup failed: \(output.output.suffix(600))")
            }
        }
        let (statuses, log) = try await HiddenTests.run(
            instance, in: directory, with: runner, python: environment == nil ? options.python : "python",
            timeout: options.testTimeoutSeconds, prologue: environment?.servicesPrologue ?? "")
        try? Data(log.utf8).write(to: URL(fileURLWithPath: options.outDirectory + "/work/\(instance.instanceID.replacingOccurrences(of: "/", with: "_")).test.log"))
        result.failToPass = Dictionary(uniqueKeysWithValues: instance.failToPass.map { ($0, statuses[$0] ?? false) })
        result.passToPass = Dictionary(uniqueKeysWithValues: instance.passToPass.map { ($0, statuses[$0] ?? false) })
        result.resolved = !patch.isEmpty && result.failToPass.values.allSatisfy { $0 } && result.passToPass.values.allSatisfy { $0 }
    }

    private func apply(_ patch: String, in git: Git, name: String) async throws -> Bool {
        let file = git.directory + "/../" + (git.directory as NSString).lastPathComponent + "." + name
        try Data(patch.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        for arguments in [["apply", "--whitespace=nowarn", file], ["apply", "--whitespace=nowarn", "--3way", file]] {
            if (try? await git.run(arguments)) != nil { return true }
        }
        let fallback = try await HostCommand.run("patch", ["-p1", "--batch", "--fuzz=3", "-i", file], in: git.directory)
        return fallback.status == 0
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

/// `ferry eval validate`: each task's gold patch must resolve it, and at the base its FAIL_TO_PASS tests must fail.
public struct ValidationResult: Sendable, Hashable {
    public var instanceID: String
    public var goldResolves: Bool
    public var baseFails: Bool
    public var problem: String?
    public var valid: Bool { goldResolves && baseFails && problem == nil }
}

extension EvalRunner {
    public func validate(progress: @escaping @Sendable (ValidationResult) -> Void = { _ in }) async throws -> [ValidationResult] {
        let instances = try selectedInstances()
        try FileManager.default.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)
        let resolver = RepoResolver(
            suiteDirectory: ((options.suitePath as NSString).deletingLastPathComponent as NSString).standardizingPath,
            reposDirectory: options.reposDirectory, workDirectory: options.outDirectory + "/work")
        return try await withThrowingTaskGroup(of: ValidationResult.self) { group in
            var iterator = instances.makeIterator()
            func startNext() {
                guard let instance = iterator.next() else { return }
                group.addTask {
                    var check = ValidationResult(instanceID: instance.instanceID, goldResolves: false, baseFails: false)
                    do {
                        let (repo, base) = try await resolver.resolve(instance)
                        guard let gold = instance.patch, !gold.isEmpty else { throw FerryError(.usage, "no gold patch") }
                        var withGold = InstanceResult(instanceID: instance.instanceID, status: "gold")
                        try await score(instance, patch: gold, repo: repo, base: base, into: &withGold)
                        check.goldResolves = withGold.resolved
                        var atBase = InstanceResult(instanceID: instance.instanceID, status: "base")
                        try await score(instance, patch: "", repo: repo, base: base, into: &atBase)
                        check.baseFails = !atBase.failToPass.isEmpty && atBase.failToPass.values.allSatisfy { !$0 }
                        if !check.goldResolves {
                            let failing = (withGold.failToPass.merging(withGold.passToPass) { a, _ in a }).filter { !$0.value }.keys.sorted()
                            check.problem = "gold patch leaves failing: \(failing.prefix(5).joined(separator: ", "))"
                        } else if !check.baseFails {
                            let passing = atBase.failToPass.filter(\.value).keys.sorted()
                            check.problem = "FAIL_TO_PASS already passes at the base: \(passing.prefix(5).joined(separator: ", "))"
                        }
                    } catch {
                        check.problem = (error as? FerryError)?.message ?? "\(error)"
                    }
                    return check
                }
            }
            for _ in 0..<max(1, options.jobs) { startNext() }
            var checks: [ValidationResult] = []
            while let check = try await group.next() {
                progress(check)
                checks.append(check)
                startNext()
            }
            return checks.sorted { $0.instanceID < $1.instanceID }
        }
    }
}
