import ArgumentParser
import FerryAgent
import FerryCore
import FerryForge
import FerryServer
import FerryWorkspace
import Foundation

/// `ferry run --pr`: the change's branch pushed and a pull request (GitHub) or merge request (GitLab) opened from a
/// developer's machine with their own token (`$GITHUB_TOKEN`, `$GITLAB_TOKEN`), draft unless verified, with the same
/// evidence the team server writes. `--issue N` takes the task from the issue and tells the issue how it went.
struct PullRequestOptions: ParsableArguments {
    @Flag(
        help:
            "Push the change's branch and open a pull request (GitHub) or merge request (GitLab), draft unless verified; uses $GITHUB_TOKEN or $GITLAB_TOKEN."
    )
    var pr = false
    @Option(help: "With --pr: the issue the change is for; its text and discussion are the task, and it hears the end.")
    var issue: Int?
    @Option(help: "With --pr: the git remote to push to and whose forge to use (default origin).")
    var remote = "origin"
    @Option(help: "With --pr: the branch the pull request merges into (default: the repository's current branch).")
    var prBase: String?
    @Option(help: "With --pr: github or gitlab, when the remote's host does not say.")
    var forge: ForgeKind?
    @Option(help: "With --pr: owner/name (GitHub) or group/project (GitLab), when the remote does not say.")
    var forgeRepository: String?
    @Option(help: "With --pr: the forge's API (default https://api.github.com, or https://HOST for GitLab).")
    var forgeAPI: String?

    /// Where the pull request goes, checked before anything is spent.
    struct Target: Sendable {
        var api: any ForgeAPI
        var base: String
        var remote: String
        /// git's environment for the push (the token as a header), when the remote is HTTPS on the forge's host.
        var pushEnvironment: [String: String]
    }

    func target(repo: String, environment: [String: String]) async throws -> Target? {
        guard pr || issue != nil else { return nil }
        guard pr else { throw FerryError(.usage, "--issue works with --pr") }
        // The URL as configured (`get-url` would apply `insteadOf` rewrites, naming a mirror rather than the forge).
        let url = try await Git(repo).run("config", "--get", "remote.\(remote).url", allowFailure: true)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !url.isEmpty else { throw FerryError(.usage, "--pr: the repository has no remote \(remote)") }
        let parsed = ForgeRemote(url)
        guard let kind = forge ?? parsed?.kind else {
            throw FerryError(
                .usage,
                "--pr: the remote \(remote) (\(ServerAPI.redactedURL(url))) is not on a forge Ferry recognises. Fix: "
                    + "add --forge github|gitlab and --forge-repository OWNER/NAME")
        }
        guard let repository = forgeRepository ?? parsed?.repository else {
            throw FerryError(.usage, "--pr: add --forge-repository OWNER/NAME (the remote does not name it)")
        }
        let variable = kind == .github ? "GITHUB_TOKEN" : "GITLAB_TOKEN"
        guard let token = environment[variable], !token.isEmpty else {
            throw FerryError(
                .config, "--pr needs $\(variable): a token that may push branches and open pull requests there")
        }
        let api: any ForgeAPI
        switch kind {
        case .github:
            let host = parsed?.host ?? "github.com"
            let apiURL = forgeAPI ?? (host == "github.com" ? "https://api.github.com" : "https://\(host)/api/v3")
            api = GitHubAPI(apiURL: apiURL, repository: repository, auth: .token(token))
        case .gitlab:
            api = GitLabAPI(
                url: forgeAPI ?? "https://\(parsed?.host ?? "gitlab.com")", project: repository, token: token)
        }
        var base = prBase
        if base == nil {
            let current = try await Git(repo).run("rev-parse", "--abbrev-ref", "HEAD")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard current != "HEAD" else {
                throw FerryError(.usage, "--pr: the repository is on a detached HEAD. Fix: add --pr-base BRANCH")
            }
            base = current
        }
        var push: [String: String] = [:]
        if parsed?.https == true {
            let header = try await api.pushAuthorization()
            push = [
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": "\(header.name): \(header.value)",
            ]
        }
        return Target(api: api, base: base ?? "main", remote: remote, pushEnvironment: push)
    }

    /// The run's end on the forge: the branch pushed and the pull request opened (a change), the issue told (with
    /// `--issue`). Returns what to print.
    static func publish(_ result: RunResult, target: Target, issue: ForgeIssue?, repo: String) async throws -> String {
        let record = result.record
        let verified = record.status == .verified
        var outcome = ForgeReport.Outcome(
            status: record.status.rawValue, reason: record.reason, costUSD: record.costUSD, taskURL: "",
            hasCommit: record.commitSHA != nil, evidence: ForgeEvidence.of(result))
        outcome.runID = record.id
        var lines: [String] = []
        var pull: ForgePullRequest?
        if record.commitSHA != nil {
            do {
                try await Git(repo).run(
                    ["push", "--quiet", target.remote, "\(record.branch):refs/heads/\(record.branch)"],
                    environment: target.pushEnvironment)
            } catch {
                throw FerryError(
                    .git, "--pr: the branch \(record.branch) could not be pushed to \(target.remote): \(error)")
            }
            let title =
                issue.map { ForgeReport.title(issueTitle: $0.title, issue: $0.number) }
                ?? "Ferry: " + String((record.task.split(separator: "\n").first ?? "change").prefix(72))
            let opened = try await target.api.openPullRequest(
                head: record.branch, base: target.base, title: title,
                body: ForgeReport.pullRequestBody(outcome, issue: issue?.number ?? 0, closes: issue != nil),
                draft: !verified)
            pull = opened
            lines.append(
                "\(target.api.kind == .gitlab ? "Merge" : "Pull") request\(opened.draft ? " (draft)" : ""): \(opened.url)"
            )
        } else {
            lines.append("No change to propose, so no pull request.")
        }
        if let issue {
            try await target.api.comment(
                on: issue.number, pullRequest: false,
                body: ForgeReport.comment(outcome, pullRequest: pull, followUp: false))
            lines.append("Issue #\(issue.number) told.")
        }
        return lines.joined(separator: "\n")
    }
}

extension ForgeKind: ExpressibleByArgument {}
