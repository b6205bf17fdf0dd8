import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The API's objects as `docs/openapi.yaml` describes them (`components.schemas`): Codable types whose keys are their
/// schema's properties, nullable ones written as `null` rather than left out. Responses are encoded straight from
/// them; `OpenAPITests.eachResourceIsItsSchema` holds each type's keys to its schema.
struct TaskResource: Codable, Sendable, Hashable {
    var id: String
    var status: String
    var project: String
    var task: String
    var base: String?
    var model: String?
    var maxCost: Double?
    var attempt: Int
    var maxAttempts: Int
    var branch: String?
    var commit: String?
    var runID: String?
    var reason: String?
    var errors: [String]
    var costUSD: Double
    var cancelRequested: Bool
    var pushedTo: String?
    var createdAt: Date
    var finishedAt: Date?
    var createdBy: String?
    var retryOf: String?
    var steps: Int
    var wallSeconds: Double?

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

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(status, forKey: .status)
        try c.encode(project, forKey: .project)
        try c.encode(task, forKey: .task)
        try c.encode(base, forKey: .base)
        try c.encode(model, forKey: .model)
        try c.encode(maxCost, forKey: .maxCost)
        try c.encode(attempt, forKey: .attempt)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encode(branch, forKey: .branch)
        try c.encode(commit, forKey: .commit)
        try c.encode(runID, forKey: .runID)
        try c.encode(reason, forKey: .reason)
        try c.encode(errors, forKey: .errors)
        try c.encode(costUSD, forKey: .costUSD)
        try c.encode(cancelRequested, forKey: .cancelRequested)
        try c.encode(pushedTo, forKey: .pushedTo)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(retryOf, forKey: .retryOf)
        try c.encode(steps, forKey: .steps)
        try c.encode(wallSeconds, forKey: .wallSeconds)
    }
}

struct ProjectResource: Codable, Sendable, Hashable {
    var id: String
    var name: String
    var repo: String
    var base: String
    var model: String?
    var testCommand: String?
    var createdAt: Date
    var webhookURL: String?
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

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(repo, forKey: .repo)
        try c.encode(base, forKey: .base)
        try c.encode(model, forKey: .model)
        try c.encode(testCommand, forKey: .testCommand)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(webhookURL, forKey: .webhookURL)
        try c.encodeIfPresent(webhookSecret, forKey: .webhookSecret)
        try c.encode(push, forKey: .push)
    }
}

struct BudgetResource: Codable, Sendable, Hashable {
    var project: String?
    var monthlyUSD: Double?
    var spentUSD: Double?
    var remainingUSD: Double?

    init(_ budget: BudgetStatus) {
        project = budget.projectID
        monthlyUSD = budget.monthlyUSD
        spentUSD = budget.spentUSD
        remainingUSD = budget.remainingUSD
    }

    /// A budget just removed: no amount, and no spend against it.
    init(removedFrom project: String?) {
        self.project = project
        monthlyUSD = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case project
        case monthlyUSD = "monthly_usd"
        case spentUSD = "spent_usd"
        case remainingUSD = "remaining_usd"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(project, forKey: .project)
        try c.encode(monthlyUSD, forKey: .monthlyUSD)
        try c.encodeIfPresent(spentUSD, forKey: .spentUSD)
        try c.encodeIfPresent(remainingUSD, forKey: .remainingUSD)
    }
}

/// A list: `data`, and for tasks the cursor of the next page (`null` at the end).
struct ResourceList<Item: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    var data: [Item]
    var nextCursor: String??

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    init(_ data: [Item], nextCursor: String?? = nil) {
        self.data = data
        self.nextCursor = nextCursor
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(data, forKey: .data)
        if let nextCursor { try c.encode(nextCursor, forKey: .nextCursor) }
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
    var createdAt: Date
    var revokedAt: Date?

    init(_ key: APIKeyInfo) {
        id = key.id
        role = key.role.rawValue
        createdAt = key.createdAt
        revokedAt = key.revokedAt
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, role
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(role, forKey: .role)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(revokedAt, forKey: .revokedAt)
    }
}

/// A key just made: the key itself is in this response only.
struct NewKeyResource: Codable, Sendable, Hashable {
    var id: String
    var role: String
    var key: String
}

/// One mutation of the audit log.
struct AuditResource: Codable, Sendable, Hashable {
    var key: String
    var action: String
    var object: String
    var detail: String
    var remote: String?
    var at: Date

    init(_ entry: AuditEntry) {
        key = entry.keyID
        action = entry.action
        object = entry.object
        detail = entry.detail
        remote = entry.remote
        at = entry.at
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(action, forKey: .action)
        try c.encode(object, forKey: .object)
        try c.encode(detail, forKey: .detail)
        try c.encode(remote, forKey: .remote)
        try c.encode(at, forKey: .at)
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
        var status: Int?
        var error: String?
        var at: Date

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(attempt, forKey: .attempt)
            try c.encode(status, forKey: .status)
            try c.encode(error, forKey: .error)
            try c.encode(at, forKey: .at)
        }
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
