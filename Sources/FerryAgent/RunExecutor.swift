import FerryCore
import FerryIndex
import FerryModels
import FerrySandbox
import FerryWorkspace
import Foundation

/// Performs a `RunMachine`'s actions for one run, one method per action, and reports back what happened. It decides
/// nothing: what comes next is always the machine's answer.
struct RunExecutor: Sendable {
    let task: String
    let model: any ChatModel
    let config: FerryConfig
    let workspace: Workspace
    let git: Git
    let base: String
    let runner: any CommandRunner
    let recorder: EventRecorder
    let control: RunControl
    let runID: String
    let started: ContinuousClock.Instant
    var machine: RunMachine
    /// Read by `gatherContext`, for the loop's first prompt.
    var files: [String] = []
    var relevant: [RelevantFiles.File] = []
    /// The definitions the attempt was shown, when its files were too large to show whole: the loop starts with them.
    var attemptUnits: [SymbolUnit] = []
    var agents: AgentInstructions.File?
    /// Made by `prepareLoop`.
    var tools: ToolBox?
    /// Tools of the MCP servers the config names, for the loop.
    var externalTools: (any ExternalTools)?
    /// The worktree's index, once opened (by the attempt's localisation or the loop's setup).
    var index: CodeIndex?

    func elapsed() -> Double { (ContinuousClock.now - started).inSeconds }

    /// Runs the machine to its end. An error or a cancellation ends the run there, recorded; the machine is returned
    /// either way, with what the run spent.
    mutating func execute() async -> RunMachine {
        do {
            var action = machine.handle(.start(now: elapsed()))
            while true {
                await recorder.record(machine.takeRecords())
                let event: RunMachine.Event
                switch action {
                case .runBaseline(let command): event = try await runBaseline(command)
                case .gatherContext(let attempt, let reproduction):
                    event = try await gatherContext(attempt: attempt, reproduction: reproduction)
                case .callModel(let request): event = try await callModel(request)
                case .runTool(let call): event = try await runTool(call)
                case .write(let files): event = try await write(files)
                case .checkSyntax(let paths): event = try await checkSyntax(paths)
                case .runTests: event = .testsRan(try await runTests(), now: elapsed())
                case .listChanges(let summary): event = try await listChanges(summary: summary)
                case .prove(let step): event = .proved(try await prove(step))
                case .compact(let messages): event = try await compact(messages)
                case .prepareLoop(let note): event = try await prepareLoop(note: note)
                case .stop: return machine
                }
                action = machine.handle(event)
            }
        } catch {
            let interrupted = Task.isCancelled || error is CancellationError || control.isCancelled
            let reason =
                interrupted
                ? (control.cancelReason ?? "interrupted") : "error: \((error as? FerryError)?.message ?? "\(error)")"
            await recorder.record(machine.takeRecords())
            await recorder.record(.runError(.init(reason)))
            machine.abort(status: interrupted ? .interrupted : .failed, reason: reason)
            return machine
        }
    }

    // MARK: - Actions

    func runBaseline(_ command: String) async throws -> RunMachine.Event {
        await recorder.record(.baselineStarted(.init(command)))
        let run = try await TestRun.run(command, in: workspace.root, runner: runner, timeout: config.testTimeoutSeconds)
        await recorder.record(.baseline(.init(run)))
        return .baselineRan(run, now: elapsed())
    }

    mutating func gatherContext(attempt: Bool, reproduction: Bool) async throws -> RunMachine.Event {
        agents = AgentInstructions(root: workspace.root).rootInstructions()
        files = try await git.listFiles()
        relevant = RelevantFiles.select(
            task: task, files: files, root: workspace.root, budgetTokens: machine.relevantFileTokens)
        var context = RunMachine.Context(agents: agents.map { SourceFile(path: $0.path, text: $0.text) })
        guard attempt else { return .contextGathered(context, now: elapsed()) }
        let maxOutput = model.profile.maxOutputTokens
        if let choice = await symbolChoice(maxOutputTokens: maxOutput) {
            context.attemptFiles = choice.files
            context.attemptSymbols = choice.units
            attemptUnits = choice.units
            context.outlines = choice.outlines
            if reproduction {
                context.testFile = AttemptFiles.testFile(
                    task: task,
                    editable: choice.files.map { RelevantFiles.File(path: $0.path, text: $0.text, score: 1) },
                    files: files, root: workspace.root, maxOutputTokens: maxOutput
                ).map { SourceFile(path: $0.path, text: $0.text) }
            }
            return .contextGathered(context, now: elapsed())
        }
        var editable = AttemptFiles.editableFiles(task: task, relevant: relevant, maxOutputTokens: maxOutput)
        if editable.isEmpty {
            editable = AttemptFiles.smallRepositoryFiles(files: files, root: workspace.root, maxOutputTokens: maxOutput)
        }
        context.attemptFiles = editable.map { SourceFile(path: $0.path, text: $0.text) }
        if reproduction, !editable.isEmpty {
            context.testFile = AttemptFiles.testFile(
                task: task, editable: editable, files: files, root: workspace.root, maxOutputTokens: maxOutput
            ).map { SourceFile(path: $0.path, text: $0.text) }
        }
        return .contextGathered(context, now: elapsed())
    }

    mutating func callModel(_ request: RunMachine.ModelRequest) async throws -> RunMachine.Event {
        let step = machine.budget.steps + 1
        let chat = ChatRequest(
            messages: request.messages, tools: request.tools ? tools?.specs ?? [] : [], maxTokens: request.maxTokens,
            temperature: request.temperature)
        let executor = self
        let outcome = try await withTimeLimit(machine.budget.secondsLeft(now: elapsed())) {
            try await executor.complete(chat, step: step, phase: request.phase)
        }
        switch outcome {
        case .timeUp:
            return .timeUp(now: elapsed())
        case .value(.failure(let error)):
            await recorder.record(.modelError(.init(step: step, phase: request.phase, error: "\(error)")))
            return .modelFailed("\(error)", now: elapsed())
        case .value(.success(let reply)):
            let cost = model.profile.effectivePrice?.cost(of: reply.usage) ?? 0
            await recorder.record(.modelReply(.init(step: step, phase: request.phase, reply: reply, cost: cost)))
            try await checkSpend(reply.usage, cost: cost)
            return .modelReplied(reply, cost: cost, now: elapsed())
        }
    }

    /// Asks the host whether the run may go on spending, with this reply counted; a reason halts it.
    mutating func checkSpend(_ usage: Usage, cost: Double) async throws {
        guard let check = control.spendCheck else { return }
        var spent = machine.budget
        spent.spend(usage, cost: cost)
        let spend = RunControl.Spend(
            runID: runID, steps: spent.steps, usage: spent.usage, costUSD: spent.costUSD, lastCallUsage: usage,
            lastCallUSD: cost)
        if let reason = await check(spend) { machine.halt(reason) }
    }

    func runTool(_ call: ToolCall) async throws -> RunMachine.Event {
        guard let tools else { throw FerryError(.tool, "internal error: a tool call before the tools were ready") }
        let callStart = elapsed()
        let outcome = try await withTimeLimit(machine.budget.secondsLeft(now: elapsed())) { await tools.execute(call) }
        guard case .value(.success(let result)) = outcome else {
            await recorder.record(
                .toolResult(
                    .init(
                        step: machine.budget.steps, call: call, isError: true,
                        output: "[ferry: cut off by the run's time limit; its process tree was killed]",
                        durationSeconds: elapsed() - callStart, budget: machine.budget, timedOut: true)))
            return .timeUp(now: elapsed())
        }
        await recorder.record(
            .toolResult(
                .init(
                    step: machine.budget.steps, call: call, isError: result.isError, output: result.output,
                    durationSeconds: elapsed() - callStart, budget: machine.budget)))
        return .toolFinished(result, now: elapsed())
    }

    func write(_ files: [String: String]) async throws -> RunMachine.Event {
        for (path, content) in files.sorted(by: { $0.key < $1.key }) {
            try Workspace.write(Data(content.utf8), to: try workspace.resolve(path))
        }
        return .written(changed: try await git.changedFiles(against: base), now: elapsed())
    }

    func runTests() async throws -> TestRun {
        guard let command = machine.testCommand else {
            throw FerryError(.tool, "internal error: tests asked for without a test command")
        }
        return try await TestRun.run(command, in: workspace.root, runner: runner, timeout: config.testTimeoutSeconds)
    }

    /// A change is to be judged: the files that differ from the base.
    func listChanges(summary: String?) async throws -> RunMachine.Event {
        if let summary { await recorder.record(.verifyStarted(.init(summary: summary))) }
        return .changesListed(try await git.changedFiles(against: base), now: elapsed())
    }

    /// One step of the proof, as the `ProofMachine` (through the run machine) asks.
    func prove(_ step: ProofMachine.Action) async throws -> ProofMachine.Event {
        try await ChangeProof.perform(step, base: base, git: git, root: workspace.root, runner: runner, now: elapsed)
    }

    func compact(_ messages: [ChatMessage]) async throws -> RunMachine.Event {
        let transcript = messages.map { message in
            "[\(message.role.rawValue)\(message.toolName.map { " \($0)" } ?? "")] \(message.content)"
                + (message.toolCalls.isEmpty
                    ? "" : " " + message.toolCalls.map { "\($0.name)(\($0.arguments))" }.joined(separator: " "))
        }.joined(separator: "\n\n")
        let request = ChatRequest(
            messages: [
                .system(Prompts.compaction),
                .user(Truncation.headTail(transcript, limit: model.profile.contextWindow * 2)),
            ],
            tools: [])
        do {
            let reply = try await model.complete(request)
            let cost = model.profile.effectivePrice?.cost(of: reply.usage) ?? 0
            return .compacted(summary: reply.content, usage: reply.usage, cost: cost, now: elapsed())
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return .compactionFailed(now: elapsed())
        }
    }

    mutating func prepareLoop(note: String) async throws -> RunMachine.Event {
        let baseline = machine.baseline?.describe(tailBytes: 1_500)
        let bare =
            [ChatMessage.system(Prompts.system)]
            + Prompts.task(
                task, agents: agents, testCommand: machine.testCommand, baseline: baseline, files: files,
                earlierAttempt: note)
        let budgets = machine.loopContextBudgets(
            fixed: bare.reduce(0) { $0 + $1.estimatedTokens }, secondsLeft: machine.budget.secondsLeft(now: elapsed()),
            pace: machine.budget.pace)
        // First the definitions the attempt was shown (parts of files too large to show whole), so that the loop
        // does not spend its first calls finding them again: on click it searched for the very methods the attempt
        // had shown. Then the map, then the files, each within what is left.
        var room = budgets.map + budgets.relevant
        let definitions = RelevantFiles.fit(attemptUnits, budgetTokens: room)
        room -= definitions.reduce(0) { $0 + RelevantFiles.cost($1.text) }
        let mapBudget = min(budgets.map, room)
        var knowledge: IndexKnowledge?
        var repoMap = ""
        if machine.repoMapTokens > 0 {
            (knowledge, repoMap) = await Self.knowledge(
                worktree: workspace.root, task: task, budgetTokens: mapBudget, recorder: recorder, opened: index)
        }
        room -= CodeIndex.estimateTokens(repoMap)
        let candidates = relevant.filter { file in !definitions.contains { $0.path == file.path } }
        let shown = RelevantFiles.fit(candidates, budgetTokens: min(budgets.relevant, room))
        var cut: [String] = []
        if definitions.count < attemptUnits.count {
            cut.append("\(definitions.count) of the \(attemptUnits.count) definitions the attempt was shown")
        }
        if mapBudget < machine.repoMapTokens {
            cut.append("a repo map of up to \(mapBudget) tokens (\(machine.repoMapTokens) with time to spare)")
        }
        if shown.count < candidates.count { cut.append("\(shown.count) of the \(candidates.count) relevant files") }
        if !cut.isEmpty {
            await recorder.record(
                .loopContext(
                    .init(
                        "the first prompt keeps to what the model reads in a third of the time left: "
                            + cut.joined(separator: ", "))))
        }
        let history =
            [ChatMessage.system(Prompts.system)]
            + Prompts.task(
                task, agents: agents, testCommand: machine.testCommand, baseline: baseline, files: files,
                relevant: shown, definitions: definitions, repoMap: repoMap, earlierAttempt: note)
        var toolConfig = ToolBox.Configuration()
        toolConfig.shellTimeoutSeconds = config.shellTimeoutSeconds
        if let limit = machine.toolOutputLimit { toolConfig.outputLimit = limit }
        toolConfig.protectedTests = .allExcept(mentionedIn: task)
        tools = ToolBox(
            workspace: workspace, runner: runner, configuration: toolConfig,
            knowledge: RunMachine.offersIndexTools(fileCount: files.count) ? knowledge : nil, external: externalTools)
        return .loopReady(history: history, now: elapsed())
    }

    /// The worktree's index (seeded from the repository's own index when it has one, so only files that differ are
    /// read) and the repo map for the task. Without ctags or on any index error the run goes on without them.
    static func knowledge(
        worktree: String, task: String, budgetTokens: Int, recorder: EventRecorder, opened: CodeIndex? = nil
    ) async -> (IndexKnowledge?, String) {
        do {
            // An index the attempt opened is current: the attempt's changes were put back before the loop.
            if let opened {
                return (IndexKnowledge(index: opened), try opened.repoMap(task: task, budgetTokens: budgetTokens))
            }
            let index = try CodeIndex.openSeeded(root: worktree)
            let stats = try await index.update()
            let map = try index.repoMap(task: task, budgetTokens: budgetTokens)
            await recorder.record(
                .indexReady(
                    .init(
                        files: stats.files, changed: stats.changed, seconds: stats.seconds,
                        mapTokens: CodeIndex.estimateTokens(map), warning: stats.warning)))
            return (IndexKnowledge(index: index), map)
        } catch {
            await recorder.record(.indexFailed(.init("\(error)")))
            return (nil, "")
        }
    }
}
