import FerryAgent
import FerryCore
import FerryIndex
import FerryModels
import FerryStore
import FerryWorkspace
import Foundation

/// `ferry chat`'s conversation, apart from the terminal: each line is a question (answered from the index afresh,
/// with the last turns as history) or a command. `/run` hands a task to the autonomous mode through a `TaskHost`;
/// `/diff` shows its change; `/apply` brings its commit onto the current branch and `/undo` takes back the last
/// thing the chat did to the repository, both through git. Every turn is stored as it happens (`--resume`).
public actor ChatSession {
    public nonisolated let chat: ChatInfo
    let assistant: @Sendable () async throws -> RepoAssistant
    let model: @Sendable () async throws -> any ChatModel
    let tasks: any TaskHost
    let store: ChatStore
    let root: String
    let out: @Sendable (String) -> Void
    private(set) var history: [ChatMessage] = []
    public private(set) var spent = Usage()
    public private(set) var spentUSD = 0.0
    private var lastRun: String?
    /// What `/undo` takes back: a commit `/apply` made (HEAD must still be it), or a run's branch.
    private var undoable: [Undo] = []
    enum Undo {
        case applied(commit: String, run: String)
        case run(id: String, branch: String)
    }

    public init(
        chat: ChatInfo, root: String, store: ChatStore, tasks: any TaskHost,
        assistant: @escaping @Sendable () async throws -> RepoAssistant,
        model: @escaping @Sendable () async throws -> any ChatModel,
        out: @escaping @Sendable (String) -> Void
    ) {
        self.chat = chat
        self.root = root
        self.store = store
        self.tasks = tasks
        self.assistant = assistant
        self.model = model
        self.out = out
    }

    public static let help = """
        Ask about the code in plain words; answers cite path:line. Commands:
          /run TASK   hand a task to the autonomous mode (a sandboxed, test-verified change on its own branch)
          /diff       the last run's change
          /apply      bring the last run's commit onto your current branch (git cherry-pick)
          /undo       take back the last /apply (or drop the last run's branch)
          /cost       tokens and dollars this chat has spent
          /help, /quit   (Ctrl-C stops an answer or a run, not the chat)
        """

    /// Loads a resumed chat's turns: the questions and answers become the history again, the spend is summed.
    public func resume() async throws -> Int {
        let turns = try await store.turns(of: chat.id)
        for turn in turns {
            spent.inputTokens += turn.inputTokens
            spent.outputTokens += turn.outputTokens
            spentUSD += turn.costUSD
            if turn.role == "user" { history.append(.user(turn.content)) }
            if turn.role == "assistant" { history.append(ChatMessage(role: .assistant, content: turn.content)) }
            if let run = turn.runID { lastRun = run }
        }
        return turns.count
    }

    /// Handles one line; returns false when the chat should end.
    public func handle(_ line: String) async -> Bool {
        let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return true }
        do {
            switch text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? "" {
            case "/quit", "/exit": return false
            case "/help": out(Self.help + "\n")
            case "/cost": out(costLine() + "\n")
            case "/run": try await run(String(text.dropFirst(4)).trimmingCharacters(in: .whitespaces))
            case "/diff": try await diff()
            case "/apply": try await apply()
            case "/undo": try await undo()
            case let command where command.hasPrefix("/"): out("unknown command \(command); /help lists them\n")
            default: try await ask(text)
            }
        } catch is CancellationError {
            out("\n(stopped)\n")
        } catch {
            out("error: \((error as? FerryError)?.message ?? "\(error)")\n")
        }
        return true
    }

    public func costLine() -> String {
        String(format: "this chat: %d tokens in, %d out, $%.4f", spent.inputTokens, spent.outputTokens, spentUSD)
    }

    func ask(_ question: String) async throws {
        try await store.append(ChatTurn(chatID: chat.id, role: "user", content: question))
        let repository = try await assistant()
        let model = try await model()
        let out = self.out
        let answer = try await repository.ask(
            question, model: model, history: history,
            onRetrieved: { sources, _ in
                out(
                    "(read "
                        + sources.prefix(4).map { "\($0.path):\($0.startLine)-\($0.endLine)" }.joined(separator: ", ")
                        + (sources.count > 4 ? ", …" : "") + ")\n")
            },
            onText: out)
        let invalid = answer.citations.filter { !$0.valid }
        out(
            "\n— \(answer.citations.count - invalid.count) citation(s) checked"
                + (invalid.isEmpty
                    ? ""
                    : ", \(invalid.count) not in the repo: "
                        + invalid.map { "\($0.path):\($0.line)" }.joined(separator: ", "))
                + String(
                    format: " · %d tokens · $%.4f\n", answer.usage.inputTokens + answer.usage.outputTokens,
                    answer.costUSD))
        history.append(.user(question))
        history.append(ChatMessage(role: .assistant, content: answer.answer))
        spent.inputTokens += answer.usage.inputTokens
        spent.outputTokens += answer.usage.outputTokens
        spentUSD += answer.costUSD
        try await store.append(
            ChatTurn(
                chatID: chat.id, role: "assistant", content: answer.answer, inputTokens: answer.usage.inputTokens,
                outputTokens: answer.usage.outputTokens, costUSD: answer.costUSD))
    }

    func run(_ task: String) async throws {
        guard !task.isEmpty else {
            out("usage: /run TASK (what to change)\n")
            return
        }
        let id = try await tasks.start(task: task, project: nil, base: nil).id
        lastRun = id
        out("run \(id) started; Ctrl-C stops it\n")
        var shown = ""
        do {
            while true {
                let status = try await tasks.status(id)
                if status.status != shown {
                    out("  \(status.status)\n")
                    shown = status.status
                }
                if !status.isLive { break }
                try await Task.sleep(for: .milliseconds(500))
            }
        } catch is CancellationError {
            _ = try await Task.detached { [tasks] in try await tasks.cancel(id) }.value
        }
        // A stopped run still reports (and is recorded) — outside this cancelled task.
        let result = try await Task.detached { [tasks] in try await tasks.result(id) }.value
        let cost = result.costUSD ?? 0
        spentUSD += cost
        spent.inputTokens += result.usage?.inputTokens ?? 0
        spent.outputTokens += result.usage?.outputTokens ?? 0
        if let branch = result.branch { undoable.append(.run(id: id, branch: branch)) }
        let files = RunReport.changedFiles(in: result.diff ?? "")
        out(
            "run \(id): \(result.status) — \(result.reason ?? "")\n"
                + (files.isEmpty
                    ? ""
                    : "  changed: \(files.joined(separator: ", ")) on \(result.branch ?? "?"); /diff shows it, /apply brings it here\n")
                + String(format: "  cost $%.4f\n", cost))
        let turn = ChatTurn(chatID: chat.id, role: "command", content: "/run \(task)", costUSD: cost, runID: id)
        try await Task.detached { [store] in try await store.append(turn) }.value
    }

    func diff() async throws {
        guard let id = lastRun else {
            out("no run yet in this chat; /run TASK starts one\n")
            return
        }
        let diff = try await tasks.result(id).diff ?? ""
        out(diff.isEmpty ? "run \(id) changed nothing\n" : diff + (diff.hasSuffix("\n") ? "" : "\n"))
    }

    func apply() async throws {
        guard let id = lastRun else {
            out("no run to apply; /run TASK starts one\n")
            return
        }
        let result = try await tasks.result(id)
        guard let commit = result.commit, !commit.isEmpty else {
            out("run \(id) has no commit to apply\n")
            return
        }
        let git = Git(root)
        if (try? await git.run("cat-file", "-e", commit + "^{commit}")) != nil {
            do {
                _ = try await git.run("cherry-pick", commit)
            } catch {
                _ = try? await git.run("cherry-pick", "--abort")
                throw FerryError(.git, "git cherry-pick \(commit.prefix(10)) failed, nothing changed: \(error)")
            }
        } else {
            // A team server's run: its commit is not here, its diff is.
            let diff = result.diff ?? ""
            guard !diff.isEmpty else { throw FerryError(.git, "run \(id) has no diff to apply") }
            let patch = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-apply-\(id).patch").path
            try Data(diff.utf8).write(to: URL(fileURLWithPath: patch))
            defer { try? FileManager.default.removeItem(atPath: patch) }
            do {
                _ = try await git.run("apply", "--index", patch)
            } catch {
                throw FerryError(.git, "git apply of run \(id)'s diff failed, nothing changed: \(error)")
            }
            let task =
                (result.task ?? "change").split(separator: "\n").first.map(String.init) ?? "change"
            _ = try await git.run(
                "commit", "--quiet", "-m",
                "\(task.prefix(66))\n\nFerry task \(id) (\(result.status)), applied by ferry chat."
            )
        }
        let head = try await git.run("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        undoable.append(.applied(commit: head, run: id))
        out("applied run \(id) as \(head.prefix(10)) on your branch; /undo takes it back\n")
        try await store.append(ChatTurn(chatID: chat.id, role: "command", content: "/apply \(id) → \(head)", runID: id))
    }

    func undo() async throws {
        guard let last = undoable.popLast() else {
            out("nothing to undo\n")
            return
        }
        let git = Git(root)
        switch last {
        case .applied(let commit, let run):
            let head = try await git.run("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
            guard head == commit else {
                undoable.append(last)
                throw FerryError(
                    .git,
                    "HEAD moved since /apply (it is \(head.prefix(10)), not \(commit.prefix(10))); undo it with git yourself"
                )
            }
            // --keep refuses instead of losing uncommitted work in the files the commit touched.
            _ = try await git.run("reset", "--keep", "HEAD~1")
            out("took back \(commit.prefix(10)) (run \(run)); its branch keeps the change\n")
            try await store.append(
                ChatTurn(chatID: chat.id, role: "command", content: "/undo apply \(commit)", runID: run))
        case .run(let id, let branch):
            _ = try await git.run("branch", "-D", branch)
            if lastRun == id { lastRun = nil }
            out("dropped run \(id)'s branch \(branch)\n")
            try await store.append(ChatTurn(chatID: chat.id, role: "command", content: "/undo run \(id)", runID: id))
        }
    }
}
