/// Setup policy the executor asks about while it gathers context and builds the loop.
extension RunMachine {
    // MARK: - Policy the executor asks about

    /// The fewest steps worth starting the tool loop with: an edit and `finish`.
    public static let minimumLoopSteps = 2

    /// Files listed by name in the first prompt; beyond this the model gets the repo map and the index's tools.
    public static let listedFiles = 60

    /// In a repository whose whole file list fits in the prompt, search and read_file already see everything; the
    /// index's tools would only be more choices (small models spend their steps trying them all).
    public static func offersIndexTools(fileCount: Int) -> Bool { fileCount > listedFiles }

    /// A tool's output limit in bytes: smaller for small context windows, else the tool box's default.
    public var toolOutputLimit: Int? { settings.contextWindow <= 32_768 ? 6_000 : nil }

    /// The repo map's budget in tokens (0: no index, no map).
    public var repoMapTokens: Int { settings.repoMapTokens ?? min(1_024, settings.contextWindow / 16) }

    /// The budget for the relevant files shown in the first prompt.
    public var relevantFileTokens: Int { min(8_000, settings.contextWindow / 5) }

    /// The share of the time left the loop's first prompt may take to read. It is the largest prompt of the loop and
    /// none of it is in the server's cache; the calls after it read only what is new, and need the rest.
    public static let loopPromptShare = 1.0 / 3

    /// The repo map's and the relevant files' budgets for the loop's first prompt (tokens as
    /// `ChatMessage.estimatedTokens` counts them), when the rest of that prompt comes to `fixed`.
    ///
    /// With a time limit and a known pace (a model on a CPU reads ~70 tokens a second), reading the prompt may take
    /// `loopPromptShare` of the time left: the map first (compact, and what the search tools build on), then the
    /// files. On click, a 5,900-token first prompt after a 78 s attempt took the rest of the run to read and
    /// was cut off, and the server went on reading it into the next run. Without a pace or a time limit, the usual
    /// budgets.
    public func loopContextBudgets(fixed: Int, secondsLeft: Double?, pace: Pace) -> (map: Int, relevant: Int) {
        guard let secondsLeft, let readable = pace.estimatedTokens(readIn: secondsLeft * Self.loopPromptShare) else {
            return (repoMapTokens, relevantFileTokens)
        }
        let room = max(0, readable - fixed)
        let map = min(repoMapTokens, room)
        return (map, min(relevantFileTokens, room - map))
    }

    /// Why the tool loop should not start with `history` as its first prompt: reading it would take more than
    /// `loopPromptShare` of the time left at the run's pace, by more than `loopPromptSlack`. The attempt's
    /// definitions, the repo map and the files are cut to fit that share (`loopContextBudgets`), so only a prompt
    /// whose fixed part (instructions, task, listing, the attempt's note) is already past it gets here, and what
    /// would be left after reading it is too little to search, edit and run the tests. On click, three of ten loops
    /// started with 31–61 s left, read their 1,400-token first prompt for 20–30 s, and ran out of time before any
    /// edit, at 5,000–20,000 tokens sent. Nil without a time limit or before the pace is known.
    public static func loopOutOfTime(_ history: [ChatMessage], budget: Budget, now: Double) -> Budget.Exhausted? {
        let tokens = history.reduce(0) { $0 + $1.estimatedTokens }
        guard let left = budget.secondsLeft(now: now), let perToken = budget.pace.secondsPerPromptToken else {
            return nil
        }
        let counted = budget.pace.counted(tokens)
        let reading = Double(counted) * perToken
        guard reading > left * Self.loopPromptShare * (1 + Self.loopPromptSlack) else { return nil }
        return Budget.Exhausted(
            reason:
                "time limit of \(Int(budget.limits.maxTimeSeconds ?? 0))s: \(Int(left.rounded())) s left, and the tool "
                + "loop's first prompt alone (\(counted) tokens) takes about "
                + "\(Int(reading.rounded())) s to read, more than a third of it, leaving too little to search, edit and "
                + "test",
            limit: .time)
    }

    /// How far past its share the loop's first prompt may go before the loop is not started: the pieces fitted into
    /// the share are estimated one way (`RelevantFiles.cost`, the map's own count) and the prompt another
    /// (`ChatMessage.estimatedTokens`), and a share filled to the brim must not read as one overrun. (The first run
    /// of this rule also added a reply's time and skipped a loop with 99 s left.)
    public static let loopPromptSlack = 0.1

    /// A test command exits 126 or 127 when the sandbox cannot even start it, and one that does not finish within
    /// the test timeout before any change will not finish after it either: neither can judge anything, so it is
    /// treated as absent rather than as a failing suite the model should fix (and a fix it could not judge is kept,
    /// unverified, instead of being undone as "failed").
    public static func isUnusable(_ run: TestRun) -> Bool {
        if run.exitCode == 126 || run.exitCode == 127 || run.timedOut { return true }
        // A program the recipe runs is not there, and no test ran: make reports its recipe's 127 as its own 2
        // ("make: uv: No such file or directory", "make: *** [Makefile:13: test] Error 127"). A test's own output
        // saying "command not found" is a failing suite, not this.
        guard !run.passed, run.summaryLine == nil, TestFailures.read(run) == nil else { return false }
        return run.output.range(of: #"make(\[\d+\])?: \*\*\* \[[^\]]*\] Error 12[67]"#, options: .regularExpression)
            != nil
    }

    /// Whether a reproduction test (in `testFile`, once it is known) can show anything next to the baseline: the
    /// tests passed, or the ones that failed are named test by test and none is in the test file. Real repositories
    /// often have tests that fail for reasons of their own (a missing service, a platform difference); there a test
    /// that fails before the fix and passes after it is the only proof a change can have. Failures in the task's own
    /// test file, or that cannot be read, may be the task itself: the suite already shows it.
    public static func anchorsReproduction(_ baseline: TestRun?, testFile: String? = nil) -> Bool {
        guard let baseline else { return false }
        if baseline.passed { return true }
        guard let failures = TestFailures.read(baseline) else { return false }
        return testFile.map { !failures.anyFailed(in: $0) } ?? true
    }

    // MARK: - Events for the phase machines

    static func attemptEvent(_ event: Event) -> AttemptMachine.Event? {
        switch event {
        case .modelReplied(let reply, let cost, let now): .modelReplied(reply, cost: cost, now: now)
        case .modelFailed(let error, let now): .modelFailed(error, now: now)
        case .timeUp(let now): .timeUp(now: now)
        case .written(let changed, let now): .written(changed: changed, now: now)
        case .syntaxChecked(let problems, let now): .syntaxChecked(problems: problems, now: now)
        case .testsRan(let run, let now): .testsRan(run, now: now)
        default: nil
        }
    }

    static func loopEvent(_ event: Event) -> AgentMachine.Event? {
        switch event {
        case .modelReplied(let reply, let cost, let now): .modelReplied(reply, cost: cost, now: now)
        case .modelFailed(let error, let now): .modelFailed(error, now: now)
        case .timeUp(let now): .timeUp(now: now)
        case .toolFinished(let result, let now): .toolFinished(result, now: now)
        case .compacted(let summary, let usage, let cost, let now):
            .compacted(summary: summary, usage: usage, cost: cost, now: now)
        case .compactionFailed(let now): .compactionFailed(now: now)
        default: nil
        }
    }
}
