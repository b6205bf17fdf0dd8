import FerryAgent
import FerryCore
import FerryModels
import FerryStore
import Foundation
import Synchronization

/// Where an assistant's autonomous tasks run: in this process (`ferry mcp`, `ferry chat`) or on a team server's
/// queue (`/mcp` in `ferry serve`). Results are JSON objects in the shape the host already publishes (a local run's
/// `result.json`; the server's task resource), so a client sees the same fields it would elsewhere.
public protocol TaskHost: Sendable {
    /// Starts a task and returns at once with its id and status.
    func start(task: String, project: String?, base: String?) async throws -> JSONValue
    func status(_ id: String) async throws -> JSONValue
    /// The status plus, once the task has ended, its branch, diff, cost and test evidence.
    func result(_ id: String) async throws -> JSONValue
    func cancel(_ id: String) async throws -> JSONValue
    /// The task's trace as JSON lines.
    func trace(_ id: String) async throws -> String
    /// Recent tasks, newest first: (id, first line of the task).
    func recent(limit: Int) async throws -> [(id: String, title: String)]
}

/// A missing task or project: a client's mistake, reported as such (a tool error, a 404).
public struct NotFound: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs tasks in this process with `AgentRunner`, one Swift task each, recorded in the local run store like
/// `ferry run`'s (so `ferry runs` and `ferry show` see them). Runs still going when the process stops are cancelled
/// and finish `interrupted` with their partial change; a process killed outright leaves them to the reconciler.
public final class LocalTaskHost: TaskHost {
    let repo: String
    let config: FerryConfig
    let store: SQLiteRunStore
    let models: ModelPool
    let profile: ModelProfile
    let secrets: [String]
    private struct Live {
        var control: RunControl
        var work: Task<Void, Never>
        var error: String?
    }
    private let live = Mutex<[String: Live]>([:])

    public init(
        repo: String, config: FerryConfig, store: SQLiteRunStore, models: ModelPool, profile: ModelProfile,
        secrets: [String]
    ) {
        self.repo = repo
        self.config = config
        self.store = store
        self.models = models
        self.profile = profile
        self.secrets = secrets
    }

    public func start(task: String, project: String?, base: String?) async throws -> JSONValue {
        guard !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw FerryError(.usage, "the task is empty")
        }
        let id = AgentRunner.newRunID()
        let control = RunControl()
        let (models, profile, store, config, secrets, repo) = (models, profile, store, config, secrets, repo)
        let work = Task { [weak self] in
            do {
                let model = try await models.model(for: profile)
                let runner = AgentRunner(model: model, store: store, config: config, secrets: secrets)
                _ = try await runner.run(RunRequest(task: task, repo: repo, base: base, runID: id), control: control)
            } catch {
                // Before the run's worktree existed (a bad base, the model would not start): nothing was recorded.
                self?.live.withLock { $0[id]?.error = "\(error)" }
            }
        }
        live.withLock { $0[id] = Live(control: control, work: work) }
        return ["id": .string(id), "status": "queued", "task": .string(task)]
    }

    public func status(_ id: String) async throws -> JSONValue {
        try await view(id, full: false)
    }

    public func result(_ id: String) async throws -> JSONValue {
        try await view(id, full: true)
    }

    public func cancel(_ id: String) async throws -> JSONValue {
        guard let entry = live.withLock({ $0[id] }) else {
            guard let record = try await store.run(id) else { throw NotFound("no task \(id)") }
            if record.status == .running {
                throw FerryError(
                    .usage,
                    "task \(record.id) belongs to another process (\(record.owner ?? "unknown")); stop that process to cancel it"
                )
            }
            return try await view(record.id, full: false)
        }
        entry.control.cancel(reason: "cancelled through the assistant")
        await entry.work.value
        return try await view(id, full: false)
    }

    public func trace(_ id: String) async throws -> String {
        guard let record = try await store.run(id) else { throw NotFound("no task \(id)") }
        let events = try await store.events(of: record.id)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try events.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n")
    }

    public func recent(limit: Int) async throws -> [(id: String, title: String)] {
        try await store.runs(limit: limit).filter { $0.repo == repo }.map {
            ($0.id, String($0.task.split(separator: "\n").first ?? ""))
        }
    }

    /// Stops every run still going and waits for each to be recorded.
    public func shutdown() async {
        let all = live.withLock { Array($0.values) }
        for entry in all { entry.control.cancel(reason: "the assistant stopped") }
        for entry in all { await entry.work.value }
    }

    private func view(_ id: String, full: Bool) async throws -> JSONValue {
        let entry = live.withLock { $0[id] }
        guard let record = try await store.run(id) else {
            guard let entry else { throw NotFound("no task \(id)") }
            if let error = entry.error { return ["id": .string(id), "status": "failed", "reason": .string(error)] }
            return ["id": .string(id), "status": "queued"]
        }
        var object: [String: JSONValue] = [
            "id": .string(record.id), "status": .string(record.status.rawValue), "reason": .string(record.reason),
            "task": .string(record.task), "branch": .string(record.branch), "base": .string(record.base),
            "steps": .number(Double(record.steps)), "cost_usd": .number(record.costUSD),
            "tokens": .number(Double(record.inputTokens + record.outputTokens)),
        ]
        guard full, record.status != .running else { return .object(object) }
        let directory = record.runDirectory
        if let data = FileManager.default.contents(atPath: directory + "/result.json"),
            case .object(let result)? = try? JSONDecoder().decode(JSONValue.self, from: data)
        {
            object.merge(result) { _, new in new }
        }
        object["diff"] = .string((try? String(contentsOfFile: directory + "/change.patch", encoding: .utf8)) ?? "")
        object["summary_markdown"] = .string(
            (try? String(contentsOfFile: directory + "/summary.md", encoding: .utf8)) ?? "")
        return .object(object)
    }
}
