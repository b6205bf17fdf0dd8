import FerryCore
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation

/// Finds runs whose process died without finishing them (SIGKILL, a crash, a power cut) and finishes them as
/// `interrupted`: the partial change in the orphan worktree is committed to the run's branch, the run's files are
/// written, its tokens and cost are summed from its recorded events, and the worktree is removed. A run whose
/// process is alive, or that belongs to another machine, is left alone. `prune` also cleans what earlier versions
/// or `--keep-worktree` left behind.
public struct RunReconciler: Sendable {
    public let store: any RunStore
    public let redactor: Redactor
    public let maxFileBytes: Int

    public init(store: any RunStore, redactor: Redactor, maxFileBytes: Int = 10 * 1024 * 1024) {
        self.store = store
        self.redactor = redactor
        self.maxFileBytes = maxFileBytes
    }

    /// One run finished here.
    public struct Reconciled: Sendable, Hashable {
        public var id: String
        public var commit: String?
    }

    /// Finishes every `running` run whose process is gone. Errors on one run never stop the others.
    @discardableResult
    public func reconcile() async throws -> [Reconciled] {
        var done: [Reconciled] = []
        for run in try await store.runningRuns() {
            let owner = run.owner.flatMap(ProcessIdentity.init)
            // Runs recorded before owners were kept cannot still be going: no such Ferry is running.
            let liveness = owner?.liveness() ?? .gone
            guard liveness == .gone, owner != ProcessIdentity.current else { continue }
            if let finished = try? await finish(run, owner: owner) { done.append(finished) }
        }
        return done
    }

    /// Closes a run that a team server's queue knows is lost (its worker stopped renewing the lease, perhaps on another
    /// machine): `interrupted` with `reason`, its spend summed from its events. Its worktree, wherever it is, is left
    /// to that machine's own reconcile. A run that is no longer `running` is left as it is.
    @discardableResult
    public func closeLost(_ runID: String, reason: String) async throws -> Bool {
        guard let run = try await store.run(runID), run.status == .running else { return false }
        _ = try await finish(run, owner: nil, lostBecause: reason)
        return true
    }

    func finish(_ run: RunRecord, owner: ProcessIdentity?, lostBecause: String? = nil) async throws -> Reconciled {
        var record = run
        let worktree = run.runDirectory + "/worktree"
        let repoGit = Git(run.repo)
        var diff = ""
        var notes: [String] = []
        if lostBecause == nil, FileManager.default.fileExists(atPath: worktree + "/.git") {
            let committed = try await ChangeGuard.commit(
                git: Git(worktree), root: worktree, base: run.base, maxFileBytes: maxFileBytes, redactor: redactor
            ) { _ in
                AgentRunner.commitMessage(
                    task: run.task, outcome: AgentMachine.Outcome(status: .interrupted, reason: "interrupted"),
                    runID: run.id)
            }
            notes = committed.guarded.notes
            diff = committed.diff
            record.commitSHA = committed.sha
        }
        let events = try await store.events(of: run.id)
        let who =
            owner.map { "the Ferry process running it (pid \($0.pid)) ended" } ?? "the Ferry process running it ended"
        record.status = .interrupted
        record.reason = redactor(
            lostBecause
                ?? "\(who) without finishing it (killed, or the machine stopped); found and closed by a later start"
                + (record.commitSHA == nil ? "" : "; its partial change is committed on \(run.branch)")
                + notes.map { "; \($0)" }.joined())
        Self.fillSpend(&record, from: events)
        let result = RunResult(
            record: record, diff: redactor(diff), baseline: nil, final: nil, limit: nil, costBreakdown: CostBreakdown())
        // A run folder that cannot be written is said in the run's reason, not dropped.
        let unwritten = RunFiles.write(result, compactions: 0)
        if !unwritten.isEmpty { record.reason += "; " + redactor(unwritten.joined(separator: "; ")) }
        let event = RunEvent(
            seq: (events.last?.seq ?? 0) + 1, time: Date().timeIntervalSince1970,
            event: TraceEvent.runFinished(
                .init(
                    status: record.status, reason: record.reason, limit: nil, commit: record.commitSHA,
                    steps: record.steps,
                    usage: Usage(
                        inputTokens: record.inputTokens, outputTokens: record.outputTokens,
                        cachedInputTokens: record.cachedTokens, cacheWriteTokens: record.cacheWriteTokens),
                    costUSD: record.costUSD, wallSeconds: record.wallSeconds, runDir: run.runDirectory,
                    reconciled: true)
            ).mapStrings { redactor($0) })
        if let handle = FileHandle(forWritingAtPath: run.runDirectory + "/trace.jsonl") {
            handle.seekToEndOfFile()
            handle.write(Data((event.jsonLine + "\n").utf8))
            try? handle.close()
        }
        try? await store.append(event, to: run.id)
        try await store.update(record)
        if lostBecause != nil { return Reconciled(id: run.id, commit: nil) }

        try? await repoGit.removeWorktree(path: worktree)
        if record.commitSHA == nil { try? await repoGit.run("branch", "-D", run.branch, allowFailure: true) }
        return Reconciled(id: run.id, commit: record.commitSHA)
    }

    /// What the run spent and how long it ran, from its events (the row is only filled in at the end of a run).
    static func fillSpend(_ record: inout RunRecord, from events: [RunEvent]) {
        var usage = Usage()
        var cost = 0.0
        var steps = 0
        for case .modelReply(let reply) in events.map(\.event) {
            steps += 1
            cost += reply.costUSD
            usage += reply.usage
        }
        record.steps = steps
        record.inputTokens = usage.inputTokens
        record.outputTokens = usage.outputTokens
        record.cachedTokens = usage.cachedInputTokens
        record.cacheWriteTokens = usage.cacheWriteTokens
        record.costUSD = cost
        let last = events.last?.time ?? record.createdAt.timeIntervalSince1970
        record.wallSeconds = max(0, last - record.createdAt.timeIntervalSince1970)
        record.finishedAt = Date()
    }

    /// What `prune` cleaned.
    public struct Pruned: Sendable, Hashable {
        public var reconciled: [Reconciled] = []
        public var worktrees: [String] = []
        public var branches: [String] = []
    }

    /// Reconciles, then removes worktrees of runs that are not running (kept ones included) and `ferry/*` branches
    /// with no commit of their own (no run, or a run that made no change), in every repository the store knows.
    public func prune(dataDirectory: String) async throws -> Pruned {
        var pruned = Pruned()
        pruned.reconciled = try await reconcile()
        PidsCgroup.available?.removeStale()
        let runs = try await store.runs(limit: 100_000)
        let byID = Dictionary(runs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for run in runs where run.status != .running {
            let worktree = run.runDirectory + "/worktree"
            guard FileManager.default.fileExists(atPath: worktree) else { continue }
            try? await Git(run.repo).removeWorktree(path: worktree)
            if FileManager.default.fileExists(atPath: worktree) {
                try? FileManager.default.removeItem(atPath: worktree)
            }
            pruned.worktrees.append(worktree)
        }
        for repo in Set(runs.map(\.repo)).sorted() where FileManager.default.fileExists(atPath: repo) {
            let git = Git(repo)
            try? await git.run("worktree", "prune", allowFailure: true)
            let refs =
                (try? await git.run("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/ferry/"))
                ?? ""
            for line in refs.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { continue }
                let branch = String(parts[0])
                let id = String(branch.dropFirst("ferry/".count))
                if let run = byID[id], run.status == .running { continue }
                if let run = byID[id], run.commitSHA != nil { continue }
                // A branch with commits beyond its base is someone's work: kept, whatever the store says.
                if byID[id] == nil {
                    let own =
                        (try? await git.run(
                            "rev-list", "--count", String(parts[1]), "--not", "--exclude=refs/heads/ferry/*",
                            "--branches"))?
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    if own != "0" { continue }
                }
                if (try? await git.run("branch", "-D", branch)) != nil { pruned.branches.append(branch) }
            }
        }
        return pruned
    }
}
