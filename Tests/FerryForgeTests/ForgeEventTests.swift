import Crypto
import FerryCore
import Foundation
import Testing

@testable import FerryForge

/// GitHub's webhook deliveries (the payloads GitHub sends, from octokit/webhooks: Fixtures/github/README.md) verified
/// and read, and what a project does with each, pure.
@Suite struct ForgeEventTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/github/\(name)", withExtension: "json"))
        return try Data(contentsOf: url)
    }

    static func sign(_ body: Data, _ secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    @Test func aSignatureIsCheckedAndAForgedOneRefused() throws {
        let body = try Self.fixture("issues_labeled")
        try GitHubWebhook.verify(body: body, signature: Self.sign(body, "s3cret"), secret: "s3cret")
        #expect(throws: ForgeRefusal.self) {
            try GitHubWebhook.verify(body: body, signature: Self.sign(body, "other"), secret: "s3cret")
        }
        var changed = body
        changed.append(0x20)
        #expect(throws: ForgeRefusal.self) {
            try GitHubWebhook.verify(body: changed, signature: Self.sign(body, "s3cret"), secret: "s3cret")
        }
        for bad in [nil, "", "sha1=abc", "sha256=zz", "sha256=" + String(repeating: "0", count: 64)] {
            #expect(throws: ForgeRefusal.self) {
                try GitHubWebhook.verify(body: body, signature: bad, secret: "s3cret")
            }
        }
        try GitLabWebhook.verify(token: "tok", secret: "tok")
        #expect(throws: ForgeRefusal.self) { try GitLabWebhook.verify(token: "tak", secret: "tok") }
        #expect(throws: ForgeRefusal.self) { try GitLabWebhook.verify(token: nil, secret: "tok") }
    }

    @Test func githubsPayloadsAreRead() throws {
        let labeled = try GitHubWebhook.event(name: "issues", delivery: "d1", body: Self.fixture("issues_labeled"))
        #expect(labeled.kind == .issueLabeled(labels: ["bug"]))
        #expect(labeled.repository == "Codertocat/Hello-World" && labeled.number == 1 && labeled.delivery == "d1")
        #expect(labeled.title == "Spelling error in the README file" && labeled.sender == "Codertocat")
        let comment = try GitHubWebhook.event(
            name: "issue_comment", delivery: "d2", body: Self.fixture("issue_comment_created"))
        #expect(
            comment.kind
                == .comment(body: "You are totally right! I'll get this fixed right away.", onPullRequest: false))
        let review = try GitHubWebhook.event(
            name: "pull_request_review", delivery: "d3", body: Self.fixture("pull_request_review_submitted"))
        #expect(review.number == 2 && review.kind == .other("pull_request_review.commented"))
        let opened = try GitHubWebhook.event(name: "issues", delivery: "d4", body: Self.fixture("issues_opened"))
        #expect(opened.kind == .other("issues.opened"))
        #expect(throws: ForgeRefusal.self) { try GitHubWebhook.event(name: nil, delivery: "d", body: Data("{}".utf8)) }
        #expect(throws: ForgeRefusal.self) {
            try GitHubWebhook.event(name: "issues", delivery: "d", body: Data("[]".utf8))
        }
    }

    @Test func aProjectStartsWorkOnlyWhereItShould() throws {
        var event = try GitHubWebhook.event(name: "issues", delivery: "d1", body: Self.fixture("issues_labeled"))
        #expect(
            ForgeTriggers.decide(event, label: "bug", ownPullRequests: []) == .startTask(issue: 1, instruction: nil))
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: []) == .ignore("the label bug is not ferry"))
        event.kind = .comment(body: "Thanks!\n/ferry   keep the old name as an alias  ", onPullRequest: false)
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: [])
                == .startTask(issue: 1, instruction: "keep the old name as an alias"))
        event.kind = .comment(body: "see /ferry docs", onPullRequest: false)
        #expect(ForgeTriggers.decide(event, label: "ferry", ownPullRequests: []) == .ignore("a comment without /ferry"))
        event.kind = .comment(body: "/ferry use a dict instead", onPullRequest: true)
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: [1])
                == .followUp(pullRequest: 1, instruction: "use a dict instead"))
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: [7])
                == .ignore("/ferry on a pull request Ferry did not open"))
        event.kind = .changesRequested(body: "Please add a test for the empty cart.")
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: [1])
                == .followUp(pullRequest: 1, instruction: "Please add a test for the empty cart."))
        // Ferry's own comments come back as events: they start nothing.
        event.senderIsBot = true
        #expect(
            ForgeTriggers.decide(event, label: "ferry", ownPullRequests: [1]) == .ignore("sent by a bot (Codertocat)"))
    }

    /// GitLab's deliveries, in the shapes its webhook documentation gives (Issue Hook with `changes.labels`, Note Hook
    /// on an issue and on a merge request); written here from that documentation, as no fixture repository of
    /// GitLab's payloads was at hand.
    @Test func gitlabsDeliveriesAreRead() throws {
        let issue: JSONValue = [
            "object_kind": "issue", "event_type": "issue",
            "user": ["id": 1, "name": "Administrator", "username": "root"],
            "project": ["id": 1, "path_with_namespace": "gitlabhq/gitlab-test"],
            "object_attributes": [
                "iid": 23, "title": "New API: create/update/delete file",
                "description": "Create new API for manipulations with repository", "action": "update",
            ],
            "labels": [["id": 206, "title": "API"], ["id": 207, "title": "ferry"]],
            "changes": [
                "labels": [
                    "previous": [["id": 206, "title": "API"]],
                    "current": [["id": 206, "title": "API"], ["id": 207, "title": "ferry"]],
                ]
            ],
        ]
        let labeled = try GitLabWebhook.event(
            name: "Issue Hook", delivery: "u1", body: Data(issue.jsonString.utf8))
        #expect(labeled.kind == .issueLabeled(labels: ["ferry"]) && labeled.number == 23)
        #expect(labeled.repository == "gitlabhq/gitlab-test" && labeled.title == "New API: create/update/delete file")
        #expect(
            ForgeTriggers.decide(labeled, label: "ferry", ownPullRequests: [])
                == .startTask(issue: 23, instruction: nil))
        let note: JSONValue = [
            "object_kind": "note", "event_type": "note", "user": ["username": "project_42_bot_3f2a"],
            "project": ["path_with_namespace": "gitlabhq/gitlab-test"],
            "object_attributes": ["note": "/ferry rename it", "noteable_type": "MergeRequest"],
            "merge_request": ["iid": 1, "title": "Tests for the empty cart"],
        ]
        let comment = try GitLabWebhook.event(name: "Note Hook", delivery: "u2", body: Data(note.jsonString.utf8))
        #expect(comment.kind == .comment(body: "/ferry rename it", onPullRequest: true) && comment.number == 1)
        #expect(comment.senderIsBot, "a project access token's bot user")
        #expect(
            ForgeTriggers.decide(comment, label: "ferry", ownPullRequests: [1])
                == .ignore("sent by a bot (project_42_bot_3f2a)"))
        #expect(throws: ForgeRefusal.self) {
            try GitLabWebhook.event(name: "Issue Hook", delivery: nil, body: Data(issue.jsonString.utf8))
        }
    }
}
