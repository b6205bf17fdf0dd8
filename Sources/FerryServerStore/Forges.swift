import FerryCore
import Foundation

/// A project's forge (issue 26): where its issues and pull requests live and how the server reaches them. The
/// webhook's secret and an access token are sealed (`SecretBox`) before they are stored; a GitHub App's key is never
/// here (it stays in the operator's config).
public struct ProjectForge: Sendable, Hashable {
    public var projectID: String
    public var tenantID: String
    /// `github` or `gitlab`.
    public var kind: String
    /// `owner/name` (GitHub) or `group/project` (GitLab).
    public var repository: String
    /// The label that makes an issue a task.
    public var label: String
    /// Sealed: GitHub's webhook secret, GitLab's secret token.
    public var webhookSecret: String
    /// Sealed: a GitLab project or group access token, or a GitHub token when no App is used.
    public var token: String?
    /// The GitHub App's installation on the repository.
    public var installationID: Int?
    public var createdAt: Date

    public init(
        projectID: String, tenantID: String, kind: String, repository: String, label: String, webhookSecret: String,
        token: String?, installationID: Int?, createdAt: Date
    ) {
        self.projectID = projectID
        self.tenantID = tenantID
        self.kind = kind
        self.repository = repository
        self.label = label
        self.webhookSecret = webhookSecret
        self.token = token
        self.installationID = installationID
        self.createdAt = createdAt
    }
}

/// A task that came from a forge and goes back to it: its issue, the pull request it opened or follows up, and the
/// publishing of its end (an outbox row: claimed with a lease once the task has ended, retried with backoff, its
/// forge calls kept).
public struct ForgeLink: Sendable, Hashable {
    public var taskID: String
    public var tenantID: String
    public var projectID: String
    public var issue: Int
    /// The issue's title (the pull request's).
    public var title: String
    /// The branch a pull request merges into (the repository's default branch, or a follow-up's pull request's base).
    public var baseBranch: String?
    /// A follow-up's pull request from the start; a first run's once it is opened.
    public var pullRequest: Int?
    public var pullRequestURL: String?
    /// A follow-up builds on and pushes to this branch (the pull request's head).
    public var headBranch: String?
    /// The review that asked for changes (GitHub), to read its comments.
    public var reviewID: Int?
    /// What the trigger asked (a `/ferry` comment's words, a review's text).
    public var instruction: String?
    /// JSON `ChangeEvidence`, written by the worker when the run ends.
    public var evidence: String?
    /// `pending` until the end is told on the forge, then `done` (or `failed` after the last try).
    public var state: String
    public var commented: Bool
    public var attempts: Int
    public var nextAt: Date
    public var lastError: String?
    /// One JSON `ForgeCall` per line: every call made for this task, in order.
    public var calls: String

    public init(
        taskID: String, tenantID: String, projectID: String, issue: Int, title: String, baseBranch: String?,
        pullRequest: Int? = nil,
        pullRequestURL: String? = nil, headBranch: String? = nil, reviewID: Int? = nil, instruction: String? = nil,
        evidence: String? = nil, state: String = "pending", commented: Bool = false, attempts: Int = 0,
        nextAt: Date = Date(), lastError: String? = nil, calls: String = ""
    ) {
        self.taskID = taskID
        self.tenantID = tenantID
        self.projectID = projectID
        self.issue = issue
        self.title = title
        self.baseBranch = baseBranch
        self.pullRequest = pullRequest
        self.pullRequestURL = pullRequestURL
        self.headBranch = headBranch
        self.reviewID = reviewID
        self.instruction = instruction
        self.evidence = evidence
        self.state = state
        self.commented = commented
        self.attempts = attempts
        self.nextAt = nextAt
        self.lastError = lastError
        self.calls = calls
    }

    public var isFollowUp: Bool { headBranch != nil }
}

/// Forges on both back ends.
public protocol ForgeStore: Sendable {
    func setForge(_ forge: ProjectForge) async throws
    func forge(projectID: String) async throws -> ProjectForge?
    func deleteForge(projectID: String) async throws
    /// The task a webhook delivery asks for, its link and the delivery's id, in one transaction: a redelivery (the same
    /// id for the project, even at two servers at once) gets the task the first one made, `created` false.
    func admitForgeTask(_ new: NewTask, tenantID: String, delivery: String, link: ForgeLink, now: Date) async throws
        -> (task: ServerTask, created: Bool)
    func forgeLink(taskID: String) async throws -> ForgeLink?
    /// The links of the project's pull request, oldest first (the first run that opened it, then its follow-ups).
    func forgeLinks(projectID: String, pullRequest: Int) async throws -> [ForgeLink]
    /// The run's evidence, and the forge calls the worker made (appended to the task's).
    func setForgeEvidence(taskID: String, evidence: String, calls: String) async throws
    /// A link whose task has ended and whose end is not told yet, due now; leased for `leaseSeconds`.
    func claimForgeLink(now: Date, leaseSeconds: Double) async throws -> ForgeLink?
    /// Stores the publishing's progress (pull request, comment, state, tries, calls); `release` frees the lease (the
    /// publishing's end), else the publisher keeps it (a step kept before the next).
    func recordForgeLink(_ link: ForgeLink, release: Bool) async throws
}
