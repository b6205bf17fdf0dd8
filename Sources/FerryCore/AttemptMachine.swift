/// The whole-file first attempt as a value-type state machine with no I/O: the run's first phase when the task's
/// likely files are small.
///
/// 1. When the project's tests pass before any change (so they cannot show the task is done), one request for the
///    task's test file with a test added that reproduces the problem; it is kept only if it fails now.
/// 2. One plain request with the likely files whole and the task, one reply with the complete corrected file(s),
///    then the tests; a failure goes back with the test output, up to `maxReplies` replies.
/// 3. If no fix passes but a reproduction test was in play, the first fix stands (unverified) when the project's own
///    tests pass with it; otherwise the files are put back and the tool loop takes over, told what was tried.
///
/// Why: a small model breaks a multi-step tool protocol far more often than it breaks "here is the file, give it
/// back fixed", and the one-shot prompt costs a fraction of a tool loop's tokens. A strong model passes the first
/// time and never pays for the loop either. The run's `Budget` is shared with the loop that may follow.
public struct AttemptMachine: Sendable {
    /// The most files one attempt may rewrite.
    public static let maxFiles = 3
    /// Replies per attempt: the first answer plus rounds with the failing tests' output.
    public static let maxReplies = 3
    /// The temperature of the replies after the first: at temperature 0 a small model asked again mostly gives the
    /// same wrong answer back (Agentless samples too).
    public static let retryTemperature = 0.7

    public enum Action: Sendable, Hashable {
        /// A plain request without tools; report back with `modelReplied`, `modelFailed` or `timeUp`.
        case callModel(ModelCall)
        /// Write these files whole; report back with `written` and the files that now differ from the base.
        case write([String: String])
        /// Check these files parse (where a parser is at hand); report back with `syntaxChecked`.
        case checkSyntax([String])
        /// Run the test command; report back with `testsRan`.
        case runTests
        /// Judge the change by the tests; report back with `verified`.
        case verify
        /// The run ends here and the change stays.
        case settle(AgentMachine.Outcome)
        /// The files are as they were; the tool loop takes over, told what was tried (`note`).
        case handOver(note: String)
        /// A limit ended the run; the files are as they were.
        case stop(AgentMachine.Outcome)
    }

    public enum Event: Sendable {
        case start(now: Double)
        case modelReplied(ModelReply, cost: Double, now: Double)
        case modelFailed(String, now: Double)
        case timeUp(now: Double)
        case written(changed: [String], now: Double)
        /// Why files do not parse (empty: they do, or no parser is at hand).
        case syntaxChecked(problems: [String], now: Double)
        case testsRan(TestRun, now: Double)
        case verified(AgentMachine.Verification, tests: TestRun?, now: Double)
    }

    public let plan: Plan
    public internal(set) var budget: Budget
    /// The tests that judged the change the attempt settled with.
    public internal(set) var finalTests: TestRun?
    /// Model calls made by the attempt.
    public internal(set) var calls = 0
    /// Trace lines only the machine knows of, for the driver to write.
    public internal(set) var records: [TraceEvent] = []
    var waiting = Waiting.start
    var messages: [ChatMessage]
    var reproduction: Reproduction?
    var candidates: [[String: String]] = []
    /// Fixes sampled from the first request, while they are judged.
    var samples: [Sample] = []
    var lastTests: TestRun?
    var lastChanged: [String] = []
    /// Why blocks of the last fix were refused, for the next request.
    var lastProblems: [String] = []
    let originals: [String: String]

    public init(plan: Plan, budget: Budget) {
        self.plan = plan
        self.budget = budget
        originals = Dictionary(plan.files.map { ($0.path, $0.text) }, uniquingKeysWith: { first, _ in first })
        // The first request does not show a reproduction test: with it, a small model's first fix got worse in trials
        // (it fits the test's numbers instead of the task); the test's failure comes back only when a fix fails it.
        messages =
            plan.symbols.isEmpty
            ? [
                .system(AttemptPrompts.system),
                .user(AttemptPrompts.prompt(task: plan.task, files: plan.files, agents: plan.agents)),
            ]
            : [
                .system(AttemptPrompts.symbolSystem),
                .user(
                    AttemptPrompts.symbolPrompt(
                        task: plan.task, units: plan.symbols, outlines: plan.outlines, agents: plan.agents)),
            ]
    }

    public mutating func takeRecords() -> [TraceEvent] {
        defer { records = [] }
        return records
    }

    /// The host stops the run's spending; the next model call becomes a stop.
    public mutating func halt(_ reason: String) { budget.halt(reason) }

    public mutating func handle(_ event: Event) -> Action {
        switch (waiting, event) {
        case (.start, .start(let now)):
            budget.start(now: now)
            records.append(
                .attemptStarted(
                    .init(
                        files: plan.files.map(\.path), kind: plan.symbols.isEmpty ? "whole_file" : "symbols",
                        symbols: plan.symbols.isEmpty ? nil : plan.symbols.map(\.label),
                        candidates: plan.candidates > 1 ? plan.candidates : nil)))
            guard plan.testCommand != nil, let testFile = plan.testFile else { return askForFix(1, now: now) }
            return callModel(
                [
                    .system(AttemptPrompts.reproductionSystem),
                    .user(AttemptPrompts.reproductionPrompt(task: plan.task, testFile: testFile)),
                ],
                // The file plus one test: a model that lists assertion after assertion stops there.
                maxTokens: AttemptPrompts.tokens(testFile.text) + 200, temperature: nil, phase: "reproduce",
                waiting: .reproduction, now: now)

        // 1. The reproduction test.
        case (.reproduction, .modelReplied(let reply, let cost, let now)):
            budget.spend(reply.usage, cost: cost)
            guard let testFile = plan.testFile else { return askForFix(1, now: now) }
            let parsed = WholeFileReply.parse(reply.content, allowed: [testFile.path: testFile.text])
            guard let new = parsed.files.first?.content, new != testFile.text else {
                records.append(
                    .attemptReproduction(.init(path: testFile.path, kept: false, reason: "no test file in the reply")))
                return askForFix(1, now: now)
            }
            let addsOnly = AttemptPrompts.addedLines(original: testFile.text, new: new) != nil
            waiting = .reproductionWritten(content: new, addsOnly: addsOnly)
            return .write([testFile.path: new])
        case (.reproduction, .modelFailed(_, let now)):
            return askForFix(1, now: now)
        case (.reproductionWritten(let content, let addsOnly), .written):
            waiting = .reproductionTests(content: content, addsOnly: addsOnly)
            return .runTests
        case (.reproductionTests(let content, let addsOnly), .testsRan(let run, let now)):
            guard let testFile = plan.testFile else { return askForFix(1, now: now) }
            if reproduces(run) {
                records.append(
                    .attemptReproduction(
                        .init(
                            path: testFile.path, kept: true, addsOnly: addsOnly, tests: .init(run), content: content)))
                reproduction = Reproduction(
                    path: testFile.path, original: testFile.text, content: content, addsOnly: addsOnly)
                return askForFix(1, now: now)
            }
            let reason =
                run.timedOut
                ? "the tests timed out with it"
                : run.passed
                    ? "it passes before any fix, so it shows nothing"
                    : "no test fails with it that did not fail before any fix, so it shows nothing"
            waiting = .reproductionDropped(reason: reason)
            return .write([testFile.path: testFile.text])
        case (.reproductionDropped(let reason), .written(_, let now)):
            records.append(.attemptReproduction(.init(path: plan.testFile?.path ?? "", kept: false, reason: reason)))
            return askForFix(1, now: now)

        // 2. Whole-file fixes.
        case (.fix(let number), .modelReplied(let reply, let cost, let now)):
            budget.spend(reply.usage, cost: cost)
            // The same answer again would be judged the same; asking once more would only cost tokens.
            if messages.last(where: { $0.role == .assistant })?.content == reply.content { return fallback(now: now) }
            messages.append(ChatMessage(role: .assistant, content: reply.content))
            let (writes, problems) = parseFix(reply)
            // What parsed is written; files it no longer rewrites go back to the base.
            waiting = .fixWritten(
                reply: number, writes: writes, problems: problems, summary: summary(of: reply.content))
            return .write(originals.merging(writes) { $1 })
        case (.fix, .modelFailed(_, let now)):
            return fallback(now: now)
        case (.fixWritten(let number, let writes, let problems, let summary), .written(let allChanged, let now)):
            let changed = allChanged.filter { $0 != reproduction?.path }
            lastProblems = problems
            records.append(.attemptApplied(.init(reply: number, changedFiles: changed, problems: problems)))
            guard !changed.isEmpty else {
                lastTests = nil
                lastChanged = []
                messages.append(
                    .user(
                        AttemptPrompts.retryPrompt(
                            problems: problems, tests: nil, changed: [], symbols: !plan.symbols.isEmpty)))
                return askForFix(number + 1, now: now)
            }
            waiting = .fixChecked(reply: number, writes: writes, changed: changed, summary: summary)
            return .checkSyntax(changed)
        case (.fixChecked(let number, let writes, let changed, let summary), .syntaxChecked(let syntax, let now)):
            guard syntax.isEmpty else {
                // It does not even parse: the tests would only say so at greater length.
                records.append(.verifyResult(.init(outcome: "syntax_error", phase: "attempt", changedFiles: changed)))
                lastProblems += syntax.map {
                    "Your change does not parse: \($0). Give the whole \(plan.symbols.isEmpty ? "file" : "definition") "
                        + "again, with valid syntax and indentation."
                }
                return retry(number, tests: nil, changed: changed, now: now)
            }
            candidates.append(writes)
            guard plan.testCommand != nil else {
                // Nothing can judge it; the loop could not either. The change stands, unverified.
                records.append(
                    .verifyResult(.init(outcome: "no_test_command", phase: "attempt", changedFiles: changed)))
                return settle(.unverified, "no test command could judge the change", tests: nil, summary: summary)
            }
            waiting = .fixVerified(reply: number, changed: changed, summary: summary)
            return .verify
        case (.fixVerified(let number, let changed, let summary), .verified(let verification, let tests, let now)):
            return judged(verification, tests: tests, reply: number, changed: changed, summary: summary, now: now)
        case (.reproductionRemoved(let number, let changed, let summary), .written):
            waiting = .ownTests(reply: number, changed: changed, summary: summary)
            return .runTests
        case (.ownTests(let number, let changed, let summary), .testsRan(let own, _)):
            let ownPass = noWorseThanBaseline(own)
            records.append(
                .verifyResult(
                    .init(
                        outcome: ownPass ? "passed_with_reproduction" : "failed", phase: "attempt",
                        changedFiles: changed,
                        tests: .init(own))))
            if ownPass {
                return settle(
                    .unverified,
                    "\(ownTestsVerdict(own)), and so does the reproduction test Ferry wrote for the task, which was "
                        + "left out of the change because it edits existing tests (it is in the trace)",
                    tests: own, summary: summary)
            }
            waiting = .reproductionRestored(reply: number, changed: changed, tests: own)
            return .write([reproduction!.path: reproduction!.content])
        case (.reproductionRestored(let number, let changed, let tests), .written(_, let now)):
            return retry(number, tests: tests, changed: changed, now: now)

        // 3. The fallback: the reproduction test may be what is wrong.
        case (.fallbackReady, .written(_, let now)):
            return tryCandidate(0, now: now)
        case (.candidateWritten(let index), .written):
            waiting = .candidateTests(index: index)
            return .runTests
        case (.candidateTests(let index), .testsRan(let tests, let now)):
            let ownPass = noWorseThanBaseline(tests)
            records.append(
                .verifyResult(
                    .init(
                        outcome: ownPass ? "passed_without_reproduction" : "failed", phase: "attempt",
                        changedFiles: candidates[index].keys.sorted(), tests: .init(tests))))
            guard ownPass else { return tryCandidate(index + 1, now: now) }
            return settle(
                .unverified,
                "\(ownTestsVerdict(tests)), but the reproduction test Ferry had written for the task still failed with "
                    + "the change (the test or the change is wrong), so it was left out",
                tests: tests, summary: "Rewrote \(candidates[index].keys.sorted().joined(separator: ", ")).")

        case (.undone(let limit), .written):
            waiting = .done
            records.append(.attemptFinished(.init(outcome: "undone", replies: calls)))
            if let limit {
                return .stop(AgentMachine.Outcome(status: .limit, reason: limit.reason, limit: limit.limit))
            }
            return .handOver(note: AttemptPrompts.note(lastTests: lastTests, changed: lastChanged, replies: calls))

        // Several sampled fixes, judged by the tests (AttemptMachine+Candidates).
        case (.sampling(let number), .modelReplied(let reply, let cost, let now)):
            return sampled(number, reply: reply, cost: cost, now: now)
        case (.sampling(let number), .modelFailed(_, let now)):
            return number == 1 ? fallback(now: now) : judgeSamples(now: now)
        case (.sampleWritten(let index), .written(let changed, let now)):
            return sampleWritten(index, changed: changed, now: now)
        case (.sampleChecked(let index), .syntaxChecked(let problems, let now)):
            return sampleChecked(index, problems: problems, now: now)
        case (.sampleVerified(let index), .verified(let verification, let tests, let now)):
            return sampleVerified(index, verification, tests: tests, now: now)
        case (.sampleChosen(let index), .written(let changed, let now)):
            return sampleChosen(index, changed: changed, now: now)

        case (_, .timeUp):
            return undo(limit: budget.timeUp)
        case (.done, _):
            return .stop(AgentMachine.Outcome(status: .failed, reason: "the attempt was already over"))
        default:
            // An event the driver should not have sent now: the attempt ends safely, its files put back.
            return undo(limit: nil)
        }
    }
}
