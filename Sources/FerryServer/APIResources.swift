import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An optional the API writes as `null` rather than leaving out (the document's `[type, "null"]`).
@propertyWrapper
struct Nullable<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A `Nullable` whose key is missing reads as nil, as a plain optional would.
    func decode<Value>(_ type: Nullable<Value>.Type, forKey key: Key) throws -> Nullable<Value> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}

/// The API's objects as `docs/openapi.yaml` describes them (`components.schemas`): Codable types whose keys are their
/// schema's properties, nullable ones written as `null` rather than left out. Responses are encoded straight from
/// them; `OpenAPITests.eachResourceIsItsSchema` holds each type's keys to its schema.
struct TaskResource: Codable, Sendable, Hashable {
    var id: String
    var status: String
    var project: String
    var task: String
    @Nullable var base: String?
    @Nullable var model: String?
    @Nullable var maxCost: Double?
    var attempt: Int
    var maxAttempts: Int
    @Nullable var branch: String?
    @Nullable var commit: String?
    @Nullable var runID: String?
    @Nullable var reason: String?
    var errors: [String]
    var costUSD: Double
    var cancelRequested: Bool
    @Nullable var pushedTo: String?
    var createdAt: Date
    @Nullable var finishedAt: Date?
    @Nullable var createdBy: String?
    @Nullable var retryOf: String?
    var steps: Int
    @Nullable var wallSeconds: Double?

    init(_ task: ServerTask) {
        id = task.id
        status = task.state.apiName
        project = task.projectID
        self.task = task.task
        base = task.base
        model = task.model
        maxCost = task.maxCostUSD
        attempt = task.attempt
        maxAttempts = task.maxAttempts
        branch = task.branch
        commit = task.commitSHA
        runID = task.runID
        reason = task.reason
        errors = task.errors
        costUSD = task.costUSD
        cancelRequested = task.cancelRequested
        pushedTo = task.pushedTo
        createdAt = task.createdAt
        finishedAt = task.finishedAt
        createdBy = task.createdBy
        retryOf = task.retryOf
        steps = task.steps
        wallSeconds = task.wallSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, status, project, task, base, model, attempt, branch, commit, reason, errors, steps
        case maxCost = "max_cost"
        case maxAttempts = "max_attempts"
        case runID = "run_id"
        case costUSD = "cost_usd"
        case cancelRequested = "cancel_requested"
        case pushedTo = "pushed_to"
        case createdAt = "created_at"
        case finishedAt = "finished_at"
        case createdBy = "created_by"
        case retryOf = "retry_of"
        case wallSeconds = "wall_seconds"
    }
}

struct ProjectResource: Codable, Sendable, Hashable {
    var id: String
    var name: String
    var repo: String
    var base: String
    @Nullable var model: String?
    @Nullable var testCommand: String?
    var createdAt: Date
    @Nullable var webhookURL: String?
    /// In the create response only: the webhook's signing secret, shown once.
    var webhookSecret: String?
    var push: Bool

    init(_ project: Project, secret: String? = nil) {
        id = project.id
        name = project.name
        repo = project.repo
        base = project.base
        model = project.model
        testCommand = project.testCommand
        createdAt = project.createdAt
        webhookURL = project.webhookURL
        webhookSecret = secret
        push = project.push
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, repo, base, model, push
        case testCommand = "test_command"
        case createdAt = "created_at"
        case webhookURL = "webhook_url"
        case webhookSecret = "webhook_secret"
    }
}

struct BudgetResource: Codable, Sendable, Hashable {
    /// `tenant`, `project`, `person` or `group`.
    var scope: String
    /// The project's, person's or group's id; null for the tenant's.
    @Nullable var id: String?
    @Nullable var project: String?
    @Nullable var monthlyUSD: Double?
    var spentUSD: Double?
    var remainingUSD: Double?

    init(_ budget: BudgetStatus) {
        scope = budget.scope.kind
        id = budget.scope.id
        project = budget.projectID
        monthlyUSD = budget.monthlyUSD
        spentUSD = budget.spentUSD
        remainingUSD = budget.remainingUSD
    }

    /// A budget just removed: no amount, and no spend against it.
    init(removedFrom scope: BudgetScope) {
        self.scope = scope.kind
        id = scope.id
        if case .project(let id) = scope { project = id }
        monthlyUSD = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case scope, id, project
        case monthlyUSD = "monthly_usd"
        case spentUSD = "spent_usd"
        case remainingUSD = "remaining_usd"
    }
}

/// A list: `data`, and for tasks the cursor of the next page (`null` at the end).
struct ResourceList<Item: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    var data: [Item]
    /// Absent for lists without pages; `null` on a list's last page.
    var nextCursor: Nullable<String>?

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    init(_ data: [Item]) {
        self.data = data
    }

    init(_ data: [Item], nextCursor: String?) {
        self.data = data
        self.nextCursor = Nullable(wrappedValue: nextCursor)
    }
}

extension ServerAPI {
    /// How every response object is written: keys sorted, slashes plain, dates as RFC 3339 to the second.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func respond(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder().encode(value))))
    }

    /// A resource as a `JSONValue`, for the surfaces that answer in JSON-RPC (the MCP task tools).
    static func value(_ resource: some Encodable) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: encoder().encode(resource))) ?? .null
    }
}

/// An API key as listed (never its hash).
struct KeyResource: Codable, Sendable, Hashable {
    var id: String
    var role: String
    var owner: String
    var name: String
    var createdAt: Date
    @Nullable var expiresAt: Date?
    @Nullable var revokedAt: Date?

    init(_ key: APIKeyInfo) {
        id = key.id
        role = key.role.rawValue
        owner = key.ownerID
        name = key.name
        createdAt = key.createdAt
        expiresAt = key.expiresAt
        revokedAt = key.revokedAt
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, role, owner, name
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
    }
}

/// A key just made (or made by rotation): the key itself is in this response only.
struct NewKeyResource: Codable, Sendable, Hashable {
    var id: String
    var role: String
    var owner: String
    var name: String
    @Nullable var expiresAt: Date?
    var key: String

    init(_ info: APIKeyInfo, key: String) {
        id = info.id
        role = info.role.rawValue
        owner = info.ownerID
        name = info.name
        expiresAt = info.expiresAt
        self.key = key
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, role, owner, name, key
        case expiresAt = "expires_at"
    }
}

/// A person or service account.
struct PersonResource: Codable, Sendable, Hashable {
    var id: String
    var kind: String
    var name: String
    @Nullable var email: String?
    @Nullable var externalID: String?
    var role: String
    var active: Bool
    var createdAt: Date
    @Nullable var deactivatedAt: Date?

    init(_ person: Person) {
        id = person.id
        kind = person.kind.rawValue
        name = person.name
        email = person.email
        externalID = person.externalID
        role = person.role.rawValue
        active = person.active
        createdAt = person.createdAt
        deactivatedAt = person.deactivatedAt
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, kind, name, email, role, active
        case externalID = "external_id"
        case createdAt = "created_at"
        case deactivatedAt = "deactivated_at"
    }
}

/// A group of people, as the identity provider keeps it (through SCIM).
struct GroupResource: Codable, Sendable, Hashable {
    var id: String
    var name: String
    @Nullable var externalID: String?
    var members: [String]

    init(_ group: PersonGroup) {
        id = group.id
        name = group.name
        externalID = group.externalID
        members = group.members
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, members
        case externalID = "external_id"
    }
}

/// Who the caller is: the key (or session), the role it acts with, and its person or service account.
struct WhoAmIResource: Codable, Sendable, Hashable {
    var tenant: String
    var key: String
    var role: String
    @Nullable var person: PersonResource?
}

/// One entry of the audit trail, with its place in the tenant's chain and the hashes that tie it there.
struct AuditResource: Codable, Sendable, Hashable {
    var seq: Int
    var key: String
    @Nullable var person: String?
    var surface: String
    var action: String
    var object: String
    var detail: String
    @Nullable var remote: String?
    var at: Date
    var prevHash: String
    var hash: String

    init(_ entry: AuditEntry) {
        seq = entry.seq
        key = entry.keyID
        person = entry.personID
        surface = entry.surface.rawValue
        action = entry.action
        object = entry.object
        detail = entry.detail
        remote = entry.remote
        at = entry.at
        prevHash = entry.prevHash
        hash = entry.hash
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seq, key, person, surface, action, object, detail, remote, at, hash
        case prevHash = "prev_hash"
    }
}

/// A check of the tenant's audit chain.
struct AuditCheckResource: Codable, Sendable, Hashable {
    var intact: Bool
    var entries: Int
    var startSeq: Int
    var lastSeq: Int
    var lastHash: String
    var breaks: [String]

    init(_ report: AuditChain.Report, start: Int) {
        intact = report.intact
        entries = report.entries
        startSeq = start
        lastSeq = report.lastSeq
        lastHash = report.lastHash
        breaks = report.breaks.map(\.description)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case intact, entries, breaks
        case startSeq = "start_seq"
        case lastSeq = "last_seq"
        case lastHash = "last_hash"
    }
}

/// An imported eval report, with the figures the list shows as the report holds them.
struct EvalResource: Codable, Sendable, Hashable {
    var id: String
    var name: String
    var importedAt: Date
    var resolveRate: JSONValue
    var resolved: JSONValue
    var total: JSONValue
    var falseVerifiedRate: JSONValue

    init(_ record: EvalRecord) {
        let metrics = JSONValue.parse(record.report)?["metrics"] ?? .null
        id = record.id
        name = record.name
        importedAt = record.at
        resolveRate = metrics["resolve_rate"] ?? .null
        resolved = metrics["resolved"] ?? .null
        total = metrics["total"] ?? .null
        falseVerifiedRate = metrics["false_verified_rate"] ?? .null
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, resolved, total
        case importedAt = "imported_at"
        case resolveRate = "resolve_rate"
        case falseVerifiedRate = "false_verified_rate"
    }
}

/// A task's webhook delivery and each try at it.
struct DeliveryResource: Codable, Sendable, Hashable {
    struct Attempt: Codable, Sendable, Hashable {
        var attempt: Int
        @Nullable var status: Int?
        @Nullable var error: String?
        var at: Date
    }

    var id: String
    var url: String
    var state: String
    var attempts: [Attempt]

    init(_ delivery: Delivery, attempts: [DeliveryAttempt]) {
        id = delivery.id
        url = delivery.url
        state = delivery.state
        self.attempts = attempts.map { Attempt(attempt: $0.attempt, status: $0.status, error: $0.error, at: $0.at) }
    }
}

/// An eval report just imported.
struct ImportedEvalResource: Codable, Sendable, Hashable {
    var id: String
    var name: String
}
