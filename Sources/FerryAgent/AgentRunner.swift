import FerryCore
import FerryIndex
import FerryModels
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation
import Logging
import Synchronization

/// One task to run.
public struct RunRequest: Sendable {
    public var task: String
    public var repo: String
    public var base: String?
    public var keepWorktree: Bool

    public init(task: String, repo: String, base: String? = nil, keepWorktree: Bool = false) {
        self.task = task
        self.repo = repo
        self.base = base
        self.keepWorktree = keepWorktree
    }
}

/// Drives a run end to end: worktree, baseline tests, the agent loop, verification, commit, files and store.
/// The decisions are the `AgentMachine`'s; this type only performs them.
public struct AgentRunner: Sendable {
    public typealias RunnerFactory = @Sendable (SandboxPolicy) throws -> any CommandRunner

    public let model: any ChatModel
    public let store: any RunStore
    public let config: FerryConfig
    public let makeRunner: RunnerFactory
    /// What every file, row, event and commit of a run passes through before it is written.
    public let redactor: Redactor
    public let logger: Logger

    public init(
        model: any ChatModel, store: any RunStore, config: FerryConfig, secrets: [String] = [],
        logger: Logger = Logger(label: "ferry"), makeRunner: RunnerFactory? = nil
    ) {
        self.model = model
        self.store = store
        self.config = config
        self.redactor = Redactor(secrets: secrets)
        self.logger = logger
        let mode = config.sandbox
        self.makeRunner =
            makeRunner ?? { policy in
                // The sandbox mode is the user's: a flag, their config or $FERRY_SANDBOX (never a repository's).
                switch mode {
                case .bubblewrap: try BubblewrapRunner(policy: policy)
                case .none: DirectRunner(policy: policy)
                }
            }
    }

    public static func newRunID(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return formatter.string(from: now) + "-" + String(repeating: "0", count: 8 - random.count) + random
    }

    public func run(_ request: RunRequest, onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }) async throws
        -> RunResult
    {
        let clock = ContinuousClock()
        let started = clock.now
        func elapsed() -> Double {
            (clock.now - started).inSeconds
        }

        let repoRoot = try await Git.root(of: request.repo)
        let repoGit = Git(repoRoot)
        let base = try await repoGit.resolve(request.base ?? "HEAD")
        let runID = Self.newRunID()
        let branch = "ferry/\(runID)"
        var dataDirectory = (config.dataDirectory as NSString).expandingTildeInPath
        if !dataDirectory.hasPrefix("/") { dataDirectory = FileManager.default.currentDirectoryPath + "/" + dataDirectory }
        let runDirectory = dataDirectory + "/runs/" + runID
        let worktreePath = runDirectory + "/worktree"
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)

        // The sandbox is checked before anything is created in the repository.
        let commonGitDir = try await repoGit.run("rev-parse", "--path-format=absolute", "--git-common-dir")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let policy = SandboxPolicy(
            workspace: worktreePath, readOnlyPaths: [worktreePath + "/.git", commonGitDir],
            allowNetwork: config.allowNetwork,
            // Other runs' folders and the store live here (wherever the config put it; the XDG folders are hidden by
            // default); the run's own worktree is shown again on top.
            hiddenPaths: [dataDirectory],
            readOnlyBinds: config.sandboxReadOnly, maxProcesses: config.maxProcesses)
        let runner = try makeRunner(policy)

        try await repoGit.addWorktree(path: worktreePath, branch: branch, base: base)
        let workspace = try Workspace(root: worktreePath)
        let worktreeGit = Git(workspace.root)

        var record = RunRecord(
            id: runID, repo: repoRoot, base: base, branch: branch, task: redactor(request.task), model: model.profile.model,
            provider: model.profile.provider.rawValue, sandbox: runner.name, runDirectory: runDirectory)
        record.owner = ProcessIdentity.current.description
        try await store.insert(record)
        let recorder = EventRecorder(
            runID: runID, tracePath: runDirectory + "/trace.jsonl", store: store, redactor: redactor, sink: onEvent)
        await recorder.record(
            "run.started",
            [
                "run_id": .string(runID), "repo": .string(repoRoot), "base": .string(base), "branch": .string(branch),
                "task": .string(request.task), "model": .string(model.profile.model),
                "provider": .string(model.profile.provider.rawValue),
                "tool_protocol": .string(model.profile.toolProtocol.rawValue), "sandbox": .string(runner.name),
                "sandbox_source": .string(config.sandboxSource), "network": .bool(config.allowNetwork),
                "max_processes": .number(Double(config.maxProcesses)), "worktree": .string(worktreePath),
            ])
        for warning in config.warnings { await recorder.record("config.warning", ["message": .string(warning)]) }

        var baseline: TestRun?
        var finalTests: TestRun?
        var outcome = AgentMachine.Outcome(status: .failed, reason: "not started", summary: "", limit: nil)
        var loop = AgentMachine(history: [], limits: config.limits, contextWindow: model.profile.contextWindow)
        do {
            // Context: AGENTS.md, the test command, the baseline.
            let instructions = AgentInstructions(root: workspace.root)
            let agents = instructions.rootInstructions()
            var testCommand = config.testCommand ?? TestCommand.detect(in: workspace.root)
            if let command = testCommand {
                await recorder.record("tests.baseline.started", ["command": .string(command)])
                let run = try await TestRun.run(
                    command, in: workspace.root, runner: runner, timeout: config.testTimeoutSeconds)
                baseline = run
                await recorder.record("tests.baseline", run.json)
                // A command the sandbox cannot even start can judge nothing; treat it as absent rather than as a
                // failing suite the agent should fix.
                if run.exitCode == 126 || run.exitCode == 127 {
                    await recorder.record(
                        "tests.unusable",
                        ["command": .string(command), "output": .string(String(run.output.suffix(500)))])
                    testCommand = nil
                    baseline = nil
                }
            }
            let files = try await worktreeGit.listFiles()
            let relevant = RelevantFiles.select(
                task: request.task, files: files, root: workspace.root,
                budgetTokens: min(8_000, model.profile.contextWindow / 5))
            let agentStart = elapsed()

            // A whole-file first attempt, when the task's files are small enough to come back whole.
            var attempt = AttemptResult()
            var editable: [RelevantFiles.File] = []
            if config.firstAttempt == .wholeFile {
                editable = WholeFileAttempt.editableFiles(
                    task: request.task, relevant: relevant, maxOutputTokens: model.profile.maxOutputTokens)
                if editable.isEmpty {
                    editable = WholeFileAttempt.smallRepositoryFiles(
                        files: files, root: workspace.root, maxOutputTokens: model.profile.maxOutputTokens)
                }
            }
            if !editable.isEmpty {
                attempt = try await wholeFileAttempt(AttemptContext(
                    task: request.task, files: editable, agents: agents, workspace: workspace, base: base,
                    git: worktreeGit, runner: runner, testCommand: testCommand,
                    // A reproduction test only when the suite does not already show the problem.
                    testFile: baseline?.passed == true
                        ? WholeFileAttempt.testFile(
                            task: request.task, editable: editable, files: files, root: workspace.root,
                            maxOutputTokens: model.profile.maxOutputTokens)
                        : nil,
                    baseline: baseline,
                    recorder: recorder, elapsed: { (clock.now - started).inSeconds - agentStart }))
                finalTests = attempt.finalTests
            }

            let mapBudget = config.repoMapTokens ?? min(1_024, model.profile.contextWindow / 16)
            var knowledge: IndexKnowledge?
            var repoMap = ""
            if mapBudget > 0, attempt.outcome == nil {
                (knowledge, repoMap) = await Self.knowledge(
                    worktree: workspace.root, task: request.task, budgetTokens: mapBudget, recorder: recorder)
            }
            let history =
                [ChatMessage.system(Prompts.system)]
                + Prompts.task(
                    request.task, agents: agents, testCommand: testCommand,
                    baseline: baseline?.describe(tailBytes: 1_500), files: files, relevant: relevant, repoMap: repoMap,
                    earlierAttempt: attempt.note)

            var toolConfig = ToolBox.Configuration()
            toolConfig.shellTimeoutSeconds = config.shellTimeoutSeconds
            if model.profile.contextWindow <= 32_768 { toolConfig.outputLimit = 6_000 }
            toolConfig.protectedTests = .allExcept(mentionedIn: request.task)
            // In a repository whose whole file list fits in the prompt, search and read_file already see everything;
            // the index's tools would only be more choices (small models spend their steps trying them all).
            let tools = ToolBox(
                workspace: workspace, runner: runner, configuration: toolConfig,
                knowledge: files.count > Prompts.listedFiles ? knowledge : nil)
            loop = AgentMachine(history: history, limits: config.limits, contextWindow: model.profile.contextWindow)
            for call in attempt.calls { loop.countModelCall(usage: call.usage, cost: call.cost) }
            let price = model.profile.effectivePrice

            var action = attempt.outcome.map { AgentMachine.Action.stop($0) } ?? loop.handle(.start(now: agentStart))
            if case .callModel = action, remaining(loop, elapsed()) == 0 { action = loop.handle(.timeUp(now: elapsed())) }
            actions: while true {
                switch action {
                case .callModel(let messages):
                    let step = loop.steps + 1
                    let reply = try await withTimeLimit(remaining(loop, elapsed())) {
                        try await complete(ChatRequest(messages: messages, tools: tools.specs), step: step, recorder: recorder)
                    }
                    switch reply {
                    case .timeUp:
                        action = loop.handle(.timeUp(now: elapsed()))
                    case .value(.failure(let error)):
                        await recorder.record("model.error", ["step": .number(Double(step)), "error": .string("\(error)")])
                        action = loop.handle(.modelFailed("\(error)", now: elapsed()))
                    case .value(.success(let reply)):
                        let cost = price?.cost(of: reply.usage) ?? 0
                        await recorder.record(
                            "model.reply",
                            [
                                "step": .number(Double(step)), "content": .string(reply.content),
                                "tool_calls": .array(reply.toolCalls.map(Self.callJSON)),
                                "format_error": reply.formatError.map { .string($0) } ?? .null,
                                "usage": Self.usageJSON(reply.usage), "cost_usd": .number(cost),
                                "finish_reason": reply.finishReason.map { .string($0) } ?? .null,
                                "server_timings": reply.serverTimings ?? .null,
                            ])
                        action = loop.handle(.modelReplied(reply, cost: cost, now: elapsed()))
                        if let rejection = loop.lastRejection {
                            // Refused replies are answered without running anything; the answers are in the trace too.
                            await recorder.record(
                                "reply.rejected", ["step": .number(Double(step)), "error": .string(rejection.error)])
                            for answer in rejection.answers {
                                let call = ToolCall(id: answer.callID, name: answer.name, arguments: answer.arguments)
                                await recorder.record(
                                    "tool.result",
                                    Self.toolResultJSON(
                                        call, step: step, output: answer.output, isError: true, seconds: 0, loop: loop,
                                        extra: ["rejected": true]))
                            }
                        }
                    }

                case .runTools(let calls):
                    var results: [AgentMachine.ToolResult] = []
                    var timedOut = false
                    for call in calls {
                        // Actions in one reply run in order; after one fails, the rest would build on a wrong
                        // premise, so they are answered without running.
                        if results.contains(where: \.isError) {
                            results.append(.init(
                                callID: call.id, name: call.name,
                                output: "Error: not run, because an earlier action in the same reply failed.", isError: true))
                            continue
                        }
                        let callStart = elapsed()
                        let outcome = try await withTimeLimit(remaining(loop, elapsed())) { await tools.execute(call) }
                        guard case .value(.success(let result)) = outcome else {
                            timedOut = true
                            await recorder.record(
                                "tool.result",
                                Self.toolResultJSON(
                                    call, step: loop.steps, output: "[ferry: cut off by the run's time limit; its process tree was killed]",
                                    isError: true, seconds: elapsed() - callStart, loop: loop, extra: ["timed_out": true]))
                            break
                        }
                        results.append(result)
                        await recorder.record(
                            "tool.result",
                            Self.toolResultJSON(
                                call, step: loop.steps, output: result.output, isError: result.isError,
                                seconds: elapsed() - callStart, loop: loop))
                    }
                    action = timedOut ? loop.handle(.timeUp(now: elapsed())) : loop.handle(.toolsFinished(results, now: elapsed()))

                case .verify(let summary):
                    await recorder.record("verify.started", ["summary": .string(summary)])
                    let verification: AgentMachine.Verification
                    let changed = try await worktreeGit.changedFiles(against: base)
                    if changed.isEmpty {
                        verification = .noChange
                    } else if let testCommand {
                        let run = try await TestRun.run(
                            testCommand, in: workspace.root, runner: runner, timeout: config.testTimeoutSeconds)
                        finalTests = run
                        verification = try await ChangeProof.judge(
                            final: run, baseline: baseline, changed: changed, base: base, git: worktreeGit,
                            root: workspace.root, runner: runner, timeout: config.testTimeoutSeconds)
                    } else {
                        verification = .noTestCommand
                    }
                    await recorder.record(
                        "verify.result",
                        [
                            "outcome": .string(Self.name(of: verification)), "changed_files": .array(changed.map { .string($0) }),
                            "tests": finalTests?.json ?? .null,
                        ])
                    action = loop.handle(.verified(verification, now: elapsed()))

                case .compact(let messages):
                    let before = loop.estimatedTokens
                    let transcript = messages.map { "[\($0.role.rawValue)\($0.toolName.map { " \($0)" } ?? "")] \($0.content)"
                        + ($0.toolCalls.isEmpty ? "" : " " + $0.toolCalls.map { "\($0.name)(\($0.arguments))" }.joined(separator: " "))
                    }.joined(separator: "\n\n")
                    let request = ChatRequest(
                        messages: [.system(Prompts.compaction), .user(Truncation.headTail(transcript, limit: model.profile.contextWindow * 2))],
                        tools: [])
                    do {
                        let reply = try await model.complete(request)
                        let cost = price?.cost(of: reply.usage) ?? 0
                        action = loop.handle(.compacted(summary: reply.content, usage: reply.usage, cost: cost, now: elapsed()))
                    } catch {
                        action = loop.handle(.compactionFailed(now: elapsed()))
                    }
                    await recorder.record(
                        "context.compacted",
                        ["tokens_before": .number(Double(before)), "tokens_after": .number(Double(loop.estimatedTokens))])

                case .stop(let result):
                    outcome = result
                    break actions
                }
            }
        } catch {
            let interrupted = Task.isCancelled || error is CancellationError
            let reason = interrupted ? "interrupted" : "error: \((error as? FerryError)?.message ?? "\(error)")"
            outcome = AgentMachine.Outcome(status: interrupted ? .interrupted : .failed, reason: reason)
            await recorder.record("run.error", ["error": .string(reason)])
        }

        // Finishing must survive an interrupt (Ctrl-C cancels the run's task), so it runs detached: a run is never
        // left without its diff, files and store row.
        let finishing = Finishing(
            record: record, outcome: outcome, loop: loop, baseline: baseline, finalTests: finalTests,
            wallSeconds: elapsed(), base: base, repoGit: repoGit, worktreeGit: worktreeGit, recorder: recorder,
            keepWorktree: request.keepWorktree, worktreePath: worktreePath, price: model.profile.effectivePrice,
            store: store, redactor: redactor, maxFileBytes: config.maxCommitFileBytes,
            sandboxSource: config.sandboxSource)
        return try await Task.detached { try await finishing.run() }.value
    }

    // MARK: - Helpers

    /// One model call whose retries are shown live as they happen and recorded in the trace, in order, when it ends.
    func complete(_ request: ChatRequest, step: Int, phase: String? = nil, recorder: EventRecorder) async throws -> ModelReply {
        let retries = RetryLog()
        let reply: Result<ModelReply, any Error>
        do {
            reply = .success(try await model.complete(request) { delta in
                guard case .retrying(let attempt, let wait, let reason) = delta else { return }
                var fields: [String: JSONValue] = [
                    "step": .number(Double(step)), "attempt": .number(Double(attempt)), "wait_s": .number(wait),
                    "reason": .string(reason), "at": .number(Date().timeIntervalSince1970),
                ]
                if let phase { fields["phase"] = .string(phase) }
                let data = JSONValue.object(fields)
                retries.append(data)
                recorder.showNow("model.retry", data)
            })
        } catch {
            reply = .failure(error)
        }
        for data in retries.drain() { await recorder.record("model.retry", data, live: false) }
        return try reply.get()
    }

    enum Timed<T: Sendable>: Sendable {
        case value(Result<T, any Error>)
        case timeUp
    }

    func remaining(_ machine: AgentMachine, _ now: Double) -> Double? {
        config.limits.maxTimeSeconds.map { max(0, $0 - (now - machine.startedAt)) }
    }

    /// Runs `body`, giving up when `seconds` pass. A nil limit waits forever.
    func withTimeLimit<T: Sendable>(_ seconds: Double?, _ body: @escaping @Sendable () async throws -> T)
        async throws -> Timed<T>
    {
        guard let seconds else {
            do { return .value(.success(try await body())) } catch is CancellationError { throw CancellationError() } catch {
                return .value(.failure(error))
            }
        }
        return try await withThrowingTaskGroup(of: Timed<T>.self) { group in
            group.addTask {
                do { return .value(.success(try await body())) } catch { return .value(.failure(error)) }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return .timeUp
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// A `tool.result` event: a call that ran, was refused (`rejected`) or was cut off (`timed_out`).
    static func toolResultJSON(
        _ call: ToolCall, step: Int, output: String, isError: Bool, seconds: Double, loop: AgentMachine,
        extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var fields: [String: JSONValue] = [
            "step": .number(Double(step)), "tool": .string(call.name), "call_id": .string(call.id),
            "arguments": .string(call.arguments), "brief": .string(brief(call)), "is_error": .bool(isError),
            "output": .string(output), "duration_s": .number(seconds),
            "total_tokens": .number(Double(loop.usage.totalTokens)), "cost_usd": .number(loop.costUSD),
        ]
        fields.merge(extra) { _, new in new }
        return .object(fields)
    }

    static func callJSON(_ call: ToolCall) -> JSONValue {
        ["id": .string(call.id), "name": .string(call.name), "arguments": .string(call.arguments)]
    }

    static func usageJSON(_ usage: Usage) -> JSONValue {
        [
            "input_tokens": .number(Double(usage.inputTokens)), "output_tokens": .number(Double(usage.outputTokens)),
            "cached_input_tokens": .number(Double(usage.cachedInputTokens)),
            "cache_write_tokens": .number(Double(usage.cacheWriteTokens)),
        ]
    }

    static func name(of verification: AgentMachine.Verification) -> String {
        switch verification {
        case .passed: "passed"
        case .passedWithoutProof: "passed_without_proof"
        case .testsRewritten: "tests_rewritten"
        case .failed: "failed"
        case .noTestCommand: "no_test_command"
        case .noChange: "no_change"
        }
    }

    /// A short form of a call's arguments for the live output: `cart.py:10-20`, `pytest -q`.
    static func brief(_ call: ToolCall) -> String {
        let args = JSONValue.parse(call.arguments) ?? [:]
        let text: String =
            switch call.name {
            case "read_file":
                (args["path"]?.stringValue ?? "")
                    + (args["start_line"]?.intValue.map { ":\($0)" + (args["end_line"]?.intValue.map { "-\($0)" } ?? "") } ?? "")
            case "shell": args["command"]?.stringValue ?? ""
            case "search": "/" + (args["pattern"]?.stringValue ?? "") + "/"
            case "list_files": args["glob"]?.stringValue ?? "**"
            default: args["path"]?.stringValue ?? ""
            }
        let oneLine = text.replacingOccurrences(of: "\n", with: " ")
        return oneLine.count > 60 ? String(oneLine.prefix(57)) + "…" : oneLine
    }

    static func commitMessage(task: String, outcome: AgentMachine.Outcome, runID: String) -> String {
        let firstLine = task.split(separator: "\n").first.map(String.init) ?? "change"
        let subject = firstLine.count > 66 ? String(firstLine.prefix(65)) + "…" : firstLine
        var body = outcome.summary.isEmpty ? "Task: \(task)" : outcome.summary
        if body.count > 4000 { body = String(body.prefix(4000)) + "…" }
        return "ferry: \(subject)\n\n\(body)\n\nFerry-Run: \(runID)\nFerry-Status: \(outcome.status.rawValue)"
    }
}

/// Retries reported while a model call is in flight, kept for the trace until the call ends.
final class RetryLog: Sendable {
    private let items = Mutex<[JSONValue]>([])
    func append(_ item: JSONValue) { items.withLock { $0.append(item) } }
    func drain() -> [JSONValue] { items.withLock { items in defer { items = [] }; return items } }
}

extension AgentRunner {
    /// The worktree's index (seeded from the repository's own index when it has one, so only files that differ are
    /// read) and the repo map for the task. Without ctags or on any index error the run goes on without them.
    static func knowledge(
        worktree: String, task: String, budgetTokens: Int, recorder: EventRecorder
    ) async -> (IndexKnowledge?, String) {
        do {
            let index = try CodeIndex.openSeeded(root: worktree)
            let stats = try await index.update()
            let map = try index.repoMap(task: task, budgetTokens: budgetTokens)
            await recorder.record(
                "index.ready",
                [
                    "files": .number(Double(stats.files)), "changed": .number(Double(stats.changed)),
                    "seconds": .number(stats.seconds), "map_tokens": .number(Double(CodeIndex.estimateTokens(map))),
                    "warning": stats.warning.map { .string($0) } ?? .null,
                ])
            return (IndexKnowledge(index: index), map)
        } catch {
            await recorder.record("index.failed", ["error": .string("\(error)")])
            return (nil, "")
        }
    }
}
