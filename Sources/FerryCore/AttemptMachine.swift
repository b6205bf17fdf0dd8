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
    /// Whether a reply after the first was asked for, or kept from being asked for by `plan.retries` (nil: the
    /// attempt never came to that), for the model's record.
    public internal(set) var retryUse: LoopGate.Use?
    /// The reply whose change the attempt settled on (nil: it settled on none).
    public internal(set) var settledReply: Int?
    /// Trace lines only the machine knows of, for the driver to write.
    public internal(set) var records: [TraceEvent] = []
    var waiting = Waiting.start
    var messages: [ChatMessage]
    var reproduction: Reproduction?
    var candidates: [[String: String]] = []
    /// The reply each of `candidates` came from.
    var candidateReplies: [Int] = []
    /// Fixes sampled from the first request, while they are judged.
    var samples: [Sample] = []
    var lastTests: TestRun?
    var lastChanged: [String] = []
    /// Why blocks of the last fix were refused, for the next request.
    var lastProblems: [String] = []
    /// The last reply that changed nothing, kept out of the conversation (see `fixWritten`).
    var unchangedReply: String?
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
            return started(now: now)

        // 1. The reproduction test (AttemptMachine+Handlers).
        case (.reproduction, .modelReplied(let reply, let cost, let now)):
            return reproductionReplied(reply, cost: cost, now: now)
        case (.reproduction, .modelFailed(_, let now)):
            return askForFix(1, now: now)
        case (.reproductionWritten(let content, let addsOnly), .written):
            waiting = .reproductionTests(content: content, addsOnly: addsOnly)
            return .runTests
        case (.reproductionTests(let content, let addsOnly), .testsRan(let run, let now)):
            return reproductionRan(run, content: content, addsOnly: addsOnly, now: now)
        case (.reproductionDropped(let reason), .written(_, let now)):
            records.append(.attemptReproduction(.init(path: plan.testFile?.path ?? "", kept: false, reason: reason)))
            return askForFix(1, now: now)

        // 2. Whole-file fixes (AttemptMachine+Handlers).
        case (.fix(let number), .modelReplied(let reply, let cost, let now)):
            return fixReplied(number, reply: reply, cost: cost, now: now)
        case (.fix, .modelFailed(_, let now)):
            return fallback(now: now)
        case (.fixWritten(let number, let writes, let problems, let summary), .written(let changed, let now)):
            return fixWritten(number, writes: writes, problems: problems, summary: summary, changed: changed, now: now)
        case (.fixChecked(let number, let writes, let changed, let summary), .syntaxChecked(let syntax, let now)):
            return fixChecked(number, writes: writes, changed: changed, summary: summary, syntax: syntax, now: now)
        case (.fixVerified(let number, let changed, let summary), .verified(let verification, let tests, let now)):
            return judged(verification, tests: tests, reply: number, changed: changed, summary: summary, now: now)
        case (.reproductionRemoved(let number, let changed, let summary), .written):
            waiting = .ownTests(reply: number, changed: changed, summary: summary)
            return .runTests
        case (.ownTests(let number, let changed, let summary), .testsRan(let own, _)):
            return ownTestsRan(own, reply: number, changed: changed, summary: summary)
        case (.reproductionRestored(let number, let changed, let tests), .written(_, let now)):
            return retry(number, tests: tests, changed: changed, now: now)

        // 3. The fallback: the reproduction test may be what is wrong.
        case (.fallbackReady, .written(_, let now)):
            return tryCandidate(0, now: now)
        case (.candidateWritten(let index), .written):
            waiting = .candidateTests(index: index)
            return .runTests
        case (.candidateTests(let index), .testsRan(let tests, let now)):
            return candidateRan(index, tests: tests, now: now)
        case (.undone(let limit), .written):
            return undone(limit)

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
