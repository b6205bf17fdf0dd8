import FerryCore
import FerryForge
import FerryServerStore
import FerryStore
import Foundation
import Logging

/// Tells a forge how its tasks ended: for a change, a pull request (draft unless the project's tests proved it) whose
/// description carries the summary, the verification evidence, the cost and the task's link; then a comment on the
/// issue (a follow-up's on its pull request) whatever the end, saying what happened and why. Links are an outbox:
/// claimed with a lease once their task has ended, retried with backoff (a forge down, a rate limit longer than a
/// call waits), each step kept so a retry opens no second pull request and writes no second comment; every call goes
/// into the task's record and a summary into the tenant's audit trail.
public struct ForgePublisher: Sendable {
    public let store: any ServerStore
    /// Where the task's run trace is, for its `forge.call` events.
    public let runStore: (any RunStore)?
    public let access: ForgeAccess
    /// The dashboard's address for the task links (`[server] public_url`).
    public let publicURL: String?
    public var maxAttempts = 6
    public var backoffBaseSeconds = 5.0
    public var pollSeconds = 1.0
    let logger = Logger(label: "ferry.forge")

    public init(
        store: any ServerStore, runStore: (any RunStore)? = nil, access: ForgeAccess, publicURL: String?,
        pollSeconds: Double = 1
    ) {
        self.store = store
        self.runStore = runStore
        self.access = access
        self.publicURL = publicURL
        self.pollSeconds = pollSeconds
    }

    public func run() async {
        while !Task.isCancelled {
            do {
                if try await publishOne() { continue }
            } catch {
                if Task.isCancelled { break }
                logger.error("forge publishing step failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .milliseconds(Int(pollSeconds * 1000)))
        }
    }

    /// Publishes one due link; false when none was due.
    @discardableResult
    public func publishOne(now: Date = Date()) async throws -> Bool {
        guard let claimed = try await store.claimForgeLink(now: now, leaseSeconds: 600) else { return false }
        var link = claimed
        let calls = ForgeAccess.Calls()
        var summary: [String] = []
        do {
            summary = try await publish(&link, calls: calls)
            link.state = "done"
            link.lastError = nil
        } catch {
            link.attempts += 1
            link.lastError = (error as? FerryError)?.message ?? "\(error)"
            if link.attempts >= maxAttempts {
                link.state = "failed"
            } else {
                link.nextAt = Date().addingTimeInterval(backoffBaseSeconds * pow(2, Double(link.attempts - 1)))
            }
            summary.append("failed (try \(link.attempts)): \(link.lastError ?? "")")
        }
        link.calls += calls.lines
        let made = calls.all
        let detail =
            summary.joined(separator: "; ")
            + "; \(made.count) forge call(s): "
            + made.map { "\($0.method) \($0.status.map(String.init) ?? "-")" }.joined(separator: ", ")
        // The audit line and the trace's calls before the state they report: a crash in between repeats this step (its
        // calls are idempotent) rather than leave a publication with no line in the trail.
        try await store.audit(
            AuditEntry(
                tenantID: link.tenantID, keyID: "forge", personID: Person.builtInID(tenantID: link.tenantID),
                surface: .forge, action: link.state == "pending" ? "forge.retry" : "forge.publish",
                object: link.taskID, detail: String(detail.prefix(2000)), remote: nil, at: Date()))
        if let runStore {
            await ForgeCall.append(made, to: try? await store.task(id: link.taskID)?.runID, in: runStore)
        }
        try await store.recordForgeLink(link, release: true)
        return true
    }

    /// The steps not done yet; what was done, in words for the audit trail.
    func publish(_ link: inout ForgeLink, calls: ForgeAccess.Calls) async throws -> [String] {
        guard let task = try await store.task(id: link.taskID) else {
            throw FerryError(.store, "task \(link.taskID) is gone")
        }
        guard let forge = try await store.forge(projectID: link.projectID) else {
            throw FerryError(.config, "the project no longer has a forge")
        }
        let api = try access.api(forge, record: calls.add)
        let evidence = link.evidence.flatMap { try? JSONDecoder().decode(ChangeEvidence.self, from: Data($0.utf8)) }
        let outcome = ForgeReport.Outcome(
            status: task.state.apiName, reason: task.reason ?? "", costUSD: task.costUSD,
            taskURL: "\(publicURL ?? "")/tasks/\(task.id)",
            hasCommit: task.commitSHA != nil && task.pushedTo != nil, evidence: evidence)
        var done: [String] = []
        var pull: ForgePullRequest?
        if let number = link.pullRequest {
            pull = try await api.pullRequest(number)
        } else if ForgeReport.wantsPullRequest(outcome), let branch = task.branch {
            let project = try await store.project(id: link.projectID)
            let base = link.baseBranch ?? project?.base ?? "main"
            let opened = try await api.openPullRequest(
                head: branch, base: base, title: ForgeReport.title(issueTitle: link.title, issue: link.issue),
                body: ForgeReport.pullRequestBody(outcome, issue: link.issue, closes: true), draft: !outcome.verified)
            pull = opened
            link.pullRequest = opened.number
            link.pullRequestURL = opened.url
            // Kept at once: a retry after this finds the pull request instead of opening another.
            try await store.recordForgeLink(link, release: false)
            done.append("pull request #\(opened.number)\(opened.draft ? " (draft)" : "") opened from \(branch)")
        }
        if !link.commented {
            let body = ForgeReport.comment(outcome, pullRequest: pull, followUp: link.isFollowUp)
            if link.isFollowUp, let number = link.pullRequest {
                try await api.comment(on: number, pullRequest: true, body: body)
                done.append("pull request #\(number) commented (\(outcome.status))")
            } else {
                try await api.comment(on: link.issue, pullRequest: false, body: body)
                done.append("issue #\(link.issue) commented (\(outcome.status))")
            }
            link.commented = true
        }
        return done
    }
}
