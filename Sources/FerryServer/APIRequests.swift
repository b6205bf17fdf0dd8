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
        maxAttempts = try ServerAPI.integer(body, "max_attempts", in: 1...20) ?? 3
        priority = try ServerAPI.integer(body, "priority", in: -1_000...1_000) ?? 0
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

/// `POST /v1/keys`: the new key's role.
struct NewKeyRequest: Sendable, Hashable {
    var role: Role

    init(_ body: JSONValue) throws {
        guard let role = try ServerAPI.string(body, "role").flatMap(Role.init(rawValue:)) else {
            throw Problem(.badRequest, "\"role\" must be one of admin, member, viewer")
        }
        self.role = role
    }
}
