import FerryAgent
import FerryCore
import FerryEval
import FerryModels
import FerryServerStore
import FerryStore
import Foundation
import Logging

/// The accuracy a customer can watch on their own code (issue 27): for each project with a watch, on its schedule and
/// within its monthly budget, the server mines the project's recent history into instances (`HistoryMiner`: commits
/// that change code and tests together, checked by running the tests without and with the commit, the history after
/// each base hidden from the agent), runs the most recent ones with the project's model (`EvalRunner`), and keeps
/// the report with the tenant's evals, where the dashboard charts resolve rate, false-verified rate and cost per
/// resolved task over time. An instance resolved by the last run and not by this one is a regression, named in the
/// report and its title.
public struct AccuracyWatch: Sendable {
    public typealias ModelProvider = @Sendable (String?) async throws -> any ChatModel

    let store: any ServerStore
    /// The server's run store: each instance's run is recorded there, so its trace opens from the dashboard.
    let runStore: any RunStore
    let dataDirectory: String
    let policy: ServerPolicy
    let config: FerryConfig
    let makeModel: ModelProvider
    var pollSeconds = 60.0
    let logger = Logger(label: "ferry.watch")

    public init(
        store: any ServerStore, runStore: any RunStore, dataDirectory: String, policy: ServerPolicy,
        config: FerryConfig, makeModel: @escaping ModelProvider
    ) {
        self.store = store
        self.runStore = runStore
        self.dataDirectory = dataDirectory
        self.policy = policy
        self.config = config
        self.makeModel = makeModel
    }

    public func run() async {
        while !Task.isCancelled {
            do {
                if try await runOnce(now: Date()) { continue }
            } catch {
                if Task.isCancelled { break }
                logger.error("watch step failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .seconds(pollSeconds))
        }
    }

    /// Runs one due watch; false when none was due.
    @discardableResult
    public func runOnce(now: Date) async throws -> Bool {
        guard var watch = try await store.claimWatch(now: now, leaseSeconds: 6 * 3600) else { return false }
        let month = BudgetPolicy.monthStart(now)
        if watch.month != month {
            watch.month = month
            watch.spentUSD = 0
        }
        var action = "watch.run"
        var detail: String
        do {
            let (id, spent, summary) = try await measure(watch, now: now)
            watch.spentUSD += spent
            watch.lastEvalID = id ?? watch.lastEvalID
            watch.lastError = nil
            detail = summary
        } catch {
            watch.lastError = (error as? FerryError)?.message ?? "\(error)"
            action = "watch.failed"
            detail = watch.lastError ?? ""
        }
        watch.lastRunAt = now
        watch.nextAt = now.addingTimeInterval(watch.everySeconds)
        try await store.recordWatch(watch)
        try await store.audit(
            AuditEntry(
                tenantID: watch.tenantID, keyID: "system", personID: Person.builtInID(tenantID: watch.tenantID),
                surface: .system, action: action, object: watch.projectID, detail: String(detail.prefix(2000)),
                remote: nil, at: now))
        return true
    }

    /// One measurement: the eval's id (nil when there was nothing to run), what it cost, and a line for the audit.
    func measure(_ watch: ProjectWatch, now: Date) async throws -> (String?, Double, String) {
        let left = watch.monthlyUSD - watch.spentUSD
        guard left > 0 else {
            throw FerryError(.config, "the watch's monthly budget of $\(watch.monthlyUSD) is spent")
        }
        guard let project = try await store.project(id: watch.projectID) else {
            throw FerryError(.config, "the project no longer exists")
        }
        guard let testCommand = project.testCommand ?? config.testCommand else {
            throw FerryError(.config, "the watch needs the project's test_command")
        }
        let checkout = try await ProjectCheckout.prepare(project, dataDirectory: dataDirectory, policy: policy)
        var options = HistoryMiner.Options(
            repo: checkout.repo, since: "\(watch.sinceDays) days ago", testCommand: testCommand)
        options.timeoutSeconds = config.testTimeoutSeconds
        // The operator's `[sandbox] read_only` (a venv the test command names) is shown to the mining runs as it is
        // to the agent's.
        options.readOnlyBinds = config.sandboxReadOnly
        let (mined, rejected) = try await HistoryMiner(options: options).mine()
        let instances = Array(mined.suffix(watch.maxInstances))
        guard !instances.isEmpty else {
            return (nil, 0, "no instance in the last \(watch.sinceDays) days (\(rejected.count) commits looked at)")
        }
        let stamp = String(Int(now.timeIntervalSince1970))
        let directory = dataDirectory + "/watch/\(project.id)/\(stamp)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        let lines = try instances.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: directory + "/suite.jsonl", atomically: true, encoding: .utf8)
        var runConfig = config
        runConfig.testCommand = nil
        // The month's budget left, shared among the instances.
        let share = left / Double(instances.count)
        runConfig.limits.maxCostUSD = min(runConfig.limits.maxCostUSD ?? share, share)
        // The watch's model, else the project's: one profile or a cascade (`local>anthropic`), else the operator's
        // `[agent] cascade`, as a task of the project would run.
        let choice = watch.model ?? project.model
        let cascade = choice.map { CascadePolicy.stages($0) ?? [] } ?? config.cascade
        var agent: EvalAgent
        if cascade.count >= 2 {
            var stages: [EvalAgent.CascadeModel] = []
            for name in cascade { stages.append(.init(profile: name, model: try await makeModel(name))) }
            agent = EvalAgent(model: stages[0].model, config: runConfig)
            agent.cascade = stages
        } else {
            agent = EvalAgent(model: try await makeModel(choice), config: runConfig)
        }
        let profile = cascade.count >= 2 ? cascade.joined(separator: ">") : choice ?? agent.model.profile.name
        let out = directory + "/out"
        let metrics = try await EvalRunner(
            options: EvalOptions(suitePath: directory + "/suite.jsonl", outDirectory: out), agent: agent,
            runStore: runStore
        ).run()
        guard let data = FileManager.default.contents(atPath: out + "/report.json"),
            case .object(var report)? = JSONValue.parse(String(decoding: data, as: UTF8.self))
        else { throw FerryError(.io, "the watch's eval wrote no report") }
        let regressions = try await Self.regressions(
            now: report["instances"] ?? .null, project: project, tenantID: watch.tenantID, store: store)
        report["watch"] = [
            "project": .string(project.id), "project_name": .string(project.name),
            "since_days": .number(Double(watch.sinceDays)), "mined": .number(Double(mined.count)),
            "rejected": .number(Double(rejected.count)), "regressions": .array(regressions.map { .string($0) }),
            "profile": .string(profile),
            // The instances' `run_id`s are runs in the server's run store. Imports cannot claim this (`ServerAPI.
            // importable` drops `watch`), so the dashboard opens a run only from a report the server wrote.
            "traces": true,
        ]
        let name =
            Self.evalName(project.name)
            + (regressions.isEmpty ? "" : " (\(regressions.count) regression\(regressions.count == 1 ? "" : "s"))")
        let id = try await store.addEval(
            tenantID: watch.tenantID, name: name, report: JSONValue.object(report).jsonString, at: now)
        let spent = (report["instances"]?.arrayItems ?? []).reduce(0.0) { $0 + ($1["cost_usd"]?.doubleValue ?? 0) }
        let summary =
            "\(metrics.resolved) of \(metrics.total) resolved, \(metrics.falseVerified) false-verified, "
            + "$\(String(format: "%.4f", spent)); regressions: \(regressions.isEmpty ? "none" : regressions.joined(separator: ", "))"
        return (id, spent, summary)
    }

    static func evalName(_ project: String) -> String { "watch: \(project)" }

    /// Instances the project's last watch resolved that this one did not.
    static func regressions(now instances: JSONValue, project: Project, tenantID: String, store: any ServerStore)
        async throws -> [String]
    {
        let previous = try await store.evals(tenantID: tenantID)
            .filter { $0.name == evalName(project.name) || $0.name.hasPrefix(evalName(project.name) + " (") }
            .max { $0.at < $1.at }
        guard let previous, let before = JSONValue.parse(previous.report)?["instances"] else { return [] }
        let resolvedBefore = Set(
            before.arrayItems.filter { $0["resolved"]?.boolValue == true }.compactMap { $0["instance_id"]?.stringValue }
        )
        return instances.arrayItems.filter {
            $0["resolved"]?.boolValue != true && resolvedBefore.contains($0["instance_id"]?.stringValue ?? "")
        }.compactMap { $0["instance_id"]?.stringValue }.sorted()
    }
}
