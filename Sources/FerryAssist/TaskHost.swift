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
    func start(task: String, project: String?, base: String?) async throws -> TaskReport
    func status(_ id: String) async throws -> TaskReport
    /// The status plus, once the task has ended, its diff, summary and test evidence.
    func result(_ id: String) async throws -> TaskReport
    func cancel(_ id: String) async throws -> TaskReport
    /// The task's trace as JSON lines.
    func trace(_ id: String) async throws -> String
    /// Recent tasks, newest first: (id, first line of the task).
    func recent(limit: Int) async throws -> [(id: String, title: String)]
}

/// A task as the assistant's task tools show it, whichever host runs it (this process, or a team server through
/// its API or its MCP endpoint): the same keys from `run_task`, `task_status`, `task_result` and `cancel_task`
/// everywhere, nil fields left out. The API's task document decodes into it (`RemoteTaskHost`).
public struct TaskReport: Codable, Sendable, Equatable {
    public var id: String
    /// `queued`, `running`, …, then the run's or the task's end: `verified`, `unverified`, `failed`, `limit`,
    /// `interrupted`, `cancelled`.
    public var status: String
    public var task: String?
    public var reason: String?
    public var project: String?
    public var base: String?
    public var branch: String?
    public var commit: String?
    public var runID: String?
    public var steps: Int?
    public var costUSD: Double?
    public var usage: Tokens?
    public var wallSeconds: Double?
    /// Once the task has ended (`result`): the change, the run's summary, and the test evidence as the run
    /// recorded it (the baseline, and the final run or every verification).
    public var diff: String?
    public var summaryMarkdown: String?
    public var tests: JSONValue?

    public struct Tokens: Codable, Sendable, Equatable {
        public var inputTokens: Int
        public var outputTokens: Int

        public init(inputTokens: Int, outputTokens: Int) {
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
        }

        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, status, task, reason, project, base, branch, commit, steps, usage, diff, tests
        case runID = "run_id"
        case costUSD = "cost_usd"
        case wallSeconds = "wall_seconds"
        case summaryMarkdown = "summary_markdown"
    }

    public init(id: String, status: String, task: String? = nil, reason: String? = nil) {
        self.id = id
        self.status = status
        self.task = task
        self.reason = reason
    }

    /// Whether the task may still change (`ferry chat` polls until it does not).
    public var isLive: Bool { ["queued", "claimed", "running", "cancelling"].contains(status) }
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

    public func start(task: String, project: String?, base: String?) async throws -> TaskReport {
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
        return TaskReport(id: id, status: "queued", task: task)
    }

    public func status(_ id: String) async throws -> TaskReport {
        try await view(id, full: false)
    }

    public func result(_ id: String) async throws -> TaskReport {
        try await view(id, full: true)
    }

    public func cancel(_ id: String) async throws -> TaskReport {
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

    private func view(_ id: String, full: Bool) async throws -> TaskReport {
        let entry = live.withLock { $0[id] }
        guard let record = try await store.run(id) else {
            guard let entry else { throw NotFound("no task \(id)") }
            if let error = entry.error { return TaskReport(id: id, status: "failed", reason: error) }
            return TaskReport(id: id, status: "queued")
        }
        var report = TaskReport(id: record.id, status: record.status.rawValue, task: record.task, reason: record.reason)
        report.base = record.base
        report.branch = record.branch
        report.commit = record.commitSHA
        report.runID = record.id
        report.steps = record.steps
        report.costUSD = record.costUSD
        report.usage = .init(inputTokens: record.inputTokens, outputTokens: record.outputTokens)
        report.wallSeconds = record.wallSeconds
        guard full, record.status != .running else { return report }
        let directory = record.runDirectory
        if let data = FileManager.default.contents(atPath: directory + "/result.json") {
            report.tests = (try? JSONDecoder().decode(JSONValue.self, from: data))?["tests"]
        }
        report.diff = (try? String(contentsOfFile: directory + "/change.patch", encoding: .utf8)) ?? ""
        report.summaryMarkdown = (try? String(contentsOfFile: directory + "/summary.md", encoding: .utf8)) ?? ""
        return report
    }
}
