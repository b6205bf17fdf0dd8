import FerryCore
import FerryModels
import FerrySandbox
import FerryWorkspace
import Foundation

/// The first attempt at a task whose likely files are small, before any tool loop:
/// 1. when the project's tests pass before any change (so they cannot show the task is done), one request for the
///    task's test file with a test added that reproduces the problem; it is kept only if it fails now;
/// 2. one plain request with the likely files whole and the task (and the failing reproduction test), one reply with
///    the complete corrected file(s), then the tests; a failure goes back with the test output, up to 3 replies;
/// 3. if no fix passes but a reproduction test was in play, the first fix stands (unverified) when the project's own
///    tests pass with it; otherwise the files are put back and the tool loop starts, told what was tried.
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
    /// The temperature of the replies after the first.
    static let retryTemperature = 0.7

    /// The files the attempt may rewrite: the task's likeliest files (named in it, or defining what it names),
    /// never a test the task does not name, each small enough to come back whole within one reply. Empty when the
    /// task has no clear files, so the attempt is skipped.
    static func editableFiles(task: String, relevant: [RelevantFiles.File], maxOutputTokens: Int) -> [RelevantFiles.File] {
        // The same rule as the tool loop's: a test the task does not name is not the model's to rewrite.
        let protection = ToolBox.TestProtection.allExcept(mentionedIn: task)
        let candidates = relevant.filter { $0.score >= 2 && !protection.protects($0.path) }
        guard let top = candidates.map(\.score).max() else { return [] }
        let chosen = candidates.filter { $0.score >= top * 0.3 }.prefix(maxFiles)
        guard chosen.allSatisfy({ fitsInReply($0.text, maxOutputTokens) }) else { return [] }
        return Array(chosen)
    }

    /// Extensions of source files, for `smallRepositoryFiles`.
    static let sourceExtensions: Set<String> = [
        "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "sh", "bash", "swift", "rb", "go", "rs", "java", "kt", "c", "h",
        "cc", "cpp", "hpp", "cs", "php", "lua", "pl", "ex", "exs", "scala", "dart",
    ]

    /// When the task names nothing the index can match but the repository has only a few source files, those are the
    /// likely files (a task in plain words on a one-module project: "customers with 10 items get no discount").
    static func smallRepositoryFiles(files: [String], root: String, maxOutputTokens: Int) -> [RelevantFiles.File] {
        let sources = files.filter {
            !TestPaths.isTest($0) && sourceExtensions.contains(($0 as NSString).pathExtension.lowercased())
        }
        guard (1...maxFiles).contains(sources.count) else { return [] }
        var chosen: [RelevantFiles.File] = []
        for path in sources {
            guard let data = FileManager.default.contents(atPath: root + "/" + path), !data.isEmpty, !data.contains(0)
            else { return [] }
            let text = String(decoding: data, as: UTF8.self)
            guard fitsInReply(text, maxOutputTokens) else { return [] }
            chosen.append(RelevantFiles.File(path: path, text: text, score: 1))
        }
        return chosen
    }

    /// The test file a reproduction test goes into: the small test file that most concerns the files being fixed —
    /// it names them (`bin/greet.sh`, `from grades import`) or the task's identifiers (`titleCase`). Nil when no test
    /// file is clearly about them.
    static func testFile(
        task: String, editable: [RelevantFiles.File], files: [String], root: String, maxOutputTokens: Int
    ) -> RelevantFiles.File? {
        let stems = Set(editable.map { (($0.path as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased() })
            .filter { $0.count >= 3 }
        let identifiers = RelevantFiles.identifiers(in: task)
        var best: (file: RelevantFiles.File, score: Double)?
        for path in files where TestPaths.isTest(path) {
            guard let data = FileManager.default.contents(atPath: root + "/" + path), data.count < 16_000, !data.contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            guard fitsInReply(text, maxOutputTokens) else { continue }
            let lower = text.lowercased()
            let name = (path as NSString).lastPathComponent.lowercased()
            var score = 0.0
            for stem in stems {
                if name.contains(stem) { score += 3 }
                if lower.contains(stem) { score += 1 }
            }
            for identifier in identifiers where text.contains(identifier) { score += 2 }
            if score > 0, score > (best?.score ?? 0) { best = (RelevantFiles.File(path: path, text: text, score: score), score) }
        }
        return best?.file
    }

    /// A cautious token estimate for code (about three bytes a token).
    static func tokens(_ text: String) -> Int { text.utf8.count / 3 + 1 }

    /// Whether a file can come back whole in one reply, with room to spare for a sentence or two.
    static func fitsInReply(_ text: String, _ maxOutputTokens: Int) -> Bool { tokens(text) <= maxOutputTokens * 3 / 4 }

    static let system = """
        You are Ferry, an expert software engineer. You change the files you are given so that the task is done.
        First say, in one or two short sentences, what you will change. Then give each file you change as a file \
        listing: its path alone on the first line, then a fenced code block with the entire new content of the \
        file. Never leave out any of the file's lines, and never write "..." or "rest of the code" in a listing. \
        Change only what the task needs; keep the code's style; do not change tests; do not list files you leave \
        unchanged.

        Example: for "greet() should say Hey, not Hello" and a file greet.py, the reply is:
        I will change the greeting from "Hello" to "Hey".

        greet.py
        ```python
        def greet(name):
            return f"Hey {name}"
        ```
        """

    /// The files first and the task last, nearest to the answer (small models weigh the end of a prompt most).
    static func prompt(task: String, files: [RelevantFiles.File], agents: AgentInstructions.File?) -> String {
        var text = ""
        if let agents { text += "# Project instructions (\(agents.path))\n\(agents.text)\n\n" }
        text += "# Files\n"
        for file in files {
            let body = file.text.hasSuffix("\n") ? String(file.text.dropLast()) : file.text
            text += "\n\(file.path)\n```\(fenceLanguage(file.path))\n\(body)\n```\n"
        }
        text += "\n# Task\n\(task)\n"
        return text
    }

    static let reproductionSystem = """
        You are Ferry, an expert software engineer. Before the task is done, write a test that shows the problem: \
        add ONE new test function to the test file you are given that fails with the code as it is now and will \
        pass once the task is done. Use the concrete inputs and expected results the task gives. Keep every \
        existing test exactly as it is; only add. Reply with the file's path alone on a line, then a fenced code block with the entire new content \
        of the test file. Nothing else.
        """

    static func reproductionPrompt(task: String, testFile: RelevantFiles.File) -> String {
        let body = testFile.text.hasSuffix("\n") ? String(testFile.text.dropLast()) : testFile.text
        return "# Test file\n\n\(testFile.path)\n```\(fenceLanguage(testFile.path))\n\(body)\n```\n\n# Task\n\(task)\n"
    }

    /// The lines `new` adds to `original`, when it keeps every line of it in order; nil when it changes or drops any.
    static func addedLines(original: String, new: String) -> String? {
        let old = original.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var added: [Substring] = []
        var index = 0
        for line in new.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if index < old.count, trimmed == old[index] {
                index += 1
            } else if !trimmed.isEmpty {
                added.append(line)
            }
        }
        guard index == old.count, !added.isEmpty else { return nil }
        return added.prefix(40).joined(separator: "\n")
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
        /// The task's test file, for the reproduction test (none: the attempt goes without one).
        var testFile: RelevantFiles.File?
        var baseline: TestRun?
        var recorder: EventRecorder
        var elapsed: @Sendable () -> Double
    }

    func wholeFileAttempt(_ context: AttemptContext) async throws -> AttemptResult {
        var result = AttemptResult()
        let originals = Dictionary(uniqueKeysWithValues: context.files.map { ($0.path, $0.text) })
        let paths = Set(originals.keys)
        await context.recorder.record(
            "attempt.started", ["files": .array(context.files.map { .string($0.path) }), "kind": .string("whole_file")])
        let price = model.profile.effectivePrice
        var spent = 0.0

        /// One plain model call within the run's limits, counted and traced; nil when a limit or an error ends it.
        func call(_ messages: [ChatMessage], phase: String, maxTokens: Int, temperature: Double? = nil) async throws
            -> ModelReply?
        {
            if let maxCost = config.limits.maxCostUSD, spent >= maxCost { return nil }
            let remainingTime = config.limits.maxTimeSeconds.map { max(0, $0 - context.elapsed()) }
            if let remainingTime, remainingTime <= 0 { return nil }
            let request = ChatRequest(messages: messages, tools: [], maxTokens: maxTokens, temperature: temperature)
            let step = result.calls.count + 1
            let recorder = context.recorder
            let outcome = try await withTimeLimit(remainingTime) {
                try await complete(request, step: step, phase: phase, recorder: recorder)
            }
            guard case .value(.success(let reply)) = outcome else {
                if case .value(.failure(let error)) = outcome {
                    await context.recorder.record("model.error", ["phase": .string(phase), "error": .string("\(error)")])
                }
                return nil
            }
            let cost = price?.cost(of: reply.usage) ?? 0
            spent += cost
            result.calls.append((reply.usage, cost))
            await context.recorder.record(
                "model.reply",
                [
                    "step": .number(Double(result.calls.count)), "phase": .string(phase), "content": .string(reply.content),
                    "tool_calls": .array([]), "format_error": .null, "usage": Self.usageJSON(reply.usage),
                    "cost_usd": .number(cost), "finish_reason": reply.finishReason.map { .string($0) } ?? .null,
                    "server_timings": reply.serverTimings ?? .null,
                ])
            return reply
        }
        func runTests(_ command: String) async throws -> TestRun {
            try await TestRun.run(command, in: context.workspace.root, runner: context.runner, timeout: config.testTimeoutSeconds)
        }
        /// The attempt settles the run with this outcome; its change stays.
        func settle(_ status: RunStatus, _ reason: String, tests: TestRun?, summary: String) -> AttemptResult {
            result.finalTests = tests
            result.outcome = AgentMachine.Outcome(status: status, reason: reason, summary: summary)
            return result
        }
        func writeFiles(_ contents: [String: String]) throws {
            for (path, original) in originals {
                try Workspace.write(Data((contents[path] ?? original).utf8), to: try context.workspace.resolve(path))
            }
        }

        // 1. A test that reproduces the problem, added to the task's test file: it must fail before any fix. It
        //    judges the fixes and, when the first fix passes it, is the proof that earns `verified`.
        var repro: Reproduction?
        if let testCommand = context.testCommand, let testFile = context.testFile {
            repro = try await reproduce(
                context, testFile: testFile, testCommand: testCommand, call: { try await call($0, phase: $1, maxTokens: $2) },
                runTests: runTests)
        }

        // 2. Whole-file fixes, judged by the tests (with the reproduction test when there is one). The first request
        //    does not show the test: with it, a small model's first fix got worse in trials (it fits the test's
        //    numbers instead of the task); its failure output comes back only when a fix fails it.
        var messages: [ChatMessage] = [
            .system(WholeFileAttempt.system),
            .user(WholeFileAttempt.prompt(task: context.task, files: context.files, agents: context.agents)),
        ]
        var lastTests: TestRun?
        var lastChanged: [String] = []
        var candidates: [[String: String]] = []
        for replyNumber in 1...WholeFileAttempt.maxReplies {
            // Room for the files whole and a few sentences: a small model that rambles stops there.
            let cap = context.files.reduce(300) { $0 + WholeFileAttempt.tokens($1.text) }
            // Retries sample (as Agentless does): at temperature 0 a small model asked again mostly gives the same
            // wrong answer back.
            let temperature = replyNumber > 1 ? WholeFileAttempt.retryTemperature : nil
            guard let reply = try await call(messages, phase: "attempt", maxTokens: cap, temperature: temperature) else { break }
            // The same answer again would be judged the same; asking once more would only cost tokens.
            if messages.last(where: { $0.role == .assistant })?.content == reply.content { break }
            messages.append(ChatMessage(role: .assistant, content: reply.content))

            var parsed = WholeFileReply.parse(reply.content, allowed: originals)
            if reply.finishReason == "length" {
                parsed.problems.append("Your reply was cut off at the length limit; give only the files you change.")
                parsed.files.removeAll()
            }
            // Write what parsed; files it no longer rewrites go back to the base.
            let writes = Dictionary(parsed.files.map { ($0.path, $0.content) }, uniquingKeysWith: { $1 })
            try writeFiles(writes)
            let allChanged = try await context.git.changedFiles(against: context.base)
            let changed = allChanged.filter { $0 != repro?.path }
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
            candidates.append(writes)
            let summary = Self.summary(of: reply.content, paths: paths)
            guard let testCommand = context.testCommand else {
                // Nothing can judge it; the loop could not either. The change stands, unverified.
                await context.recorder.record(
                    "verify.result",
                    ["outcome": .string("no_test_command"), "changed_files": .array(changed.map { .string($0) }), "tests": .null])
                return settle(.unverified, "no test command could judge the change", tests: nil, summary: summary)
            }
            let tests = try await runTests(testCommand)
            let verification = try await ChangeProof.judge(
                final: tests, baseline: context.baseline, changed: allChanged, base: context.base, git: context.git,
                root: context.workspace.root, runner: context.runner, timeout: config.testTimeoutSeconds)
            await context.recorder.record(
                "verify.result",
                [
                    "outcome": .string(Self.name(of: verification)), "phase": .string("attempt"),
                    "changed_files": .array(changed.map { .string($0) }), "tests": tests.json,
                ])
            if let repro, repro.added == nil, tests.passed {
                // The reproduction test edits existing tests, so it is not part of the change: the project's own
                // tests must pass without it, and they cannot prove the change.
                try Workspace.write(Data(repro.original.utf8), to: try context.workspace.resolve(repro.path))
                let own = try await runTests(testCommand)
                await context.recorder.record(
                    "verify.result",
                    ["outcome": .string(own.passed ? "passed_with_reproduction" : "failed"), "phase": .string("attempt"), "tests": own.json])
                if own.passed {
                    return settle(
                        .unverified,
                        "the project's tests pass, and so does the reproduction test Ferry wrote for the task, which "
                            + "was left out of the change because it edits existing tests (it is in the trace)",
                        tests: own, summary: summary)
                }
                try Workspace.write(Data(repro.content.utf8), to: try context.workspace.resolve(repro.path))
                lastTests = own
                lastChanged = changed
                messages.append(.user(WholeFileAttempt.retryPrompt(problems: parsed.problems, tests: own, changed: changed)))
                continue
            }
            switch verification {
            case .passed where repro != nil && replyNumber > 1:
                // The fix came after the model saw its own test fail; it may fit a wrong test. The test stays in the
                // change for review, but it is not proof.
                return settle(
                    .unverified,
                    "the tests pass, including the regression test Ferry wrote for the task (in the change), but this "
                        + "fix came only after seeing that test fail, so the test may have steered it; review it",
                    tests: tests, summary: summary)
            case .passed(let detail):
                return settle(.verified, detail, tests: tests, summary: summary)
            case .passedWithoutProof(let detail):
                return settle(.unverified, AgentMachine.withoutProof(detail), tests: tests, summary: summary)
            case .failed, .noChange, .noTestCommand, .testsRewritten:
                lastTests = tests
                lastChanged = changed
                messages.append(.user(WholeFileAttempt.retryPrompt(problems: parsed.problems, tests: tests, changed: changed)))
            }
        }

        // 3. No fix passed the reproduction test. It may be the test that is wrong: the first fix (the one the test's
        //    output did not steer) stands if the project's own tests pass with it, unverified.
        if let repro, let testCommand = context.testCommand {
            try Workspace.write(Data(repro.original.utf8), to: try context.workspace.resolve(repro.path))
            for candidate in candidates {
                try writeFiles(candidate)
                let tests = try await runTests(testCommand)
                await context.recorder.record(
                    "verify.result",
                    ["outcome": .string(tests.passed ? "passed_without_reproduction" : "failed"), "phase": .string("attempt"), "tests": tests.json])
                if tests.passed {
                    return settle(
                        .unverified,
                        "the project's tests pass, but the reproduction test Ferry had written for the task still "
                            + "failed with the change (the test or the change is wrong), so it was left out",
                        tests: tests, summary: "Rewrote \(candidate.keys.sorted().joined(separator: ", ")).")
                }
            }
        }
        // Not settled: put the files back and let the loop start from the base, told what failed.
        try writeFiles([:])
        await context.recorder.record("attempt.finished", ["outcome": .string("undone"), "replies": .number(Double(result.calls.count))])
        result.note = WholeFileAttempt.note(lastTests: lastTests, changed: lastChanged, replies: result.calls.count)
        return result
    }

    struct Reproduction {
        var path: String
        var original: String
        var content: String
        /// The lines the test adds, when it only adds (then it is committed with the change, as its proof); nil
        /// when it also edits existing lines (then it only judges the attempt and is left out of the change).
        var added: String?
    }

    /// Asks for the task's test file with one test added that shows the problem, and keeps it only if it keeps every
    /// existing line and fails now. Otherwise the file is put back and nil returned.
    func reproduce(
        _ context: AttemptContext, testFile: RelevantFiles.File, testCommand: String,
        call: ([ChatMessage], String, Int) async throws -> ModelReply?, runTests: (String) async throws -> TestRun
    ) async throws -> Reproduction? {
        let messages: [ChatMessage] = [
            .system(WholeFileAttempt.reproductionSystem),
            .user(WholeFileAttempt.reproductionPrompt(task: context.task, testFile: testFile)),
        ]
        // The file plus one test: a model that lists assertion after assertion stops there.
        guard let reply = try await call(messages, "reproduce", WholeFileAttempt.tokens(testFile.text) + 200) else { return nil }
        let parsed = WholeFileReply.parse(reply.content, allowed: [testFile.path: testFile.text])
        var verdict = "no test file in the reply"
        if let new = parsed.files.first?.content, new != testFile.text {
            let added = WholeFileAttempt.addedLines(original: testFile.text, new: new)
            let target = try context.workspace.resolve(testFile.path)
            try Workspace.write(Data(new.utf8), to: target)
            let run = try await runTests(testCommand)
            if !run.passed && !run.timedOut {
                await context.recorder.record(
                    "attempt.reproduction",
                    [
                        "path": .string(testFile.path), "kept": .bool(true), "adds_only": .bool(added != nil),
                        "tests": run.json, "content": .string(new),
                    ])
                return Reproduction(path: testFile.path, original: testFile.text, content: new, added: added)
            }
            try Workspace.write(Data(testFile.text.utf8), to: target)
            verdict = run.timedOut ? "the tests timed out with it" : "it passes before any fix, so it shows nothing"
        }
        await context.recorder.record(
            "attempt.reproduction", ["path": .string(testFile.path), "kept": .bool(false), "reason": .string(verdict)])
        return nil
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
