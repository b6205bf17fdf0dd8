import FerryCore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryForge

/// The forge client against GitHub's stand-in, which holds every request and answer to GitHub's own description: the
/// App's installation tokens (minted, reused, refreshed when expired or refused), rate limits obeyed, pull requests
/// opened once from a pushed branch.
@Suite struct ForgeAPITests {
    static let repository = "octo-org/calc"

    /// A bare repository with `main` and, when asked, a pushed `branch`.
    static func bare(branch: String? = nil) async throws -> String {
        let work = try await FixtureRepo.make(["calc.py": "x = 1\n"])
        let bare = work + "-bare.git"
        _ = try await Git(work).run("clone", "--bare", "--quiet", work, bare)
        if let branch {
            _ = try await Git(work).run("checkout", "--quiet", "-b", branch)
            try "x = 2\n".write(toFile: work + "/calc.py", atomically: true, encoding: .utf8)
            _ = try await Git(work).run("commit", "--quiet", "-am", "change")
            _ = try await Git(work).run("push", "--quiet", bare, branch)
        }
        return bare
    }

    static func withForge<T: Sendable>(
        branch: String? = nil, _ body: @Sendable (GitHubStandIn, GitHubAppIdentity) async throws -> T
    ) async throws -> T {
        let key = try await GitHubStandIn.appKey()
        let bare = try await bare(branch: branch)
        return try await GitHubStandIn.with(
            repository: repository, appID: "4242", publicKeyPEM: key.publicPEM, installationID: 77, bareRepo: bare
        ) { forge in
            try await body(forge, GitHubAppIdentity(appID: "4242", privateKeyPEM: key.privatePEM, installationID: 77))
        }
    }

    final class Calls: Sendable {
        let list = Locked<[ForgeCall]>([])
        func add(_ call: ForgeCall) { list.withLock { $0.append(call) } }
        var all: [ForgeCall] { list.withLock { $0 } }
    }

    @Test func anIssueIsReadWithItsDiscussionUnderOneInstallationToken() async throws {
        try await Self.withForge { forge, identity in
            forge.addIssue(7, title: "divide by zero", body: "calc.divide(1, 0) crashes", comments: [("ann", "+1")])
            let calls = Calls()
            let api = GitHubAPI(
                apiURL: forge.baseURL, repository: Self.repository,
                auth: .app(GitHubAppTokens(identity: identity, apiURL: forge.baseURL, record: calls.add)),
                record: calls.add)
            let issue = try await api.issue(7)
            #expect(issue.title == "divide by zero" && issue.body.contains("crashes"))
            #expect(issue.comments == [ForgeComment(author: "ann", body: "+1")])
            _ = try await api.issue(7)
            #expect(forge.tokensMinted == 1, "the token is reused while it lives: \(forge.log)")
            #expect(calls.all.map(\.status) == [201, 200, 200, 200, 200], "\(calls.all.map(\.line))")
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    @Test func anExpiredInstallationTokenIsRefreshed() async throws {
        try await Self.withForge { forge, identity in
            forge.addIssue(7, title: "t", body: "b")
            let tokens = GitHubAppTokens(identity: identity, apiURL: forge.baseURL)
            let api = GitHubAPI(apiURL: forge.baseURL, repository: Self.repository, auth: .app(tokens))
            let first = try await tokens.token()
            #expect(try await tokens.token() == first, "kept while it lives")
            // An hour later (less the margin) it is replaced before it is used.
            let later = try await tokens.token(now: Date().addingTimeInterval(3600 - 200))
            #expect(later != first && forge.tokensMinted == 2)
            // GitHub refuses a token it holds expired (revoked, or clocks apart): the 401 gets a fresh one, once.
            forge.expireTokens()
            _ = try await api.issue(7)
            #expect(forge.tokensMinted == 3, "\(forge.log)")
            #expect(forge.log.filter { $0.contains("→ 401") }.count == 1, "\(forge.log)")
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    @Test func aTokenNearItsExpiryIsReplacedBeforeTheCall() async throws {
        try await Self.withForge { forge, identity in
            forge.addIssue(7, title: "t", body: "b")
            forge.setTokenLifetime(120)  // inside the five minutes' margin
            let tokens = GitHubAppTokens(identity: identity, apiURL: forge.baseURL)
            let api = GitHubAPI(apiURL: forge.baseURL, repository: Self.repository, auth: .app(tokens))
            _ = try await api.issue(7)
            _ = try await api.issue(7)
            // Two calls each (the issue, its comments): four tokens, each made just before its call.
            #expect(forge.tokensMinted == 4, "one per call while each is about to expire: \(forge.log)")
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    @Test func aSecondaryRateLimitIsWaitedOutThenRetried() async throws {
        try await Self.withForge(branch: "ferry/fix") { forge, identity in
            forge.inject(
                .init(
                    method: "POST", pathSuffix: "/pulls", status: 403, headers: ["retry-after": "1"],
                    body:
                        #"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#
                ))
            let calls = Calls()
            let api = GitHubAPI(
                apiURL: forge.baseURL, repository: Self.repository,
                auth: .app(GitHubAppTokens(identity: identity, apiURL: forge.baseURL)), record: calls.add)
            let started = Date()
            let pull = try await api.openPullRequest(
                head: "ferry/fix", base: "main", title: "Fix", body: "evidence", draft: true)
            #expect(Date().timeIntervalSince(started) >= 1, "Retry-After was obeyed")
            #expect(pull.draft && pull.head == "ferry/fix" && pull.number > 0)
            let create = try #require(calls.all.first { $0.method == "POST" && $0.path.hasSuffix("/pulls") })
            #expect(create.attempts == 2 && create.waitedSeconds == 1 && create.status == 201, "\(create.line)")
            #expect(forge.log.contains { $0.hasPrefix("POST /repos/\(Self.repository)/pulls → 403") })
            // Opening it again finds the open one.
            let again = try await api.openPullRequest(
                head: "ferry/fix", base: "main", title: "Fix", body: "evidence", draft: true)
            #expect(again.number == pull.number && forge.pulls.count == 1)
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    @Test func aPrimaryRateLimitWaitsForItsResetAndALongWaitIsRefused() {
        let policy = ForgeRetryPolicy()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let reset = ["x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000010"]
        #expect(policy.decide(status: 403, headers: reset, body: "", attempt: 1, now: now) == .retry(after: 11))
        #expect(
            policy.decide(status: 429, headers: ["retry-after": "3"], body: "", attempt: 1, now: now)
                == .retry(after: 3))
        #expect(
            policy.decide(status: 403, headers: [:], body: "secondary rate limit", attempt: 1, now: now)
                == .retry(after: 60))
        #expect(
            policy.decide(
                status: 403, headers: [:], body: "Resource not accessible by integration", attempt: 1, now: now)
                == .done)
        #expect(policy.decide(status: 502, headers: [:], body: "", attempt: 2, now: now) == .retry(after: 2))
        #expect(
            policy.decide(status: nil, headers: [:], body: "", attempt: 4, now: now)
                == .giveUp("still limited or failing after 4 tries"))
        if case .giveUp(let why) = policy.decide(
            status: 403, headers: ["retry-after": "3600"], body: "", attempt: 1, now: now)
        {
            #expect(why.contains("3600 s"))
        } else {
            Issue.record("an hour's wait is not slept through")
        }
        #expect(policy.decide(status: 404, headers: [:], body: "", attempt: 1, now: now) == .done)
    }

    @Test func aPullRequestFromABranchNeverPushedIsRefusedAsGitHubWould() async throws {
        try await Self.withForge { forge, identity in
            let api = GitHubAPI(
                apiURL: forge.baseURL, repository: Self.repository,
                auth: .app(GitHubAppTokens(identity: identity, apiURL: forge.baseURL)))
            await #expect {
                _ = try await api.openPullRequest(
                    head: "ferry/missing", base: "main", title: "t", body: "b", draft: false)
            } throws: { error in
                (error as? FerryError)?.message.contains("422") == true
            }
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    /// The check itself can fail: a body that breaks GitHub's schema is named, field by field.
    @Test func theDescriptionRefusesWhatGitHubWouldNotSend() throws {
        let api = try OpenAPIDescription.fixture("github-rest-subset.json")
        let (_, create) = try #require(api.operation(method: "POST", path: "/repos/o/r/pulls"))
        let schema = try #require(api.requestSchema(create))
        #expect(
            api.violations(["title": "t", "head": "x", "base": "main", "draft": "yes"], schema) == [
                "$.draft: \"yes\" is not boolean"
            ])
        #expect(api.violations(["title": "t"], schema).contains("$.head is required"))
        let pull = try #require(api.responseSchema(create, status: 201))
        let good = api.example(pull, fill: ["number": 3, "head": ["ref": "b"]])
        #expect(api.violations(good, pull).isEmpty, "\(api.violations(good, pull))")
        guard case .object(var broken) = good else { return }
        broken["number"] = "three"
        broken.removeValue(forKey: "head")
        #expect(api.violations(.object(broken), pull).count == 2)
        #expect(api.operation(method: "DELETE", path: "/repos/o/r/pulls") == nil)
        #expect(
            api.operation(method: "GET", path: "/repos/o/r/pulls/5")?.template
                == "/repos/{owner}/{repo}/pulls/{pull_number}")
    }
}
