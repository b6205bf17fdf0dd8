import FerryCore
import Foundation

/// The bodies the API takes, as typed values read from the request's JSON with the document's rules
/// (`docs/openapi.yaml`, `NewTask` and `NewProject`): a field of the wrong type or out of range is a 400 that names
/// it, before any handler sees the request.
struct NewTaskRequest: Sendable, Hashable {
    var project: String
    var task: String
    var maxCost: Double?
    var base: String?
    var model: String?
    var maxAttempts: Int
    var priority: Int

    init(_ body: JSONValue) throws {
        guard let project = try ServerAPI.string(body, "project"), let task = try ServerAPI.string(body, "task"),
            !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else { throw Problem(.badRequest, "a task needs a \"project\" (id or name) and a non-empty \"task\"") }
        self.project = project
        self.task = task
        maxCost = try ServerAPI.number(body, "max_cost")
        if let maxCost, !(maxCost > 0) || !(maxCost <= 1_000_000) {
            throw Problem(.badRequest, "\"max_cost\" must be a positive number of USD, at most 1,000,000")
        }
        base = try ServerAPI.string(body, "base")
        if let base { try ServerAPI.checkRef(base, "base") }
        model = try ServerAPI.string(body, "model")
        try Self.checkModel(model)
        maxAttempts = try ServerAPI.integer(body, "max_attempts", in: 1...20) ?? 3
        priority = try ServerAPI.integer(body, "priority", in: -1_000...1_000) ?? 0
    }
}

extension NewTaskRequest {
    /// A profile's name, or a cascade of 2 to 4 different ones (`local>anthropic`).
    static func checkModel(_ model: String?) throws {
        guard let model else { return }
        guard CascadePolicy.stages(model) != nil, !model.isEmpty, model.count <= 200 else {
            throw Problem(
                .badRequest, "\"model\" is a profile's name, or a cascade of 2 to 4 different ones: \"local>anthropic\""
            )
        }
    }
}

struct NewProjectRequest: Sendable, Hashable {
    var name: String
    var repo: String
    var base: String?
    var model: String?
    var testCommand: String?
    var webhookURL: String?
    var push: Bool

    init(_ body: JSONValue) throws {
        guard let name = try ServerAPI.string(body, "name"), let repo = try ServerAPI.string(body, "repo"),
            !repo.isEmpty
        else {
            throw Problem(
                .badRequest, "a project needs a \"name\" and a \"repo\" (a git URL, or a path the server allows)")
        }
        self.name = name
        self.repo = repo
        push = false
        if let value = body["push"], value != .null {
            guard case .bool(let flag) = value else { throw Problem(.badRequest, "\"push\" must be true or false") }
            push = flag
        }
        base = try ServerAPI.string(body, "base")
        model = try ServerAPI.string(body, "model")
        try NewTaskRequest.checkModel(model)
        testCommand = try ServerAPI.string(body, "test_command")
        webhookURL = try ServerAPI.string(body, "webhook_url")
    }
}

/// `PUT /v1/budgets/…`: a monthly amount in USD, or `null` to remove the budget.
struct BudgetRequest: Sendable, Hashable {
    var monthlyUSD: Double?

    init(_ body: JSONValue) throws {
        let amount = body["monthly_usd"]
        guard
            amount == .null
                || ((try? ServerAPI.number(body, "monthly_usd")).flatMap { $0 }.map { (0...1_000_000_000).contains($0) }
                    ?? false)
        else {
            throw Problem(
                .badRequest, "\"monthly_usd\" must be a number of USD from 0 to 1,000,000,000 (null removes the budget)"
            )
        }
        monthlyUSD = amount?.doubleValue
    }
}

/// `POST /v1/keys`: the new key's role, and optionally its owner (a person or service account of the tenant; the
/// built-in service account when left out), a name, and a lifetime in days.
struct NewKeyRequest: Sendable, Hashable {
    var role: Role
    var owner: String?
    var name: String
    var expiresInDays: Int?

    init(_ body: JSONValue) throws {
        guard let role = try ServerAPI.string(body, "role").flatMap(Role.init(rawValue:)) else {
            throw Problem(.badRequest, "\"role\" must be one of admin, member, viewer")
        }
        self.role = role
        owner = try ServerAPI.string(body, "owner")
        name = try PersonRequests.text(body, "name", max: 200) ?? ""
        expiresInDays = try ServerAPI.integer(body, "expires_in_days", in: 1...3650)
    }
}

/// `POST /v1/keys/{id}/rotate`: how long the old key keeps working, in seconds (none by default).
struct RotateKeyRequest: Sendable, Hashable {
    var graceSeconds: Int

    init(_ body: JSONValue) throws {
        graceSeconds = try ServerAPI.integer(body, "grace_seconds", in: 0...(30 * 86_400)) ?? 0
    }
}

/// `POST /v1/people`: a person (with an email) or a service account, and its role.
struct NewPersonRequest: Sendable, Hashable {
    var person: NewPerson

    init(_ body: JSONValue) throws {
        let kind =
            try ServerAPI.string(body, "kind").map { value in
                guard let kind = AccountKind(rawValue: value) else {
                    throw Problem(.badRequest, "\"kind\" must be person or service")
                }
                return kind
            } ?? .person
        guard let name = try PersonRequests.text(body, "name", max: 200), !name.isEmpty else {
            throw Problem(.badRequest, "a person or service account needs a \"name\"")
        }
        guard let role = try ServerAPI.string(body, "role").flatMap(Role.init(rawValue:)) else {
            throw Problem(.badRequest, "\"role\" must be one of admin, member, viewer")
        }
        let email = try PersonRequests.email(body)
        if kind == .person && email == nil { throw Problem(.badRequest, "a person needs an \"email\"") }
        person = NewPerson(
            kind: kind, name: name, email: email, externalID: try PersonRequests.text(body, "external_id", max: 200),
            role: role)
    }
}

/// `PATCH /v1/people/{id}`: the fields to change; `"active": false` deactivates (its keys and sessions stop at once).
struct PersonChangeRequest: Sendable, Hashable {
    var change: PersonChange

    init(_ body: JSONValue) throws {
        guard case .object(let fields) = body else { throw Problem(.badRequest, "the body must be a JSON object") }
        let known: Set = ["name", "email", "external_id", "role", "active"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw Problem(.badRequest, "\"\(unknown)\" cannot be changed (name, email, external_id, role, active can)")
        }
        var change = PersonChange()
        change.name = try PersonRequests.text(body, "name", max: 200)
        if change.name?.isEmpty == true { throw Problem(.badRequest, "\"name\" cannot be empty") }
        change.email = try PersonRequests.email(body)
        change.externalID = try PersonRequests.text(body, "external_id", max: 200)
        if let role = try ServerAPI.string(body, "role") {
            guard let value = Role(rawValue: role) else {
                throw Problem(.badRequest, "\"role\" must be one of admin, member, viewer")
            }
            change.role = value
        }
        if let value = body["active"], value != .null {
            guard case .bool(let flag) = value else { throw Problem(.badRequest, "\"active\" must be true or false") }
            change.active = flag
        }
        self.change = change
    }
}

enum PersonRequests {
    /// A string field of at most `max` characters, with no control characters.
    static func text(_ body: JSONValue, _ key: String, max: Int) throws -> String? {
        guard let value = try ServerAPI.string(body, key) else { return nil }
        guard value.count <= max, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw Problem(.badRequest, "\"\(key)\" must be at most \(max) characters, without control characters") }
        return value.trimmingCharacters(in: .whitespaces)
    }

    static func email(_ body: JSONValue) throws -> String? {
        guard let email = try text(body, "email", max: 320) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(" ") else {
            throw Problem(.badRequest, "\"email\" must be an address like name@example.com")
        }
        return email
    }
}
