import Foundation

/// The attempt's steps, one function each, in the order `handle` takes them: its start and reproduction test, then
/// each whole-file fix, then the fallback's candidates and the undoing.
extension AttemptMachine {
    mutating func started(now: Double) -> Action {
        budget.start(now: now)
        records.append(
            .attemptStarted(
                .init(
                    files: plan.files.map(\.path), kind: plan.symbols.isEmpty ? "whole_file" : "symbols",
                    symbols: plan.symbols.isEmpty ? nil : plan.symbols.map { $0.isPart ? $0.heading : $0.label },
                    candidates: plan.candidates > 1 ? plan.candidates : nil)))
        guard plan.testCommand != nil, let testFile = plan.testFile else { return askForFix(1, now: now) }
        return callModel(
            [
                .system(AttemptPrompts.reproductionSystem(for: testFile)),
                .user(AttemptPrompts.reproductionPrompt(task: plan.task, testFile: testFile)),
            ],
            // The file plus one test: a model that lists assertion after assertion stops there.
            maxTokens: AttemptPrompts.tokens(testFile.text) + 200, temperature: nil, phase: "reproduce",
            waiting: .reproduction, now: now)
    }

    // MARK: - The reproduction test

    mutating func reproductionReplied(_ reply: ModelReply, cost: Double, now: Double) -> Action {
        budget.spend(reply.usage, cost: cost, timings: reply.serverTimings)
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
    }

    /// The test is kept only if a test fails with it that did not before any fix.
    mutating func reproductionRan(_ run: TestRun, content: String, addsOnly: Bool, now: Double) -> Action {
        guard let testFile = plan.testFile else { return askForFix(1, now: now) }
        if reproduces(run) {
            records.append(
                .attemptReproduction(
                    .init(path: testFile.path, kept: true, addsOnly: addsOnly, tests: .init(run), content: content)))
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
    }

    // MARK: - Whole-file fixes

    mutating func fixReplied(_ number: Int, reply: ModelReply, cost: Double, now: Double) -> Action {
        budget.spend(reply.usage, cost: cost, timings: reply.serverTimings)
        // The same answer again would be judged the same; asking once more would only cost tokens.
        if messages.last(where: { $0.role == .assistant })?.content == reply.content || unchangedReply == reply.content
        {
            return fallback(now: now)
        }
        messages.append(ChatMessage(role: .assistant, content: reply.content))
        let (writes, problems) = parseFix(reply)
        // What parsed is written; files it no longer rewrites go back to the base.
        waiting = .fixWritten(reply: number, writes: writes, problems: problems, summary: summary(of: reply.content))
        return .write(originals.merging(writes) { $1 })
    }

    mutating func fixWritten(
        _ number: Int, writes: [String: String], problems: [String], summary: String, changed allChanged: [String],
        now: Double
    ) -> Action {
        // A reply that only moved blank lines or spaces changed nothing the code does.
        let changed = allChanged.filter {
            $0 != reproduction?.path && !AttemptPrompts.layoutOnly(originals[$0], writes[$0], task: plan.task)
        }
        lastProblems = problems
        records.append(.attemptApplied(.init(reply: number, changedFiles: changed, problems: problems)))
        guard !changed.isEmpty else {
            lastTests = nil
            lastChanged = []
            if problems.isEmpty, messages.last?.role == .assistant, messages.count >= 2,
                messages[messages.count - 2].role == .user
            {
                // A reply that changed nothing is not shown again: a small model copies what it sees of its own
                // (on click the third reply was the first, word for word), and it only costs tokens. The request
                // it answered is sent again with a note, the same prefix, which the server has cached.
                unchangedReply = messages.removeLast().content
                let note = AttemptPrompts.unchangedNote(symbols: !plan.symbols.isEmpty)
                if !messages[messages.count - 1].content.hasSuffix(note) {
                    messages[messages.count - 1].content += note
                }
                return askForFix(number + 1, now: now)
            }
            messages.append(
                .user(
                    AttemptPrompts.retryPrompt(
                        problems: problems, tests: nil, changed: [], symbols: !plan.symbols.isEmpty)
                ))
            return askForFix(number + 1, now: now)
        }
        waiting = .fixChecked(reply: number, writes: writes, changed: changed, summary: summary)
        return .checkSyntax(changed)
    }

    mutating func fixChecked(
        _ number: Int, writes: [String: String], changed: [String], summary: String, syntax: [String], now: Double
    ) -> Action {
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
        candidateReplies.append(number)
        guard plan.testCommand != nil else {
            // Nothing can judge it; the loop could not either. The change stands, unverified.
            records.append(.verifyResult(.init(outcome: "no_test_command", phase: "attempt", changedFiles: changed)))
            return settle(
                .unverified, "no test command could judge the change", tests: nil, summary: summary, reply: number)
        }
        waiting = .fixVerified(reply: number, changed: changed, summary: summary)
        return .verify
    }

    /// The change without the reproduction test (which edits existing tests): the project's own tests judge it.
    mutating func ownTestsRan(_ own: TestRun, reply number: Int, changed: [String], summary: String) -> Action {
        let ownPass = noWorseThanBaseline(own)
        records.append(
            .verifyResult(
                .init(
                    outcome: ownPass ? "passed_with_reproduction" : "failed", phase: "attempt", changedFiles: changed,
                    tests: .init(own))))
        if ownPass {
            return settle(
                .unverified,
                "\(ownTestsVerdict(own)), and so does the reproduction test Ferry wrote for the task, which was "
                    + "left out of the change because it edits existing tests (it is in the trace)",
                tests: own, summary: summary, reply: number)
        }
        waiting = .reproductionRestored(reply: number, changed: changed, tests: own)
        return .write([reproduction!.path: reproduction!.content])
    }

    // MARK: - The fallback and the end

    mutating func candidateRan(_ index: Int, tests: TestRun, now: Double) -> Action {
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
            tests: tests, summary: "Rewrote \(candidates[index].keys.sorted().joined(separator: ", ")).",
            reply: candidateReplies[index])
    }

    mutating func undone(_ limit: Budget.Exhausted?) -> Action {
        waiting = .done
        records.append(.attemptFinished(.init(outcome: "undone", replies: calls)))
        if let limit { return .stop(AgentMachine.Outcome(status: .limit, reason: limit.reason, limit: limit.limit)) }
        let shown =
            plan.symbols.isEmpty
            ? plan.files.map(\.path) : plan.symbols.map(\.heading)
        return .handOver(
            note: AttemptPrompts.note(lastTests: lastTests, changed: lastChanged, replies: calls, shown: shown))
    }
}
