import FerryCore
import Foundation

/// What proves a change, as a pull request shows it: the test command, which tests failed before and pass now, the
/// tests the change added, and the suite's line before and after. Written by the worker from the run's own test runs.
public struct ChangeEvidence: Sendable, Hashable, Codable {
    public var summary: String
    public var testCommand: String?
    public var fixedTests: [String]
    public var addedTests: [String]
    public var before: String?
    public var after: String?
    public var filesChanged: [String]
    public var notes: [String]
    public var steps: Int
    public var model: String

    public init(
        summary: String, testCommand: String?, fixedTests: [String], addedTests: [String], before: String?,
        after: String?, filesChanged: [String], notes: [String] = [], steps: Int = 0, model: String = ""
    ) {
        self.summary = summary
        self.testCommand = testCommand
        self.fixedTests = fixedTests
        self.addedTests = addedTests
        self.before = before
        self.after = after
        self.filesChanged = filesChanged
        self.notes = notes
        self.steps = steps
        self.model = model
    }
}

/// How a finished task is told on its forge, pure: the pull request's title, body and draft flag, and the comment on
/// the issue (whatever the task's end, it says what happened and why in words a reviewer acts on).
public enum ForgeReport {
    public struct Outcome: Sendable, Hashable {
        /// `verified`, `unverified`, `failed`, `limit` or `cancelled` (the task's status).
        public var status: String
        public var reason: String
        public var costUSD: Double
        /// The task on the team server's dashboard; for a run on a developer's machine, `ferry runs show ID`.
        public var taskURL: String
        public var runID: String? = nil
        public var hasCommit: Bool
        public var evidence: ChangeEvidence?

        public init(
            status: String, reason: String, costUSD: Double, taskURL: String, hasCommit: Bool,
            evidence: ChangeEvidence?
        ) {
            self.status = status
            self.reason = reason
            self.costUSD = costUSD
            self.taskURL = taskURL
            self.hasCommit = hasCommit
            self.evidence = evidence
        }

        public var verified: Bool { status == "verified" }
    }

    /// A pull request is opened for any change that was committed; only a verified one is ready for review.
    public static func wantsPullRequest(_ outcome: Outcome) -> Bool { outcome.hasCommit }

    public static func title(issueTitle: String, issue: Int) -> String {
        let trimmed = issueTitle.trimmingCharacters(in: .whitespacesAndNewlines)
        return "Ferry: \(trimmed.isEmpty ? "issue #\(issue)" : String(trimmed.prefix(200)))"
    }

    public static func pullRequestBody(_ outcome: Outcome, issue: Int, closes: Bool) -> String {
        var text = ""
        if closes { text += outcome.verified ? "Fixes #\(issue)\n\n" : "For #\(issue)\n\n" }
        text +=
            outcome.verified
            ? "**Verified**: the project's own tests prove this change.\n\n"
            : "**Not verified** (draft): \(outcome.reason)\n\n"
        if let evidence = outcome.evidence {
            if !evidence.summary.isEmpty { text += "## Summary\n\n\(evidence.summary)\n\n" }
            text += evidenceSection(evidence)
        }
        text += "## Cost\n\n\(usd(outcome.costUSD))"
        if let evidence = outcome.evidence, !evidence.model.isEmpty {
            text += " (\(evidence.steps) model calls, \(evidence.model))"
        }
        text += "\n\n" + pointer(outcome) + "\n"
        return text
    }

    static func evidenceSection(_ evidence: ChangeEvidence) -> String {
        var text = "## Verification\n\n"
        if let command = evidence.testCommand {
            text += "- test command: `\(command)`\n"
            text += "- before the change: \(evidence.before ?? "not run")\n"
            text += "- after the change: \(evidence.after ?? "not run")\n"
        } else {
            text += "- no test command was found, so nothing proves this change\n"
        }
        if !evidence.fixedTests.isEmpty {
            text += "- failed before and pass now: " + list(evidence.fixedTests) + "\n"
        }
        if !evidence.addedTests.isEmpty { text += "- tests this change adds: " + list(evidence.addedTests) + "\n" }
        for note in evidence.notes { text += "- \(note)\n" }
        if !evidence.filesChanged.isEmpty {
            text += "\nFiles changed: " + evidence.filesChanged.prefix(30).map { "`\($0)`" }.joined(separator: ", ")
            text += evidence.filesChanged.count > 30 ? " and \(evidence.filesChanged.count - 30) more\n" : "\n"
        }
        return text + "\n"
    }

    /// Where the whole story is: the dashboard's task page, or the run on the machine that made it.
    static func pointer(_ outcome: Outcome) -> String {
        if !outcome.taskURL.isEmpty {
            return "[The task on Ferry's dashboard](\(outcome.taskURL)): its diff, trace and every call it made."
        }
        return outcome.runID.map { "Its trace: `ferry runs show \($0)` on the machine that ran it." } ?? ""
    }

    static func list(_ names: [String]) -> String {
        let shown = names.prefix(20).map { "`\($0)`" }.joined(separator: ", ")
        return names.count > 20 ? shown + " and \(names.count - 20) more" : shown
    }

    /// The comment on the issue (or on the pull request, for a follow-up) when the task ends.
    public static func comment(_ outcome: Outcome, pullRequest: ForgePullRequest?, followUp: Bool) -> String {
        var text: String
        switch outcome.status {
        case _ where followUp && outcome.hasCommit:
            text = "Ferry added commits to this pull request"
            text +=
                outcome.verified
                ? ", and the project's tests prove them.\n"
                : ". The project's tests do not prove them.\n\nWhy: \(outcome.reason)\n"
        case "verified":
            text = "Ferry made a change and the project's tests prove it"
            text += pullRequest.map { ": \($0.url)" } ?? "."
            text += "\n"
        case "unverified":
            text =
                outcome.hasCommit
                ? "Ferry made a change but could not prove it with the project's tests, so "
                    + (pullRequest.map { "the pull request is a draft: \($0.url)" } ?? "it was not proposed")
                    + ".\n\nWhy: \(outcome.reason)\n"
                : "Ferry did not arrive at a change it could prove.\n\nWhy: \(outcome.reason)\n"
        case "limit":
            text = "Ferry stopped at a limit before it had a proved change"
            text += pullRequest.map { " (its work so far is a draft: \($0.url))" } ?? ""
            text += ".\n\nWhy: \(outcome.reason)\n"
        case "cancelled":
            text = "The Ferry task was cancelled.\n\nWhy: \(outcome.reason)\n"
        default:
            text = "The Ferry task failed.\n\nWhy: \(outcome.reason)\n"
        }
        if let evidence = outcome.evidence, evidence.testCommand != nil {
            text += "\nTests (`\(evidence.testCommand ?? "")`): before \(evidence.before ?? "not run"), after "
            text += "\(evidence.after ?? "not run").\n"
        }
        text += "\nCost \(usd(outcome.costUSD)). " + pointer(outcome) + "\n"
        text += "To try again or steer it: comment `/ferry <what to do>`"
        text += pullRequest == nil ? ".\n" : " on the pull request, or request changes in a review.\n"
        return text
    }

    /// The task a run gets from an issue: its title, its text and its discussion, with the instruction a `/ferry`
    /// comment gave last. Comments from bots are left out; long threads are cut from the middle.
    public static func task(from issue: ForgeIssue, instruction: String?, limit: Int = 12_000) -> String {
        var text = "Resolve issue #\(issue.number): \(issue.title)\n\n\(issue.body)\n"
        let comments = issue.comments.filter { ForgeTriggers.command(in: $0.body) == nil || $0.body.count > 200 }
        if !comments.isEmpty {
            text += "\n## Discussion\n"
            for comment in comments { text += "\n\(comment.author) wrote:\n\(comment.body)\n" }
        }
        if let instruction, !instruction.isEmpty { text += "\n## Instruction\n\n\(instruction)\n" }
        return clip(text, limit)
    }

    /// The task of a follow-up run: the review's words and its comments on the diff.
    public static func followUpTask(
        pullRequest: ForgePullRequest, issue: ForgeIssue?, review: String, comments: [ForgeComment],
        limit: Int = 12_000
    ) -> String {
        var text = "Revise the change on branch \(pullRequest.head) (pull request #\(pullRequest.number))"
        if let issue { text += " for issue #\(issue.number): \(issue.title)" }
        text += ".\n\nThe reviewer asked:\n\n\(review)\n"
        for comment in comments {
            text += "\n- " + (comment.path.map { "`\($0)`" + (comment.line.map { " line \($0)" } ?? "") + ": " } ?? "")
            text += comment.body
        }
        if let issue { text += "\n\n## The original issue\n\n\(issue.body)\n" }
        return clip(text, limit)
    }

    static func clip(_ text: String, _ limit: Int) -> String {
        guard text.count > limit else { return text }
        let half = limit / 2
        return String(text.prefix(half)) + "\n\n[… cut …]\n\n" + String(text.suffix(half))
    }

    static func usd(_ value: Double) -> String { String(format: "$%.4f", value) }
}
