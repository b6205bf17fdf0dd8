/// What the tests said when the model called `finish`, and what the loop does about it.
extension AgentMachine {
    public enum Verification: Sendable, Hashable {
        /// The tests pass and show the change works: one failed before it, or one it adds fails without the rest.
        case passed(String)
        /// The tests pass, but none of them failed without the change, so they do not show the task is done.
        case passedWithoutProof(String)
        /// The tests pass only with the change's own edits to tests or their configuration; as they were at the
        /// base commit, they fail with it.
        case testsRewritten(String)
        case failed(String)
        case noTestCommand
        case noChange

        /// The name the trace uses (`verify.result`'s `outcome`).
        public var name: String {
            switch self {
            case .passed: "passed"
            case .passedWithoutProof: "passed_without_proof"
            case .testsRewritten: "tests_rewritten"
            case .failed: "failed"
            case .noTestCommand: "no_test_command"
            case .noChange: "no_change"
            }
        }
    }

    mutating func handleVerification(_ verification: Verification, now: Double) -> Action {
        let finishCall = history.last(where: { $0.role == .assistant })?.toolCalls.first { $0.tool == .finish }
        let summary = finishCall.map(Self.summary(of:)) ?? ""
        switch verification {
        case .passed(let detail):
            return stop(.verified, detail, summary: summary)
        case .passedWithoutProof(let detail):
            guard !askedForProof, steps < limits.maxSteps else {
                return stop(.unverified, Self.withoutProof(detail), summary: summary)
            }
            askedForProof = true
            answer(
                finishCall,
                with: "The tests pass (\(detail)), but none of them failed before your change, so they do not show "
                    + "that the task is done. Add a test to the project's tests that fails without your change and "
                    + "passes with it, then call `finish`. If no such test can be written, call `finish` again.")
            return afterTurn(now: now)
        case .testsRewritten(let detail):
            guard !toldTestsRewritten, steps < limits.maxSteps else {
                return stop(.unverified, detail, summary: summary)
            }
            toldTestsRewritten = true
            answer(
                finishCall,
                with: "Not verified: \(detail). A change is judged by the project's tests as they were before it. Fix "
                    + "the code so those tests pass, and keep edits to tests to added tests. If the task itself "
                    + "changes behaviour that existing tests check, call `finish` again and the change will be handed "
                    + "over unverified for review.")
            return afterTurn(now: now)
        case .noTestCommand:
            return stop(.unverified, "no test command could judge the change", summary: summary)
        case .noChange, .failed:
            let (reason, feedback): (String, String) =
                switch verification {
                case .noChange:
                    ("no change", "You called `finish` but the workspace has no change. The task is not done.")
                case .failed(let text):
                    ("tests fail after the change", "The tests fail after your change:\n\(text)")
                default: ("", "")
                }
            guard repairsUsed < limits.repairRounds else {
                return stop(.failed, reason, summary: summary)
            }
            if verification == .noChange {
                noChangeFinishes += 1
                // Told once that nothing changed, it finished again without an edit: it does not know what to change.
                if noChangeFinishes >= 2 {
                    return stop(.failed, "no change: the model called finish twice without changing anything")
                }
            }
            repairsUsed += 1
            answer(
                finishCall,
                with: feedback + "\n\nFix the problem, then call `finish` again. (Repair round \(repairsUsed) of "
                    + "\(limits.repairRounds).)")
            return afterTurn(now: now)
        }
    }

    /// Why passing tests without proof leave a change `unverified`.
    public static func withoutProof(_ detail: String) -> String {
        "\(detail), but no test failed without the change, so the tests do not show the task is done"
    }

    static func summary(of finish: ToolCall) -> String {
        JSONValue.parse(finish.arguments)?["summary"]?.stringValue ?? ""
    }
}
