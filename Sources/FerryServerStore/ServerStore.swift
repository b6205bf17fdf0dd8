import FerryCore
import Foundation

/// A team, its members' keys and its projects.
public struct Tenant: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var createdAt: Date
}

public enum Role: String, Codable, Sendable, CaseIterable {
    case admin, member, viewer
    /// Whether the role may create, cancel and retry.
    public var canWrite: Bool { self != .viewer }
}

/// Who a request is: the key's (or session's) tenant, the role it acts with (never more than its owner's), the key
/// and the person or service account it belongs to.
public struct Principal: Sendable, Hashable {
    public var tenantID: String
    public var role: Role
    /// The key that made the request; for a session without a key (a sign-in through the identity provider), the
    /// session's id (`ses_…`).
    public var keyID: String
    public var personID: String?

    public init(tenantID: String, role: Role, keyID: String, personID: String? = nil) {
        self.tenantID = tenantID
        self.role = role
        self.keyID = keyID
        self.personID = personID
    }
}

/// A repository a tenant runs tasks on.
public struct Project: Codable, Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var name: String
    /// A local path or a git URL.
    public var repo: String
    public var base: String
    public var model: String?
    public var testCommand: String?
    public var createdAt: Date
    /// Called with each task's end, signed with `webhookSecret` (which is shown once, at create).
    public var webhookURL: String?
    public var webhookSecret: String?
    /// Push each result branch to the repository's `origin` (credentials from the worker's environment).
    public var push: Bool

    public init(
        id: String, tenantID: String, name: String, repo: String, base: String, model: String?, testCommand: String?,
        createdAt: Date, webhookURL: String? = nil, webhookSecret: String? = nil, push: Bool = false
    ) {
        self.webhookURL = webhookURL
        self.webhookSecret = webhookSecret
        self.push = push
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.repo = repo
        self.base = base
        self.model = model
        self.testCommand = testCommand
        self.createdAt = createdAt
    }
}

/// Which tasks a list shows. Every field narrows; nil is "any".
public struct TaskFilter: Sendable, Hashable {
    /// `.queued` includes tasks waiting for a retry.
    public var state: TaskState?
    public var projectID: String?
    /// The API key that created them.
    public var createdBy: String?
    /// Case-insensitive text in the task.
    public var text: String?
    public var since: Date?
    public var until: Date?

    public init(
        state: TaskState? = nil, projectID: String? = nil, createdBy: String? = nil, text: String? = nil,
        since: Date? = nil,
        until: Date? = nil
    ) {
        self.state = state
        self.projectID = projectID
        self.createdBy = createdBy
        self.text = text
        self.since = since
        self.until = until
    }

    /// The stored states it takes in.
    var states: [String] {
        state.map { $0 == .queued ? ["queued", "retryable"] : [$0.rawValue] } ?? TaskState.allCases.map(\.rawValue)
    }
}

/// What `POST /v1/tasks` asks for.
public struct NewTask: Sendable, Hashable {
    public var projectID: String
    public var task: String
    public var base: String?
    public var model: String?
    public var maxCostUSD: Double?
    public var maxAttempts: Int
    public var priority: Int
    public var idempotencyKey: String?
    /// The API key that creates it.
    public var createdBy: String?
    /// The task it retries.
    public var retryOf: String?
    /// Whom it is for: the creating key's owner.
    public var personID: String?

    public init(
        projectID: String, task: String, base: String? = nil, model: String? = nil, maxCostUSD: Double? = nil,
        maxAttempts: Int = 3, priority: Int = 0, idempotencyKey: String? = nil, createdBy: String? = nil,
        retryOf: String? = nil, personID: String? = nil
    ) {
        self.personID = personID
        self.createdBy = createdBy
        self.retryOf = retryOf
        self.projectID = projectID
        self.task = task
        self.base = base
        self.model = model
        self.maxCostUSD = maxCostUSD
        self.maxAttempts = maxAttempts
        self.priority = priority
        self.idempotencyKey = idempotencyKey
    }
}

/// The server's source of truth, as one value: tenants and keys, projects, the task queue, audit, the webhook outbox,
/// budgets, the dashboard's records and the counts for `/metrics`. The embedded store is SQLite; PostgreSQL (for
/// workers on many machines) implements the same protocols. Each part of the server asks for the parts it uses
/// (a worker for the queue, projects and budgets; the webhook dispatcher for the outbox).
public protocol ServerStore: TenantStore, PeopleStore, GroupStore, DeviceGrantStore, ForgeStore, WatchStore,
    ProjectStore,
    TaskQueue,
    AuditStore,
    WebhookOutbox, BudgetStore,
    DashboardStore, StatsSource
{}

/// Tenants and their API keys.
public protocol TenantStore: Sendable {
    func createTenant(name: String) async throws -> Tenant
    func tenant(named name: String) async throws -> Tenant?
    /// A new key for the tenant, owned by `new.ownerID` (nil: the tenant's built-in service account); the plaintext
    /// is returned once and only its hash is kept. An owner not in the tenant is a `FerryError(.usage)`.
    func createKey(_ new: NewKey, tenantID: String, now: Date) async throws -> (id: String, key: String)
    /// The key's principal while it works (`KeyRules.effectiveRole`): not revoked, not expired, its owner active.
    func authenticate(_ key: String, now: Date) async throws -> Principal?
    /// The tenant's keys (never their hashes).
    func keys(tenantID: String) async throws -> [APIKeyInfo]
    /// Revokes a key of the tenant's; false when there is no such live key.
    func revokeKey(id: String, tenantID: String, now: Date) async throws -> Bool
    /// A successor for a live key of the tenant's (same owner, role and name; `KeyRules.rotation`'s expiries), the
    /// old one ending after `grace` seconds; nil when there is no such live key.
    func rotateKey(id: String, tenantID: String, grace: Double, now: Date) async throws -> (id: String, key: String)?
}

extension TenantStore {
    /// A key owned by the tenant's built-in service account.
    public func createKey(tenantID: String, role: Role) async throws -> (id: String, key: String) {
        try await createKey(NewKey(role: role), tenantID: tenantID, now: Date())
    }

    public func authenticate(_ key: String) async throws -> Principal? {
        try await authenticate(key, now: Date())
    }
}

/// The repositories tenants run tasks on.
public protocol ProjectStore: Sendable {
    func createProject(_ project: Project) async throws -> Project
    /// A tenant's project by id or name; nil for another tenant's.
    func project(_ idOrName: String, tenantID: String) async throws -> Project?
    func project(id: String) async throws -> Project?
    func projects(tenantID: String) async throws -> [Project]
    /// Every tenant's projects with a local path (one path belongs to one tenant; the server checks across tenants).
    func localProjects() async throws -> [Project]
}

/// The task queue. What each step does to a task is decided by `QueueRules` (pure, tested alone); a back end only
/// picks the next task, applies the rule's `TaskChange` inside one transaction, and keeps the attempt's row.
public protocol TaskQueue: Sendable {
    /// Signalled when there may be work for an idle worker; `listenForWork` feeds it from other processes.
    var workSignal: WorkSignal { get }
    /// Feeds `workSignal` with other processes' signals until cancelled (PostgreSQL's LISTEN); returns at once
    /// where every writer is in this process.
    func listenForWork() async
    /// Creates a queued task, or with an idempotency key already used by the tenant, returns that task
    /// (`created: false`).
    func createTask(_ new: NewTask, tenantID: String, now: Date) async throws -> (task: ServerTask, created: Bool)
    /// A tenant's task; nil for another tenant's.
    func task(_ id: String, tenantID: String) async throws -> ServerTask?
    func task(id: String) async throws -> ServerTask?
    /// The tenant's task created with this `Idempotency-Key`, if any.
    func task(idempotencyKey: String, tenantID: String) async throws -> ServerTask?
    /// A tenant's tasks matching `filter`, newest first, after the cursor (a task id) when given, without their diffs.
    func tasks(tenantID: String, filter: TaskFilter, limit: Int, after: String?) async throws -> [ServerTask]
    /// Claims the next runnable task for `worker`, starting a new attempt with a lease.
    func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask?
    /// Renews the lease of the attempt `worker` holds. False when the lease is lost (rescued, or finished); then
    /// the worker must stop. Also says whether the task's cancellation was asked for.
    func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws -> (
        held: Bool, cancelRequested: Bool
    )
    /// Links the attempt to its run as soon as the run exists, so its events can be followed live.
    func attachRun(id: String, attempt: Int, runID: String) async throws
    /// Records the attempt's result, only if it still holds the task (fencing). False when it does not.
    func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool
    /// Puts tasks whose lease ran out back (retryable with backoff) or fails them; returns them as they were (the
    /// lost attempt, its worker and its run).
    func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [ServerTask]
    /// Hands a running attempt back to the queue without a result (the worker is shutting down): the task is
    /// claimable again at once. False when the attempt no longer holds it.
    func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool
    /// Asks for a task's cancellation: a queued task ends at once, a running one at its worker's next heartbeat.
    func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask?
}

/// Who did what: every action on a tenant's objects, append-only, each entry chained to the one before by hash
/// (`AuditChain`), so an edit, a deletion or a reordering shows when the chain is checked.
public protocol AuditStore: Sendable {
    /// Appends the entry to its tenant's chain, in one transaction with the chain's head; returns it sealed.
    @discardableResult func audit(_ entry: AuditEntry) async throws -> AuditEntry
    /// The newest entries first, narrowed by `filter`.
    func auditLog(tenantID: String, filter: AuditFilter, limit: Int) async throws -> [AuditEntry]
    /// The chain in order, from the entry after `after` (a `seq`), for export and for checking.
    func auditChain(tenantID: String, after: Int, limit: Int) async throws -> [AuditEntry]
    /// Where the tenant's chain stands: its last entry, and where it starts after retention pruned the oldest.
    func auditHead(tenantID: String) async throws -> AuditHead
    /// Retention: removes every tenant's entries older than `before`, keeping the last removed entry's place and
    /// hash as the chain's new start. Returns how many went.
    func pruneAudit(before: Date) async throws -> Int
    /// The tenants with an audit trail (for checking every chain).
    func auditedTenants() async throws -> [String]
    /// Sets (or with nil removes) the tenant's audit sink: a URL its entries are pushed to, in order, signed with
    /// `secret` (sealed). A new sink starts after the chain's current head unless `fromStart`.
    func setAuditSink(tenantID: String, url: String?, secret: String?, fromStart: Bool) async throws
    func auditSinks() async throws -> [AuditSink]
    /// Records a push: the last entry it carried (`after`), or its failure and when to try again.
    func recordAuditPush(tenantID: String, after: Int?, error: String?, retryAt: Date?) async throws
}

/// Where a tenant's audit entries are pushed, and how far the push has got.
public struct AuditSink: Sendable, Hashable {
    public var tenantID: String
    public var url: String
    /// Sealed (`SecretBox`) when the server has a key.
    public var secret: String
    /// The last entry delivered.
    public var after: Int
    public var failures: Int
    public var nextAt: Date
    public var lastError: String?

    public init(
        tenantID: String, url: String, secret: String, after: Int, failures: Int, nextAt: Date, lastError: String?
    ) {
        self.tenantID = tenantID
        self.url = url
        self.secret = secret
        self.after = after
        self.failures = failures
        self.nextAt = nextAt
        self.lastError = lastError
    }
}

extension AuditStore {
    public func auditLog(tenantID: String, limit: Int) async throws -> [AuditEntry] {
        try await auditLog(tenantID: tenantID, filter: AuditFilter(), limit: limit)
    }
}

/// Which entries an audit search shows; every field narrows, nil is "any".
public struct AuditFilter: Sendable, Hashable {
    /// An action, or its family with a trailing dot (`task.` is every task action).
    public var action: String?
    public var personID: String?
    public var object: String?
    public var surface: Surface?
    public var since: Date?
    public var until: Date?
    /// Entries before this `seq` (the next page of a search).
    public var before: Int?

    public init(
        action: String? = nil, personID: String? = nil, object: String? = nil, surface: Surface? = nil,
        since: Date? = nil, until: Date? = nil, before: Int? = nil
    ) {
        self.action = action
        self.personID = personID
        self.object = object
        self.surface = surface
        self.since = since
        self.until = until
        self.before = before
    }
}

/// Where a tenant's chain stands: its last entry (`seq` 0 and the genesis hash when empty), and the entry before its
/// first stored one (what retention pruned; 0 and the genesis hash when nothing was).
public struct AuditHead: Sendable, Hashable {
    public var seq: Int
    public var hash: String
    public var startSeq: Int
    public var startHash: String

    public init(
        seq: Int = 0, hash: String = AuditChain.genesis, startSeq: Int = 0, startHash: String = AuditChain.genesis
    ) {
        self.seq = seq
        self.hash = hash
        self.startSeq = startSeq
        self.startHash = startHash
    }
}

/// The webhook outbox: deliveries are queued with the task's end, in its transaction.
public protocol WebhookOutbox: Sendable {
    /// Claims the next due webhook delivery for a while (`leaseSeconds`), counting the attempt.
    func claimDelivery(now: Date, leaseSeconds: Double) async throws -> Delivery?
    /// Records an attempt: delivered, or due again at `retryAt`, or failed for good (neither).
    func recordDelivery(
        id: String, attempt: Int, status: Int?, error: String?, delivered: Bool, retryAt: Date?, now: Date
    ) async throws
    /// Queues a notice (`payload`, under the delivery id `id`) for the project's webhook of `task`; a notice with
    /// the same id is queued once. Nothing when the project has no webhook.
    func enqueueNotice(id: String, task: ServerTask, payload: String, now: Date) async throws
    /// A task's deliveries and their attempts; empty for another tenant's task.
    func deliveries(taskID: String, tenantID: String) async throws -> [(Delivery, [DeliveryAttempt])]
}

/// Counts for `/metrics`, from the database, so every API server reports the same and a restart loses nothing.
public protocol StatsSource: Sendable {
    func stats() async throws -> ServerStats
}

/// Budgets and spend.
public protocol BudgetStore: Sendable {
    /// Sets (or with nil removes) a budget: the tenant's, a project's, a person's or a group's.
    func setBudget(tenantID: String, scope: BudgetScope, monthlyUSD: Double?) async throws
    /// The budgets that apply to a task of `projectID` for `personID` (the tenant's, the project's, the person's and
    /// each of their groups'), with this month's spend against each.
    func budgets(tenantID: String, projectID: String?, personID: String?, now: Date) async throws -> [BudgetStatus]
    /// Every budget of the tenant, with this month's spend.
    func allBudgets(tenantID: String, now: Date) async throws -> [BudgetStatus]
    /// This month's spend of each person of the tenant who spent anything.
    func spendByPerson(tenantID: String, now: Date) async throws -> [String: Double]
    /// Records one model call's spend, once: a repeat of (task, attempt, step) is ignored.
    func recordSpend(_ spend: SpendRecord) async throws
}

extension BudgetStore {
    public func setBudget(tenantID: String, projectID: String?, monthlyUSD: Double?) async throws {
        try await setBudget(
            tenantID: tenantID, scope: projectID.map { .project($0) } ?? .tenant, monthlyUSD: monthlyUSD)
    }

    public func budgets(tenantID: String, projectID: String?, now: Date) async throws -> [BudgetStatus] {
        try await budgets(tenantID: tenantID, projectID: projectID, personID: nil, now: now)
    }
}

/// One model call's cost, keyed by the attempt it belongs to, so a rescued task's spend counts once per attempt.
public struct SpendRecord: Sendable, Hashable {
    public var tenantID: String
    public var projectID: String
    public var taskID: String
    public var attempt: Int
    public var step: Int
    public var model: String
    public var usage: Usage
    public var usd: Double
    public var at: Date
    /// The person or service account the spend is for (the task's creator's owner, or who asked).
    public var personID: String?

    public init(
        tenantID: String, projectID: String, taskID: String, attempt: Int, step: Int, model: String, usage: Usage,
        usd: Double,
        at: Date, personID: String? = nil
    ) {
        self.personID = personID
        self.tenantID = tenantID
        self.projectID = projectID
        self.taskID = taskID
        self.attempt = attempt
        self.step = step
        self.model = model
        self.usage = usage
        self.usd = usd
        self.at = at
    }
}

public struct APIKeyInfo: Sendable, Hashable {
    public var id: String
    public var role: Role
    public var createdAt: Date
    public var revokedAt: Date?
    /// The person or service account it belongs to.
    public var ownerID: String
    public var name: String
    public var expiresAt: Date?

    public init(
        id: String, role: Role, createdAt: Date, revokedAt: Date?, ownerID: String, name: String, expiresAt: Date?
    ) {
        self.id = id
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.ownerID = ownerID
        self.name = name
        self.expiresAt = expiresAt
    }
}

/// Where an action came from.
public enum Surface: String, Codable, Sendable, CaseIterable {
    /// The HTTP API (`/v1`), the dashboard's pages, the MCP endpoint, the OpenAI-style chat endpoint, the identity
    /// provider's SCIM calls, a sign-in through the identity provider, a forge's webhooks and the calls Ferry makes to
    /// a forge, and the server itself (retention, upgrades).
    case api, dashboard, mcp, chat, scim, signin, forge, system
}

/// One action in a tenant's audit trail: who (the person or service account, the key, the surface and the address),
/// what, on which object, when. The store seals it into the tenant's chain (`AuditChain`): its place (`seq`), the
/// hash of the entry before it and its own hash.
public struct AuditEntry: Sendable, Hashable {
    public var tenantID: String
    /// The key that made it (or the session, `ses_…`, of a sign-in without a key).
    public var keyID: String
    /// The person or service account the key belongs to.
    public var personID: String?
    public var surface: Surface
    /// e.g. `task.create`, `budget.set`.
    public var action: String
    /// The object's id.
    public var object: String
    public var detail: String
    /// The client's address, when known.
    public var remote: String?
    public var at: Date
    /// Set by the store: the entry's place in the tenant's chain (1, 2, …), the previous entry's hash and its own.
    public var seq: Int
    public var prevHash: String
    public var hash: String

    public init(
        tenantID: String, keyID: String, personID: String? = nil, surface: Surface = .api, action: String,
        object: String, detail: String, remote: String?, at: Date, seq: Int = 0, prevHash: String = "",
        hash: String = ""
    ) {
        self.tenantID = tenantID
        self.keyID = keyID
        self.personID = personID
        self.surface = surface
        self.action = action
        self.object = object
        self.detail = detail
        self.remote = remote
        self.at = at
        self.seq = seq
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The entry by `principal` through `surface`.
    public init(
        _ principal: Principal, _ surface: Surface, action: String, object: String, detail: String, remote: String?,
        at: Date
    ) {
        self.init(
            tenantID: principal.tenantID, keyID: principal.keyID, personID: principal.personID, surface: surface,
            action: action, object: object, detail: detail, remote: remote, at: at)
    }
}
