/// The attempt's steps: model calls, judging a fix, retrying, settling, and putting files back.
extension AttemptMachine {

    mutating func callModel(
        _ messages: [ChatMessage], maxTokens: Int, temperature: Double?, phase: String, waiting next: Waiting,
        now: Double
    ) -> Action {
        let reserve = fallbackReserve
        if let exhausted = budget.admit(messages, now: now, reserve: reserve) {
            // Too little time for another reply and then the fix in hand: judge that fix now, rather than let the
            // call run into the time limit and the fix be undone with everything else.
            if reserve > 0, exhausted.limit == .time,
                (budget.secondsLeft(now: now) ?? 0) > fallbackTestSeconds
            {
                return fallback(now: now)
            }
            return undo(limit: exhausted)
        }
        calls += 1
        waiting = next
        return .callModel(ModelCall(messages: messages, maxTokens: maxTokens, temperature: temperature, phase: phase))
    }

    mutating func askForFix(_ number: Int, now: Double) -> Action {
        guard number <= Self.maxReplies else { return fallback(now: now) }
        if number == 1, plan.candidates > 1, samples.isEmpty {
            return callModel(
                messages, maxTokens: replyCap, temperature: nil, phase: "candidate", waiting: .sampling(number: 1),
                now: now)
        }
        if number > 1, case .skip(let why) = plan.retries {
            // The model's record says later replies do not pay: what the first gave is judged as it stands.
            if retryUse == nil {
                retryUse = .skipped
                records.append(.attemptRetriesSkipped(.init(why)))
            }
            return fallback(now: now)
        }
        let action = callModel(
            messages, maxTokens: replyCap, temperature: number > 1 ? Self.retryTemperature : nil, phase: "attempt",
            waiting: .fix(reply: number), now: now)
        if number > 1, case .callModel = action { retryUse = .ran }
        return action
    }

    /// Room for the files (or definitions) whole and a few sentences: a small model that rambles stops there.
    var replyCap: Int {
        plan.symbols.isEmpty
            ? plan.files.reduce(300) { $0 + AttemptPrompts.tokens($1.text) }
            : plan.symbols.reduce(300) { $0 + AttemptPrompts.tokens($1.text) }
    }

    /// The files a reply rewrites (whole, or with its definitions spliced in), and why blocks were refused.
    func parseFix(_ reply: ModelReply) -> (writes: [String: String], problems: [String]) {
        guard reply.finishReason != "length" else {
            return (
                [:],
                [
                    "Your reply was cut off at the length limit; give only the \(plan.symbols.isEmpty ? "files" : "definitions") you change."
                ]
            )
        }
        if plan.symbols.isEmpty {
            let parsed = WholeFileReply.parse(reply.content, allowed: originals)
            return (Dictionary(parsed.files.map { ($0.path, $0.content) }, uniquingKeysWith: { $1 }), parsed.problems)
        }
        let parsed = SymbolReply.parse(reply.content, units: plan.symbols, files: originals)
        return (SymbolReply.apply(parsed.replacements, insertions: parsed.insertions, to: originals), parsed.problems)
    }

    func summary(of reply: String) -> String {
        AttemptPrompts.summary(of: reply, paths: Set(originals.keys).union(plan.symbols.map(\.label)))
    }

    mutating func judged(
        _ verification: AgentMachine.Verification, tests: TestRun?, reply number: Int, changed: [String],
        summary: String, now: Double
    ) -> Action {
        if let reproduction, !reproduction.addsOnly, let tests, noWorseThanBaseline(tests) {
            // The reproduction test edits existing tests, so it is not part of the change: the project's own tests
            // must pass without it, and they cannot prove the change.
            waiting = .reproductionRemoved(reply: number, changed: changed, summary: summary)
            return .write([reproduction.path: reproduction.original])
        }
        switch verification {
        case .passed where reproduction != nil && number > 1:
            // The fix came after the model saw its own test fail; it may fit a wrong test. The test stays in the
            // change for review, but it is not proof.
            return settle(
                .unverified,
                "the tests pass, including the regression test Ferry wrote for the task (in the change), but this fix "
                    + "came only after seeing that test fail, so the test may have steered it; review it",
                tests: tests, summary: summary, reply: number)
        case .passed(let detail):
            return settle(.verified, detail, tests: tests, summary: summary, reply: number)
        case .passedWithoutProof(let detail):
            return settle(
                .unverified, AgentMachine.withoutProof(detail), tests: tests, summary: summary, reply: number)
        case .failed(let detail):
            // A test-by-test verdict ("these passed before and fail now: …") says more than the output's tail.
            if let verdict = TestRun.verdict(in: detail) { lastProblems.append(verdict) }
            return retry(number, tests: tests, changed: changed, now: now)
        case .noChange, .noTestCommand, .testsRewritten:
            return retry(number, tests: tests, changed: changed, now: now)
        }
    }

    mutating func retry(_ number: Int, tests: TestRun?, changed: [String], now: Double) -> Action {
        lastTests = tests
        lastChanged = changed
        messages.append(
            .user(
                AttemptPrompts.retryPrompt(
                    problems: lastProblems, tests: tests, changed: changed, symbols: !plan.symbols.isEmpty)))
        return askForFix(number + 1, now: now)
    }

    mutating func settle(_ status: RunStatus, _ reason: String, tests: TestRun?, summary: String, reply: Int)
        -> Action
    {
        waiting = .done
        finalTests = tests
        settledReply = reply
        return .settle(AgentMachine.Outcome(status: status, reason: reason, summary: summary))
    }

    /// The seconds the fallback's test run takes: the baseline's, twice over for a slow start.
    var fallbackTestSeconds: Double { 2 * (plan.baseline?.durationSeconds ?? 10) }

    /// The time a model call must leave free while a fix that failed only the reproduction test could still be
    /// handed back (`fallback`): a reply as long as this run's replies so far, then that fix's test run. Zero when
    /// there is nothing to fall back on or the pace is not known.
    var fallbackReserve: Double {
        guard reproduction != nil, plan.testCommand != nil, !candidates.isEmpty,
            let perToken = budget.pace.secondsPerReplyToken, budget.steps > 0
        else { return 0 }
        let reply = Double(budget.usage.outputTokens) / Double(budget.steps)
        return reply * perToken + fallbackTestSeconds
    }

    /// No fix passed the reproduction test: the first fix (the one the test's output did not steer) stands if the
    /// project's own tests pass with it, unverified. Without a reproduction test there is nothing to fall back on.
    mutating func fallback(now: Double) -> Action {
        guard let reproduction, plan.testCommand != nil, !candidates.isEmpty else { return undo(limit: nil) }
        waiting = .fallbackReady
        return .write([reproduction.path: reproduction.original])
    }

    mutating func tryCandidate(_ index: Int, now: Double) -> Action {
        guard index < candidates.count else { return undo(limit: nil) }
        waiting = .candidateWritten(index: index)
        return .write(originals.merging(candidates[index]) { $1 })
    }

    /// Puts every file the attempt touched back as it was, then hands over (or stops on a limit).
    mutating func undo(limit: Budget.Exhausted?) -> Action {
        waiting = .undone(limit: limit)
        var files = originals
        if let reproduction { files[reproduction.path] = reproduction.original }
        if let testFile = plan.testFile, plan.testCommand != nil { files[testFile.path] = testFile.text }
        return .write(files)
    }

    /// Whether a reproduction test shows the problem in `run`: a test fails with it, and when tests already failed
    /// before any change, one of them is a test that did not.
    func reproduces(_ run: TestRun) -> Bool {
        guard !run.passed, !run.timedOut else { return false }
        guard let baseline = plan.baseline, !baseline.passed else { return true }
        if case .worse = TestFailures.compare(run, baseline: baseline) { return true }
        return false
    }

    /// Whether `run` is as good as the project's tests were before any change: it passes, or, when tests already
    /// failed then, no test that passed before fails now.
    func noWorseThanBaseline(_ run: TestRun) -> Bool {
        if run.passed { return true }
        guard let baseline = plan.baseline, !baseline.passed else { return false }
        return TestFailures.compare(run, baseline: baseline).isNoWorse
    }

    func ownTestsVerdict(_ run: TestRun) -> String {
        run.passed
            ? "the project's tests pass"
            : "no test of the project's that passed before the change fails with it (some failed before it too)"
    }
}
