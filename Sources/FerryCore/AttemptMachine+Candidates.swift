import Foundation

/// Several fixes sampled from the attempt's first request and chosen by the tests (Agentless, CodeMonkeys): the first
/// at the model's default temperature, the rest at `retryTemperature`, all from the same messages, so a server with a
/// prompt cache pays only for each one's output. Each distinct change is written, checked to parse and judged like a
/// fix; the one that passes wins (a pass that shows the task is done over one that does not), ties going to the
/// change most candidates agree on, then the earliest. The winner goes through the attempt's usual path as its first
/// reply; when none passes, the one most candidates agree on does, and its failure steers the retries.
extension AttemptMachine {
    mutating func sampled(_ number: Int, reply: ModelReply, cost: Double, now: Double) -> Action {
        budget.spend(reply.usage, cost: cost, timings: reply.serverTimings)
        var sample = Sample(
            reply: reply.content, temperature: number == 1 ? nil : Self.retryTemperature, usage: reply.usage, cost: cost
        )
        (sample.writes, sample.problems) = parseFix(reply)
        samples.append(sample)
        // The budget caps how many: the next sample only while the run may still spend.
        if number < plan.candidates, budget.exhausted(now: now) == nil {
            return callModel(
                messages, maxTokens: replyCap, temperature: Self.retryTemperature, phase: "candidate",
                waiting: .sampling(number: number + 1), now: now)
        }
        return judgeSamples(now: now)
    }

    /// Marks repeats (the same change, normalised) and starts judging the distinct ones.
    mutating func judgeSamples(now: Double) -> Action {
        guard !samples.isEmpty else { return fallback(now: now) }
        var firstByKey: [String: Int] = [:]
        for index in samples.indices {
            guard !samples[index].writes.isEmpty else {
                samples[index].outcome = "no_change"
                continue
            }
            let key = Self.normalised(samples[index].writes)
            if let first = firstByKey[key] {
                samples[index].duplicateOf = first
                samples[index].outcome = "duplicate"
            } else {
                firstByKey[key] = index
            }
        }
        return nextSample(from: 0, now: now)
    }

    mutating func nextSample(from start: Int, now: Double) -> Action {
        // Judging runs tests, not the model: only the clock or the host's halt stops it (spent steps do not).
        guard budget.haltReason == nil, budget.secondsLeft(now: now) != 0,
            let index = samples.indices.first(where: { $0 >= start && samples[$0].outcome == "not_run" })
        else { return chooseSample() }
        waiting = .sampleWritten(index: index)
        return .write(originals.merging(samples[index].writes) { $1 })
    }

    mutating func sampleWritten(_ index: Int, changed all: [String], now: Double) -> Action {
        let changed = all.filter { $0 != reproduction?.path }
        samples[index].changed = changed
        guard !changed.isEmpty else {
            samples[index].outcome = "no_change"
            return nextSample(from: index + 1, now: now)
        }
        waiting = .sampleChecked(index: index)
        return .checkSyntax(changed)
    }

    mutating func sampleChecked(_ index: Int, problems: [String], now: Double) -> Action {
        guard problems.isEmpty else {
            samples[index].outcome = "syntax_error"
            samples[index].problems += problems
            return nextSample(from: index + 1, now: now)
        }
        guard plan.testCommand != nil else {
            samples[index].outcome = "untested"
            return nextSample(from: index + 1, now: now)
        }
        waiting = .sampleVerified(index: index)
        return .verify
    }

    mutating func sampleVerified(
        _ index: Int, _ verification: AgentMachine.Verification, tests: TestRun?, now: Double
    ) -> Action {
        samples[index].outcome = verification.name
        samples[index].verification = verification
        samples[index].tests = tests
        return nextSample(from: index + 1, now: now)
    }

    /// How strongly an outcome speaks for a candidate; 0 does not pass.
    static func rank(_ outcome: String) -> Int {
        switch outcome {
        case "passed": 3
        case "passed_without_proof": 2
        case "untested": 1
        default: 0
        }
    }

    /// Picks the candidate the attempt goes on with, records every candidate and why, and writes the pick as the
    /// attempt's first reply.
    mutating func chooseSample() -> Action {
        let agreement = samples.indices.map { index in
            samples.filter { ($0.duplicateOf ?? -1) == index }.count + 1
        }
        let distinct = samples.indices.filter { samples[$0].duplicateOf == nil && !samples[$0].writes.isEmpty }
        let order = distinct.sorted {
            (Self.rank(samples[$0].outcome), agreement[$0], -$0) > (Self.rank(samples[$1].outcome), agreement[$1], -$1)
        }
        let chosen = order.first ?? 0
        let winner = Self.rank(samples[chosen].outcome) > 0
        records.append(
            .attemptCandidates(
                .init(
                    candidates: samples.indices.map { index in
                        let sample = samples[index]
                        return .init(
                            index: index + 1, temperature: sample.temperature, usage: sample.usage,
                            costUSD: sample.cost,
                            changedFiles: sample.changed.isEmpty ? sample.writes.keys.sorted() : sample.changed,
                            outcome: sample.outcome,
                            agreement: sample.duplicateOf == nil ? agreement[index] : agreement[sample.duplicateOf!],
                            chosen: index == chosen,
                            why: why(index, chosen: chosen, winner: winner, agreement: agreement),
                            problems: sample.problems.isEmpty ? nil : sample.problems)
                    })))
        let pick = samples[chosen]
        messages.append(ChatMessage(role: .assistant, content: pick.reply))
        // A pick the tests already judged goes on with that judgement; the files are written back as they were then.
        waiting =
            pick.verification == nil
            ? .fixWritten(reply: 1, writes: pick.writes, problems: pick.problems, summary: summary(of: pick.reply))
            : .sampleChosen(index: chosen)
        return .write(originals.merging(pick.writes) { $1 })
    }

    /// The judged pick is back in the files: it is the attempt's first reply, judged as it was.
    mutating func sampleChosen(_ index: Int, changed all: [String], now: Double) -> Action {
        let pick = samples[index]
        let changed = all.filter { $0 != reproduction?.path }
        records.append(.attemptApplied(.init(reply: 1, changedFiles: changed, problems: pick.problems)))
        lastProblems = pick.problems
        candidates.append(pick.writes)
        candidateReplies.append(1)
        guard let verification = pick.verification else { return undo(limit: nil) }
        return judged(
            verification, tests: pick.tests, reply: 1, changed: changed, summary: summary(of: pick.reply), now: now)
    }

    private func why(_ index: Int, chosen: Int, winner: Bool, agreement: [Int]) -> String {
        let sample = samples[index]
        let agreed = agreement[index] > 1 ? "; \(agreement[index]) of \(samples.count) candidates made this change" : ""
        if index == chosen {
            return winner
                ? "chosen: \(sample.outcome.replacingOccurrences(of: "_", with: " "))\(agreed)"
                : "no candidate passed; chosen to steer the retries as the change most candidates agree on\(agreed)"
        }
        switch sample.outcome {
        case "duplicate": return "the same change as candidate \((sample.duplicateOf ?? 0) + 1)"
        case "no_change":
            return sample.problems.isEmpty ? "changed nothing" : "refused: " + sample.problems.joined(separator: " ")
        case "syntax_error": return "does not parse"
        case "not_run": return "not judged: the budget ran out"
        default:
            if Self.rank(sample.outcome) == 0 {
                return "the tests say \(sample.outcome.replacingOccurrences(of: "_", with: " "))"
            }
            return
                "lost to candidate \(chosen + 1) (\(samples[chosen].outcome.replacingOccurrences(of: "_", with: " ")), "
                + "agreement \(agreement[chosen]) against \(agreement[index]))"
        }
    }

    /// A change with trailing spaces and blank lines ignored, so two samples that differ only there agree.
    static func normalised(_ writes: [String: String]) -> String {
        writes.sorted { $0.key < $1.key }.map { path, text in
            path + "\n"
                + text.split(separator: "\n").map {
                    $0.replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression)
                }
                .filter { !$0.isEmpty }.joined(separator: "\n")
        }.joined(separator: "\n\u{0}\n")
    }
}
