import FerryCore
import Foundation
import Testing

@testable import FerryForge

/// What a pull request and a comment say, for each way a task can end, and what a run is asked from an issue.
@Suite struct ForgeReportTests {
    static let evidence = ChangeEvidence(
        summary: "add() now adds.", testCommand: "python3 -m unittest", fixedTests: ["test_calc.T.test_add"],
        addedTests: ["tests/test_sum.py"], before: "fail (exit 1), 1 failed", after: "pass, 2 passed",
        filesChanged: ["calc.py", "tests/test_sum.py"], steps: 4, model: "gpt-4.1-mini")

    static func outcome(_ status: String, commit: Bool = true, reason: String = "r") -> ForgeReport.Outcome {
        ForgeReport.Outcome(
            status: status, reason: reason, costUSD: 0.0123, taskURL: "https://ferry.example/tasks/t1",
            hasCommit: commit, evidence: evidence)
    }

    @Test func aVerifiedPullRequestCarriesItsEvidence() {
        let body = ForgeReport.pullRequestBody(Self.outcome("verified"), issue: 7, closes: true)
        #expect(body.hasPrefix("Fixes #7\n"))
        for part in [
            "**Verified**", "add() now adds.", "`python3 -m unittest`", "before the change: fail (exit 1), 1 failed",
            "after the change: pass, 2 passed", "failed before and pass now: `test_calc.T.test_add`",
            "tests this change adds: `tests/test_sum.py`", "$0.0123", "4 model calls, gpt-4.1-mini",
            "https://ferry.example/tasks/t1",
        ] {
            #expect(body.contains(part), "\(part)")
        }
    }

    @Test func anUnprovedOneIsADraftThatSaysWhy() {
        let outcome = Self.outcome("unverified", reason: "no test failed without the change")
        let body = ForgeReport.pullRequestBody(outcome, issue: 7, closes: true)
        #expect(
            body.hasPrefix("For #7") && body.contains("**Not verified** (draft): no test failed without the change"))
        let pull = ForgePullRequest(number: 12, url: "https://x/pull/12", head: "ferry/r", base: "main", draft: true)
        let comment = ForgeReport.comment(outcome, pullRequest: pull, followUp: false)
        #expect(comment.contains("the pull request is a draft: https://x/pull/12"))
        #expect(comment.contains("Why: no test failed without the change"))
        #expect(comment.contains("/ferry <what to do>") && comment.contains("request changes in a review"))
    }

    @Test(arguments: [
        ("failed", "The Ferry task failed."), ("limit", "stopped at a limit"), ("cancelled", "was cancelled"),
        ("unverified", "did not arrive at a change it could prove"),
    ])
    func everyEndIsToldPlainly(status: String, words: String) {
        let comment = ForgeReport.comment(
            Self.outcome(status, commit: false, reason: "the model's key was refused"), pullRequest: nil,
            followUp: false)
        #expect(comment.contains(words), "\(comment)")
        #expect(comment.contains("Why: the model's key was refused") && comment.contains("$0.0123"))
    }

    @Test func anIssueWithItsDiscussionIsTheTaskAndALongOneIsCut() {
        let issue = ForgeIssue(
            number: 3, title: "Crash", body: "It crashes on empty input.",
            comments: [
                ForgeComment(author: "ann", body: "Stack trace: ..."),
                ForgeComment(author: "bob", body: "/ferry"),
            ], url: "")
        let task = ForgeReport.task(from: issue, instruction: "keep the API")
        #expect(task.hasPrefix("Resolve issue #3: Crash\n\nIt crashes on empty input."))
        #expect(task.contains("ann wrote:\nStack trace") && !task.contains("bob wrote"), "bare commands are left out")
        #expect(task.hasSuffix("## Instruction\n\nkeep the API\n"))
        let long = ForgeIssue(number: 4, title: "t", body: String(repeating: "a", count: 50_000), comments: [], url: "")
        let cut = ForgeReport.task(from: long, instruction: nil, limit: 1000)
        #expect(cut.count < 1100 && cut.contains("[… cut …]"))
    }

    @Test func aRemoteNamesItsForge() {
        let cases: [(String, String?, String?, Bool?)] = [
            ("https://github.com/octo-org/calc.git", "github.com", "octo-org/calc", true),
            ("git@github.com:octo-org/calc.git", "github.com", "octo-org/calc", false),
            (
                "ssh://git@gitlab.example.com:2222/group/sub/project.git", "gitlab.example.com", "group/sub/project",
                false
            ),
            ("https://gitlab.com/group/project/", "gitlab.com", "group/project", true),
            ("/srv/repos/calc.git", nil, nil, nil),
            ("https://github.com/justone", nil, nil, nil),
        ]
        for (url, host, repository, https) in cases {
            let remote = ForgeRemote(url)
            #expect(remote?.host == host && remote?.repository == repository && remote?.https == https, "\(url)")
        }
        #expect(ForgeRemote("git@github.com:o/r.git")?.kind == .github)
        #expect(ForgeRemote("https://gitlab.example.com/g/p")?.kind == .gitlab)
        #expect(ForgeRemote("https://git.example.com/g/p")?.kind == nil)
    }
}
