import FerryAgent
import FerryCore
import FerryForge
import FerryServerStore
import FerryWorkspace
import Foundation
import Logging

/// A task from a forge, as the worker runs it: the issue and its discussion read fresh from the forge when the task
/// starts (a follow-up: the review and its comments, on the pull request's branch as it is now), the branch pushed
/// with the forge's credential, and the change's evidence kept for the pull request.
struct ForgeWork: Sendable {
    var link: ForgeLink
    var forge: ProjectForge
    var api: any ForgeAPI
    var calls: ForgeAccess.Calls
    /// What the run is asked.
    var task: String
    /// A follow-up's base (the pull request's head commit).
    var base: String?
    /// Where the run's branch goes: a follow-up's pull request branch, else a branch of its own name.
    var pushBranch: String?
    /// git's environment for the forge (its credential as an HTTP header), when the repository is on the forge's host.
    var gitEnvironment: [String: String]
}

extension Worker {
    /// The forge side of `task`, or nil when it did not come from a forge (or its project no longer has one).
    func forgeWork(_ task: ServerTask, project: Project) async throws -> ForgeWork? {
        guard let forges, let link = try await store.forgeLink(taskID: task.id),
            let forge = try await store.forge(projectID: project.id)
        else { return nil }
        let calls = ForgeAccess.Calls()
        let api = try forges.api(forge, record: calls.add)
        var environment: [String: String] = [:]
        if Self.sameHost(project.repo, forges.webURL(of: forge)) {
            let header = try await api.pushAuthorization()
            environment = [
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": "\(header.name): \(header.value)",
            ]
        }
        return ForgeWork(
            link: link, forge: forge, api: api, calls: calls, task: task.task, base: nil, pushBranch: link.headBranch,
            gitEnvironment: environment)
    }

    /// Reads the issue (or the review) into the run's task, and a follow-up's base; a forge that cannot be read leaves
    /// the task as the webhook gave it (a follow-up's branch must be read, or there is nothing to build on).
    func prepare(_ work: inout ForgeWork, project: Project, repo: String, logger: Logger) async throws {
        let link = work.link
        if let head = link.headBranch, let pull = link.pullRequest {
            let options =
                ProjectCheckout.isURL(project.repo)
                ? try await ProjectCheckout.gitOptions(project.repo, policy: projects, project: project) : []
            do {
                try await Git(repo).run(
                    options + ["fetch", "--quiet", "origin", "+refs/heads/\(head):refs/remotes/origin/\(head)"],
                    environment: work.gitEnvironment)
            } catch {
                throw FerryError(
                    .git, "the pull request's branch \(head) could not be fetched: \(ProjectCheckout.gitReason(error))")
            }
            work.base = try await Git(repo).run("rev-parse", "refs/remotes/origin/\(head)")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                let request = try await work.api.pullRequest(pull)
                let issue = try? await work.api.issue(link.issue)
                let comments = try await work.api.reviewComments(pullRequest: pull, review: link.reviewID)
                work.task = ForgeReport.followUpTask(
                    pullRequest: request, issue: issue, review: link.instruction ?? "", comments: comments)
            } catch {
                logger.warning(
                    "the review could not be read from the forge; the task is the webhook's words",
                    metadata: ["error": .string(Self.describe(error))])
            }
        } else {
            do {
                work.task = ForgeReport.task(from: try await work.api.issue(link.issue), instruction: link.instruction)
            } catch {
                logger.warning(
                    "the issue could not be read from the forge; the task is the webhook's words",
                    metadata: ["error": .string(Self.describe(error))])
            }
        }
    }

    static func sameHost(_ repo: String, _ web: String) -> Bool {
        guard let a = URL(string: repo), let b = URL(string: web), let host = a.host?.lowercased(),
            ["http", "https"].contains(a.scheme?.lowercased() ?? "")
        else { return false }
        return host == b.host?.lowercased() && a.port == b.port
    }
}

/// A change's evidence for its pull request.
public enum ForgeEvidence {
    /// From the run's own test runs: which tests failed before and pass after, the tests the change added.
    public static func of(_ result: RunResult) -> ChangeEvidence {
        let before = result.baseline.flatMap(TestFailures.read)
        let after = result.final.flatMap(TestFailures.read)
        let fixed = before.map { $0.failed.subtracting(after?.failed ?? []) }.map { $0.sorted() } ?? []
        let files = RunReport.changedFiles(in: result.diff)
        return ChangeEvidence(
            summary: result.record.summary, testCommand: result.baseline?.command, fixedTests: fixed,
            addedTests: files.filter(TestPaths.isTest), before: result.baseline.map(RunReport.testLine),
            after: result.final.map(RunReport.testLine), filesChanged: files, notes: result.testNotes,
            steps: result.record.steps, model: result.record.model)
    }
}

extension ForgeAccess {
    /// Where the forge's repositories are cloned from, for deciding whether a project's URL may get its credential.
    func webURL(of forge: ProjectForge) -> String {
        forge.kind == ForgeKind.gitlab.rawValue ? settings.gitlabURL : settings.githubWebURL
    }
}
