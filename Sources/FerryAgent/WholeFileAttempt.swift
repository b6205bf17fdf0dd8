import FerryCore
import FerryModels
import FerrySandbox
import FerryWorkspace
import Foundation

/// The first attempt at a task whose likely files are small: one plain request with those files whole, one reply
/// with the complete corrected file(s), then the tests. A failure goes back to the model with the test output for
/// another whole-file answer, a few times; if none passes, the files are put back and the tool loop starts, told
/// what was tried.
///
/// Why: a small model breaks a multi-step tool protocol far more often than it breaks "here is the file, give it
/// back fixed", and the one-shot prompt costs a fraction of a tool loop's tokens (aider's whole-file format resolved
/// 18 of 20 ferry-easy tasks with the 1.5B model where Ferry's loop resolved 3). A strong model passes the first
/// time and never pays for the loop either.
enum WholeFileAttempt {
    /// The most files one attempt may rewrite.
    static let maxFiles = 3
    /// Replies per attempt: the first answer plus rounds with the failing tests' output.
    static let maxReplies = 3

    /// The files the attempt may rewrite: the task's likeliest files (named in it, or defining what it names),
    /// never a test the task does not name, each small enough to come back whole within one reply. Empty when the
    /// task has no clear files, so the attempt is skipped.
    static func editableFiles(task: String, relevant: [RelevantFiles.File], maxOutputTokens: Int) -> [RelevantFiles.File] {
        let lowerTask = task.lowercased()
        let candidates = relevant.filter { file in
            let named = lowerTask.contains(file.path.lowercased())
                || lowerTask.contains((file.path as NSString).lastPathComponent.lowercased())
            return file.score >= 2 && (!TestPaths.isTest(file.path) || named)
        }
        guard let top = candidates.map(\.score).max() else { return [] }
        // Each file must fit in one reply with room to spare, or the model cannot give it back whole.
        let replyRoom = maxOutputTokens * 3 / 4
        let chosen = candidates.filter { $0.score >= top * 0.3 }.prefix(maxFiles)
        guard chosen.allSatisfy({ tokens($0.text) <= replyRoom }) else { return [] }
        return Array(chosen)
    }

    /// A cautious token estimate for code (about three bytes a token).
    static func tokens(_ text: String) -> Int { text.utf8.count / 3 + 1 }

    static let system = """
        You are Ferry, an expert software engineer. Fix the task by changing the files you are given.
        First, in one or two sentences, say what is wrong and how you will fix it.
        Then, for each file you change, give its path alone on a line, then its complete new content in a fenced \
        code block. Give every line of the file: never leave code out or write "rest of the code". Change only \
        what the task needs, keep the style, and do not change tests. Do not repeat files you leave unchanged.
        """

    static func prompt(task: String, files: [RelevantFiles.File], agents: AgentInstructions.File?) -> String {
        var text = ""
        if let agents { text += "# Project instructions (\(agents.path))\n\(agents.text)\n\n" }
        text += "# Task\n\(task)\n\n# Files\n"
        for file in files {
            let body = file.text.hasSuffix("\n") ? String(file.text.dropLast()) : file.text
            text += "\n\(file.path)\n```\(fenceLanguage(file.path))\n\(body)\n```\n"
        }
        return text
    }

    static func retryPrompt(problems: [String], tests: TestRun?, changed: [String]) -> String {
        var text = ""
        if let tests {
            text += "With your change to \(changed.joined(separator: ", ")), the tests (`\(tests.command)`) fail:\n"
            text += tests.describe(tailBytes: 1_500) + "\n\n"
        }
        if !problems.isEmpty {
            text += problems.joined(separator: "\n") + "\n\n"
        }
        if tests == nil && problems.isEmpty {
            text += "Your reply changed no file, so the task is not done. Read the task again and find the line "
                + "that makes the code behave the way it describes.\n\n"
        }
        return text + "Reply again with the complete corrected file(s), each as its path on a line and the whole "
            + "content in a fenced block."
    }

    /// What the tool loop is told when the attempt did not pass (its change has been put back).
    static func note(lastTests: TestRun?, changed: [String], replies: Int) -> String {
        guard let lastTests, !changed.isEmpty else {
            return "\n\n# Earlier attempt\nA first attempt (\(replies) whole-file replies) produced no usable change."
        }
        return "\n\n# Earlier attempt\nA first attempt rewrote \(changed.joined(separator: ", ")); the tests then "
            + "failed, so it was undone:\n" + lastTests.describe(tailBytes: 800)
    }

    static func fenceLanguage(_ path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "py": "python"
        case "js", "mjs", "cjs": "javascript"
        case "ts": "typescript"
        case "sh", "bash": "bash"
        case "swift": "swift"
        case "rb": "ruby"
        case "go": "go"
        case "rs": "rust"
        default: ""
        }
    }
}

extension AgentRunner {
    /// How the whole-file attempt ended.
    struct AttemptResult {
        /// Set when the attempt settles the run (its change stays).
        var outcome: AgentMachine.Outcome?
        var finalTests: TestRun?
        /// For the tool loop's first prompt, when the run goes on.
        var note: String = ""
        var calls: [(usage: Usage, cost: Double)] = []
    }

    struct AttemptContext {
        var task: String
        var files: [RelevantFiles.File]
        var agents: AgentInstructions.File?
        var workspace: Workspace
        var base: String
        var git: Git
        var runner: any CommandRunner
        var testCommand: String?
        var baseline: TestRun?
        var recorder: EventRecorder
        var elapsed: @Sendable () -> Double
    }

    func wholeFileAttempt(_ context: AttemptContext) async throws -> AttemptResult {
        var result = AttemptResult()
        let originals = Dictionary(uniqueKeysWithValues: context.files.map { ($0.path, $0.text) })
        var messages: [ChatMessage] = [
            .system(WholeFileAttempt.system),
            .user(WholeFileAttempt.prompt(task: context.task, files: context.files, agents: context.agents)),
        ]
        await context.recorder.record(
            "attempt.started", ["files": .array(context.files.map { .string($0.path) }), "kind": .string("whole_file")])
        let price = model.profile.effectivePrice
        var spent = 0.0
        var lastTests: TestRun?
        var lastChanged: [String] = []
        for replyNumber in 1...WholeFileAttempt.maxReplies {
            if let maxCost = config.limits.maxCostUSD, spent >= maxCost { break }
            let remainingTime = config.limits.maxTimeSeconds.map { max(0, $0 - context.elapsed()) }
            if let remainingTime, remainingTime <= 0 { break }
            let request = ChatRequest(messages: messages, tools: [])
            let reply = try await withTimeLimit(remainingTime) {
                try await model.complete(request)
            }
            guard case .value(.success(let reply)) = reply else {
                if case .value(.failure(let error)) = reply {
                    await context.recorder.record("model.error", ["phase": .string("attempt"), "error": .string("\(error)")])
                }
                break
            }
            // At temperature 0 the same request gets the same answer; asking again would only cost tokens.
            let repeated = messages.last(where: { $0.role == .assistant })?.content == reply.content
            let cost = price?.cost(of: reply.usage) ?? 0
            spent += cost
            result.calls.append((reply.usage, cost))
            await context.recorder.record(
                "model.reply",
                [
                    "step": .number(Double(result.calls.count)), "phase": .string("attempt"), "content": .string(reply.content),
                    "tool_calls": .array([]), "format_error": .null, "usage": Self.usageJSON(reply.usage),
                    "cost_usd": .number(cost), "finish_reason": reply.finishReason.map { .string($0) } ?? .null,
                    "server_timings": reply.serverTimings ?? .null,
                ])
            if repeated { break }
            messages.append(ChatMessage(role: .assistant, content: reply.content))

            var parsed = WholeFileReply.parse(reply.content, allowed: originals)
            if reply.finishReason == "length" {
                parsed.problems.append("Your reply was cut off at the length limit; give only the files you change.")
                parsed.files.removeAll()
            }
            // Write what parsed; files it no longer rewrites go back to the base.
            let writes = Dictionary(parsed.files.map { ($0.path, $0.content) }, uniquingKeysWith: { $1 })
            for (path, original) in originals {
                let text = writes[path] ?? original
                try Workspace.write(Data(text.utf8), to: try context.workspace.resolve(path))
            }
            let changed = try await context.git.changedFiles(against: context.base)
            await context.recorder.record(
                "attempt.applied",
                [
                    "reply": .number(Double(replyNumber)), "changed_files": .array(changed.map { .string($0) }),
                    "problems": .array(parsed.problems.map { .string($0) }),
                ])
            guard !changed.isEmpty else {
                lastTests = nil
                lastChanged = []
                messages.append(.user(WholeFileAttempt.retryPrompt(problems: parsed.problems, tests: nil, changed: [])))
                continue
            }
            guard let testCommand = context.testCommand else {
                // Nothing can judge it; the loop could not either. The change stands, unverified.
                result.outcome = AgentMachine.Outcome(
                    status: .unverified, reason: "no test command could judge the change",
                    summary: Self.summary(of: reply.content, paths: Set(originals.keys)))
                await context.recorder.record("verify.result", ["outcome": .string("no_test_command"), "changed_files": .array(changed.map { .string($0) }), "tests": .null])
                return result
            }
            let tests = try await TestRun.run(
                testCommand, in: context.workspace.root, runner: context.runner, timeout: config.testTimeoutSeconds)
            let judged = try await ChangeProof.judge(
                final: tests, baseline: context.baseline, changed: changed, base: context.base, git: context.git,
                root: context.workspace.root, runner: context.runner, timeout: config.testTimeoutSeconds)
            await context.recorder.record(
                "verify.result",
                [
                    "outcome": .string(Self.name(of: judged.verification)), "phase": .string("attempt"),
                    "changed_files": .array(changed.map { .string($0) }), "tests": tests.json,
                ])
            switch judged.verification {
            case .passed(let detail):
                result.finalTests = tests
                result.outcome = AgentMachine.Outcome(status: .verified, reason: detail, summary: Self.summary(of: reply.content, paths: Set(originals.keys)))
                return result
            case .passedWithoutProof(let detail):
                result.finalTests = tests
                result.outcome = AgentMachine.Outcome(
                    status: .unverified,
                    reason: "\(detail), but no test failed without the change, so the tests do not show the task is done",
                    summary: Self.summary(of: reply.content, paths: Set(originals.keys)))
                return result
            case .failed, .noChange, .noTestCommand:
                lastTests = tests
                lastChanged = changed
                messages.append(.user(WholeFileAttempt.retryPrompt(problems: parsed.problems, tests: tests, changed: changed)))
            }
        }
        // Not settled: put the files back and let the loop start from the base, told what failed.
        for (path, original) in originals {
            try Workspace.write(Data(original.utf8), to: try context.workspace.resolve(path))
        }
        await context.recorder.record("attempt.finished", ["outcome": .string("undone"), "replies": .number(Double(result.calls.count))])
        result.note = WholeFileAttempt.note(lastTests: lastTests, changed: lastChanged, replies: result.calls.count)
        return result
    }

    /// The prose of a whole-file reply (what is wrong and how it was fixed), without the files and their paths.
    static func summary(of reply: String, paths: Set<String>) -> String {
        var inFence = false
        var prose: [String] = []
        for line in reply.split(separator: "\n") {
            if WholeFileReply.openingFence(String(line)) != nil {
                inFence.toggle()
                continue
            }
            let text = line.trimmingCharacters(in: .whitespaces)
            if !inFence, !text.isEmpty, !paths.contains(text.trimmingCharacters(in: CharacterSet(charactersIn: "*`#: "))) {
                prose.append(text)
            }
        }
        let text = prose.joined(separator: " ")
        return text.isEmpty ? "Rewrote \(paths.sorted().joined(separator: ", "))." : String(text.prefix(500))
    }
}
