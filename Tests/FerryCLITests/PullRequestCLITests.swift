import FerryCore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// `ferry run --pr` from a developer's machine: the real binary, the developer's own token, the branch pushed over git
/// to a real bare repository, the pull request and the issue's comment through GitHub's stand-in (held to GitHub's
/// description).
@Suite struct PullRequestCLITests {
    static let files = CalcFixture.files
    static let script: [FakeStep] = [
        .call("read_file", ["path": "calc.py"]),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
        .call("finish", ["summary": "add() subtracted; it now adds."]),
    ]

    @Test func anIssueBecomesAPullRequestFromTheDevelopersMachine() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let bare = repo + "-origin.git"
        try await Git(repo).run("clone", "--bare", "--quiet", repo, bare)
        try await Git(repo).run("remote", "add", "origin", bare)
        let branch = try await Git(repo).run("rev-parse", "--abbrev-ref", "HEAD")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let key = try await GitHubStandIn.appKey()
        try await GitHubStandIn.with(
            repository: "octo-org/calc", appID: "1", publicKeyPEM: key.publicPEM, installationID: 1, bareRepo: bare,
            personalToken: "ghp_developer"
        ) { forge in
            forge.addIssue(
                9, title: "add() subtracts", body: "2 + 3 should be 5.", comments: [("bob", "Seen in prod.")])
            let (status, stdout, stderr, asked) = try await FakeModelServer.with(.openai, script: Self.script) {
                server in
                let ferry = try await HostileCLITests.Ferry(
                    [
                        "run", "--pr", "--issue", "9", "--forge", "github", "--forge-repository", "octo-org/calc",
                        "--forge-api", forge.baseURL,
                    ] + HostileCLITests.model(server),
                    in: repo, environment: ["GITHUB_TOKEN": "ghp_developer", "FERRY_HOSTILE_KEY": "k"])
                let (status, stdout, stderr) = await ferry.finish()
                return (status, stdout, stderr, server.requests.first?.jsonString ?? "")
            }
            #expect(status == 0, "\(stderr)")
            #expect(asked.contains("Seen in prod.") && asked.contains("2 + 3 should be 5."), "the issue is the task")
            let pull = try #require(forge.pulls.first)
            #expect(
                stdout.contains("Pull request: https://github.invalid/octo-org/calc/pull/\(pull.number)"), "\(stdout)")
            #expect(!pull.draft && pull.base == branch && pull.head.hasPrefix("ferry/"))
            #expect(pull.body.contains("Fixes #9") && pull.body.contains("ferry runs show"), "\(pull.body)")
            #expect(try await Git(bare).run("rev-parse", "refs/heads/\(pull.head)").count >= 40, "pushed")
            #expect(forge.comments.first?.number == 9)
            #expect(!stdout.contains("ghp_developer") && !stderr.contains("ghp_developer"))
            #expect(forge.violations.isEmpty, "\(forge.violations)")
        }
    }

    @Test func withoutATokenNothingIsSpent() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        try await Git(repo).run("remote", "add", "origin", "git@github.com:octo-org/calc.git")
        let ferry = try await HostileCLITests.Ferry(
            ["run", "--pr", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "fix it"], in: repo,
            environment: ["GITHUB_TOKEN": ""])
        let (status, _, stderr) = await ferry.finish()
        #expect(status != 0 && stderr.contains("$GITHUB_TOKEN"), "\(stderr)")
        // A remote on no known forge says how to name it.
        try await Git(repo).run("remote", "set-url", "origin", "https://git.example.com/x/y.git")
        let other = try await HostileCLITests.Ferry(["run", "--pr", "fix it"], in: repo)
        let (_, _, said) = await other.finish()
        #expect(said.contains("--forge github|gitlab"), "\(said)")
        #expect(try await Git(repo).run("branch", "--list", "ferry/*").isEmpty, "no run started")
    }
}
