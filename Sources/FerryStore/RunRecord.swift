import FerryCore
import Foundation

/// One run as the store keeps it.
public struct RunRecord: Codable, Hashable, Sendable {
    public var id: String
    public var repo: String
    public var base: String
    public var branch: String
    public var task: String
    public var model: String
    public var provider: String
    public var status: RunStatus
    public var reason: String
    public var steps: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var cachedTokens: Int
    public var cacheWriteTokens: Int
    public var costUSD: Double
    public var wallSeconds: Double
    public var commitSHA: String?
    public var sandbox: String
    public var runDirectory: String
    public var summary: String
    public var createdAt: Date
    public var finishedAt: Date?
    /// The process running it (`ProcessIdentity`), so a later start can tell a live run from one whose process died.
    public var owner: String?
    /// Whether the tool loop ran or was kept from starting (nil: the run never came to it), for `LoopGate`.
    public var toolLoop: LoopGate.Use?
    /// Whether the attempt asked for a reply after its first, or was kept from it (nil: it never came to that), for
    /// `LoopGate`.
    public var retries: LoopGate.Use?
    /// Whether the change the attempt settled on came from a reply after its first.
    public var retryKept: Bool?

    public init(
        id: String, repo: String, base: String, branch: String, task: String, model: String, provider: String,
        sandbox: String, runDirectory: String, createdAt: Date = Date()
    ) {
        self.id = id
        self.repo = repo
        self.base = base
        self.branch = branch
        self.task = task
        self.model = model
        self.provider = provider
        self.status = .running
        self.reason = ""
        self.steps = 0
        self.inputTokens = 0
        self.outputTokens = 0
        self.cachedTokens = 0
        self.cacheWriteTokens = 0
        self.costUSD = 0
        self.wallSeconds = 0
        self.commitSHA = nil
        self.sandbox = sandbox
        self.runDirectory = runDirectory
        self.summary = ""
        self.createdAt = createdAt
        self.finishedAt = nil
        self.owner = nil
    }
}

/// Where runs and their events are kept. SQLite is the embedded default.
public protocol RunStore: Sendable {
    func insert(_ run: RunRecord) async throws
    func update(_ run: RunRecord) async throws
    func append(_ event: RunEvent, to runID: String) async throws
    func runs(limit: Int) async throws -> [RunRecord]
    /// A run by its id or a unique prefix of it.
    func run(_ idOrPrefix: String) async throws -> RunRecord?
    /// The runs with these exact ids (no prefixes), in no particular order; an id the store does not have is left
    /// out. One read for many: the team server's worker looks up to `LoopGate.fetched` runs when a task starts.
    func runs(ids: [String]) async throws -> [RunRecord]
    func events(of runID: String) async throws -> [RunEvent]
    /// Runs the store still has as `running`, oldest first.
    func runningRuns() async throws -> [RunRecord]
    /// For each of `stages`, the finished runs of `model` (from `provider`) that came to it, newest first, at most
    /// `limit`: what `LoopGate` decides by, read together so a store that must look far back does it once. A store
    /// shared by tenants keeps none (one tenant's runs must not steer another's), which leaves the gates open.
    func gateHistories(_ stages: Set<LoopGate.Stage>, model: String, provider: String, limit: Int) async throws
        -> [LoopGate.Stage: [LoopGate.Past]]
}

extension RunStore {
    /// One read per id, for a store that has no batch read.
    public func runs(ids: [String]) async throws -> [RunRecord] {
        var found: [RunRecord] = []
        for id in ids { if let run = try await run(id), run.id == id { found.append(run) } }
        return found
    }

    public func gateHistories(_ stages: Set<LoopGate.Stage>, model: String, provider: String, limit: Int)
        async throws -> [LoopGate.Stage: [LoopGate.Past]]
    { [:] }

    /// One stage's record (`gateHistories`).
    public func gateHistory(_ stage: LoopGate.Stage, model: String, provider: String, limit: Int) async throws
        -> [LoopGate.Past]
    {
        try await gateHistories([stage], model: model, provider: provider, limit: limit)[stage] ?? []
    }
}

extension LoopGate.Past {
    /// A finished run's part in `stage`'s record. A run stopped from outside says nothing of either stage.
    ///
    /// For the tool loop, a change kept means verified, or handed back without proof (`unverified` with a commit);
    /// the partial diff a run stopped by a limit, or with failing tests, leaves on its branch is not one.
    ///
    /// For the attempt's later replies, only a verified change that came from one of them is kept, and an unverified
    /// one from them says nothing either way: the first reply had already fallen short, and a later reply's change the
    /// tests cannot prove is the weakest evidence a run has (of the nine the 1.5B model handed back over sessions
    /// 20–23, none resolved its task, and counting them as kept held the gate open on every suite). A change kept
    /// from the first reply, after later replies were asked for, is theirs to have lost.
    public init?(_ run: RunRecord, stage: LoopGate.Stage) {
        guard run.status != .running, run.status != .interrupted,
            let use = stage == .toolLoop ? run.toolLoop : run.retries
        else { return nil }
        let kept = run.status == .verified || (run.status == .unverified && run.commitSHA != nil)
        switch stage {
        case .toolLoop:
            self.init(use: use, keptChange: kept)
        case .retries:
            let fromLater = kept && run.retryKept == true
            if fromLater && run.status != .verified { return nil }
            self.init(use: use, keptChange: fromLater)
        }
    }
}
