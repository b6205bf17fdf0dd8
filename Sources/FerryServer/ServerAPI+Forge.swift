import FerryCore
import FerryForge
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A project's forge (issue 26): its settings under `/v1/projects/{id}/forge`, and the webhook the forge calls at
/// `/forge/{project id}`, signed with the project's own secret. An issue labelled for Ferry, or a `/ferry` comment,
/// becomes a task under the project's budgets; a review asking for changes on Ferry's pull request, or a `/ferry`
/// comment on it, a follow-up on the same branch.
extension ServerAPI {
    /// The forge webhook's route, outside `/v1` (the forge signs it; it carries no key).
    func addForgeRoutes(to router: Router<ServerContext>) {
        router.post("/forge/:project") { request, context in
            try await handle {
                try await forgeWebhook(
                    request, projectID: context.parameters.get("project") ?? "", remote: context.remote)
            }
        }
    }

    struct ForgeResource: Codable, Sendable, Hashable {
        var kind: String
        var repository: String
        var label: String
        @Nullable var installationID: Int?
        var hasToken: Bool
        var webhookURL: String
        /// Shown when it is made (or rotated), never again.
        @Nullable var webhookSecret: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case kind, repository, label
            case installationID = "installation_id"
            case hasToken = "has_token"
            case webhookURL = "webhook_url"
            case webhookSecret = "webhook_secret"
        }
    }

    /// `GET /v1/tasks/{id}/forge`.
    struct TaskForgeResource: Codable, Sendable {
        var issue: Int
        var title: String
        @Nullable var pullRequest: Int?
        @Nullable var pullRequestURL: String?
        var followUp: Bool
        var state: String
        var commented: Bool
        var attempts: Int
        @Nullable var lastError: String?
        var calls: [ForgeCall]

        init(_ link: ForgeLink) {
            issue = link.issue
            title = link.title
            pullRequest = link.pullRequest
            pullRequestURL = link.pullRequestURL
            followUp = link.isFollowUp
            state = link.state
            commented = link.commented
            attempts = link.attempts
            lastError = link.lastError
            calls = ForgeCall.parse(lines: link.calls)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case issue, title, state, commented, attempts, calls
            case pullRequest = "pull_request"
            case pullRequestURL = "pull_request_url"
            case followUp = "follow_up"
            case lastError = "last_error"
        }
    }

    nonisolated(unsafe) static let repositoryPattern = #/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){1,20}/#

    func putForge(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(id)")
        }
        let body = try await json(request)
        guard let kind = try Self.string(body, "kind").flatMap(ForgeKind.init(rawValue:)) else {
            throw Problem(.badRequest, "\"kind\" must be github or gitlab")
        }
        guard let repository = try Self.string(body, "repository"),
            repository.wholeMatch(of: Self.repositoryPattern) != nil, repository.count <= 300
        else { throw Problem(.badRequest, "\"repository\" must be owner/name (GitHub) or group/project (GitLab)") }
        let label = try Self.string(body, "label") ?? "ferry"
        guard (1...50).contains(label.count), !label.contains(where: \.isNewline) else {
            throw Problem(.badRequest, "\"label\" must be 1 to 50 characters on one line")
        }
        let installation = try Self.integer(body, "installation_id", in: 1...Int(Int32.max) * 4)
        let token = try Self.string(body, "token")
        if let token, token.isEmpty || token.count > 1000 || token.contains(where: \.isWhitespace) {
            throw Problem(.badRequest, "\"token\" must be a forge access token (no spaces, at most 1000 characters)")
        }
        guard let secrets else { throw Problem(.conflict, "this server has no key to seal the forge's secrets") }
        let existing = try await store.forge(projectID: project.id)
        // A token given before for the same forge stays unless a new one is given.
        // (An installation given for GitHub means the App, not a token kept from before.)
        let kept =
            existing?.kind == kind.rawValue && !(kind == .github && installation != nil) ? existing?.token : nil
        switch kind {
        case .github where token == nil && kept == nil:
            guard installation != nil else {
                throw Problem(.badRequest, "a GitHub repository needs \"installation_id\" (the App's) or \"token\"")
            }
            guard forges.githubAppID != nil else {
                throw Problem(
                    .conflict, "this server has no GitHub App ([server.github_app]); give the project a \"token\"")
            }
        case .gitlab where token == nil && kept == nil:
            throw Problem(.badRequest, "a GitLab repository needs \"token\" (a project or group access token)")
        default: break
        }
        if kind == .github, let installation, token == nil {
            // An installation reaches its organisation's repositories: only one the operator gave this tenant.
            var allowed = false
            for (name, ids) in forges.githubInstallations where ids.contains(installation) {
                if try await store.tenant(named: name)?.id == principal.tenantID { allowed = true }
            }
            guard allowed else {
                throw Problem(
                    .forbidden,
                    "installation \(installation) is not one this tenant may use; the server's operator assigns the "
                        + "App's installations to tenants ([server.github_app.installations])")
            }
        }
        let rotate = body["rotate_secret"]?.boolValue == true
        let secret = existing == nil || rotate ? Webhooks.newSecret() : nil
        let forge = ProjectForge(
            projectID: project.id, tenantID: principal.tenantID, kind: kind.rawValue, repository: repository,
            label: label, webhookSecret: try secret.map(secrets.seal) ?? existing!.webhookSecret,
            token: try token.map(secrets.seal) ?? kept,
            installationID: installation, createdAt: existing?.createdAt ?? Date())
        try await store.setForge(forge)
        try await record(
            principal, "project.forge", project.id, "\(kind.rawValue) \(repository), label \(label)", remote)
        return try Self.respond(.ok, forgeResource(forge, request: request, secret: secret))
    }

    func forgeResource(_ forge: ProjectForge, request: Request, secret: String?) -> ForgeResource {
        ForgeResource(
            kind: forge.kind, repository: forge.repository, label: forge.label, installationID: forge.installationID,
            hasToken: forge.token != nil, webhookURL: "\(Self.origin(request))/forge/\(forge.projectID)",
            webhookSecret: secret)
    }

    func getForge(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID),
            let forge = try await store.forge(projectID: project.id)
        else { throw Problem(.notFound, "project \(id) has no forge") }
        return try Self.respond(.ok, forgeResource(forge, request: request, secret: nil))
    }

    func deleteForge(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID),
            try await store.forge(projectID: project.id) != nil
        else { throw Problem(.notFound, "project \(id) has no forge") }
        try await store.deleteForge(projectID: project.id)
        try await record(principal, "project.forge.delete", project.id, "", remote)
        return Response(status: .noContent)
    }

    /// The task's place on its forge: the issue, the pull request, how telling its end went, and every forge call.
    func taskForge(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard try await store.task(id, tenantID: principal.tenantID) != nil,
            let link = try await store.forgeLink(taskID: id)
        else { throw Problem(.notFound, "task \(id) did not come from a forge") }
        return try Self.respond(.ok, TaskForgeResource(link))
    }

    // MARK: - The webhook

    func forgeWebhook(_ request: Request, projectID: String, remote: String?) async throws -> Response {
        // GitHub caps a delivery at 25 MB; an issue's event is a few kilobytes.
        let body = Data(buffer: try await request.body.collect(upTo: 5 << 20))
        guard let project = try await store.project(id: projectID),
            let forge = try await store.forge(projectID: project.id)
        else { throw Problem(.notFound, "no forge webhook at this address") }
        let system = Principal(
            tenantID: project.tenantID, role: .member, keyID: "forge",
            personID: Person.builtInID(tenantID: project.tenantID))
        let secret: String
        do { secret = try secrets?.open(forge.webhookSecret) ?? forge.webhookSecret } catch {
            throw Problem(.internalServerError, "the server could not open this project's webhook secret")
        }
        let headers = request.headers
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }
        let event: ForgeEvent
        do {
            switch ForgeKind(rawValue: forge.kind) {
            case .github:
                try GitHubWebhook.verify(body: body, signature: header("X-Hub-Signature-256"), secret: secret)
                event = try GitHubWebhook.event(
                    name: header("X-GitHub-Event"), delivery: header("X-GitHub-Delivery"), body: body)
            case .gitlab:
                try GitLabWebhook.verify(token: header("X-Gitlab-Token"), secret: secret)
                event = try GitLabWebhook.event(
                    name: header("X-Gitlab-Event"),
                    delivery: header("X-Gitlab-Event-UUID") ?? header("X-Gitlab-Webhook-UUID"), body: body)
            case nil:
                throw ForgeRefusal("unknown forge \(forge.kind)")
            }
        } catch let refusal as ForgeRefusal {
            try await record(system, "forge.refused", project.id, refusal.description, remote, surface: .forge)
            throw Problem(refusal.unauthenticated ? .unauthorized : .badRequest, refusal.description)
        }
        guard event.repository.lowercased() == forge.repository.lowercased() else {
            return Self.respond(
                .accepted,
                JSONValue.object(["ignored": .string("the event is for \(event.repository), not \(forge.repository)")]))
        }
        let own = try await store.forgeLinks(projectID: project.id, pullRequest: event.number)
        let action = ForgeTriggers.decide(
            event, label: forge.label, ownPullRequests: own.isEmpty ? [] : [event.number])
        switch action {
        case .ignore(let why):
            return Self.respond(.accepted, JSONValue.object(["ignored": .string(why)]))
        case .startTask(let issue, let instruction):
            let text = ForgeReport.task(
                from: ForgeIssue(number: issue, title: event.title, body: event.body, comments: [], url: ""),
                instruction: instruction)
            let link = ForgeLink(
                taskID: "", tenantID: project.tenantID, projectID: project.id, issue: issue, title: event.title,
                baseBranch: event.defaultBranch, instruction: instruction)
            return try await admitForge(
                text, link: link, event: event, project: project, principal: system, remote: remote,
                detail: "from issue #\(issue) by \(event.sender)")
        case .followUp(let pull, let instruction):
            guard let first = own.first, let opened = try await store.task(id: first.taskID),
                let branch = first.headBranch ?? opened.branch
            else {
                return Self.respond(.accepted, JSONValue.object(["ignored": "the pull request's branch is not known"]))
            }
            let link = ForgeLink(
                taskID: "", tenantID: project.tenantID, projectID: project.id, issue: first.issue, title: first.title,
                baseBranch: first.baseBranch, pullRequest: pull, pullRequestURL: first.pullRequestURL,
                headBranch: branch, reviewID: event.reviewID, instruction: instruction)
            let text = "Revise pull request #\(pull) (branch \(branch)) for issue #\(first.issue): \(instruction)"
            return try await admitForge(
                text, link: link, event: event, project: project, principal: system, remote: remote,
                detail: "follow-up on pull request #\(pull) by \(event.sender)")
        }
    }

    /// The task of an event, budget-checked, with its link, once per delivery.
    func admitForge(
        _ text: String, link: ForgeLink, event: ForgeEvent, project: Project, principal: Principal, remote: String?,
        detail: String
    ) async throws -> Response {
        let maxCost: Double?
        do {
            maxCost = try await admit(
                nil, tenantID: project.tenantID, projectID: project.id, personID: principal.personID)
        } catch let problem as Problem {
            try await record(
                principal, "forge.refused", project.id, "\(detail): \(problem.detail)", remote, surface: .forge)
            throw problem
        }
        let (task, created) = try await store.admitForgeTask(
            NewTask(
                projectID: project.id, task: text, maxCostUSD: maxCost, createdBy: nil, personID: principal.personID),
            tenantID: project.tenantID, delivery: event.delivery, link: link, now: Date())
        if created {
            try await record(
                principal, "task.create", task.id, "\(detail) (delivery \(event.delivery))", remote, surface: .forge)
        }
        return Self.respond(
            created ? .accepted : .ok, JSONValue.object(["task": .string(task.id), "created": .bool(created)]))
    }
}

/// A project's accuracy watch (issue 27) under `/v1/projects/{id}/watch`.
extension ServerAPI {
    struct WatchResource: Codable, Sendable, Hashable {
        var everyHours: Double
        var monthlyUSD: Double
        var spentUSD: Double
        var maxInstances: Int
        var sinceDays: Int
        @Nullable var model: String?
        var nextAt: Date
        @Nullable var lastRunAt: Date?
        @Nullable var lastEvalID: String?
        @Nullable var lastError: String?

        init(_ w: ProjectWatch) {
            everyHours = w.everySeconds / 3600
            monthlyUSD = w.monthlyUSD
            spentUSD = w.spentUSD
            maxInstances = w.maxInstances
            sinceDays = w.sinceDays
            model = w.model
            nextAt = w.nextAt
            lastRunAt = w.lastRunAt
            lastEvalID = w.lastEvalID
            lastError = w.lastError
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case model
            case everyHours = "every_hours"
            case monthlyUSD = "monthly_usd"
            case spentUSD = "spent_usd"
            case maxInstances = "max_instances"
            case sinceDays = "since_days"
            case nextAt = "next_at"
            case lastRunAt = "last_run_at"
            case lastEvalID = "last_eval_id"
            case lastError = "last_error"
        }
    }

    func putWatch(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(id)")
        }
        let body = try await json(request)
        let hours = try Self.number(body, "every_hours") ?? 24
        guard hours >= 1, hours <= 24 * 90 else { throw Problem(.badRequest, "\"every_hours\" must be from 1 to 2160") }
        guard let monthly = try Self.number(body, "monthly_usd"), monthly >= 0, monthly <= 1_000_000 else {
            throw Problem(.badRequest, "\"monthly_usd\" (the watch's budget) must be from 0 to 1,000,000")
        }
        let instances = try Self.integer(body, "max_instances", in: 1...200) ?? 10
        let days = try Self.integer(body, "since_days", in: 1...3650) ?? 90
        let model = try Self.string(body, "model")
        try NewTaskRequest.checkModel(model)
        guard project.testCommand != nil else {
            throw Problem(.conflict, "the project needs a test_command: the watch judges changes by its tests")
        }
        let existing = try await store.watch(projectID: project.id)
        let watch = ProjectWatch(
            projectID: project.id, tenantID: principal.tenantID, everySeconds: hours * 3600, monthlyUSD: monthly,
            maxInstances: instances, sinceDays: days, model: model,
            // A new watch runs at once; a changed one keeps its next time unless that is further than the new rhythm.
            nextAt: existing.map { min($0.nextAt, Date().addingTimeInterval(hours * 3600)) } ?? Date())
        try await store.setWatch(watch)
        try await record(
            principal, "project.watch", project.id,
            "every \(hours) h, $\(monthly)/month, \(instances) instances from \(days) days", remote)
        return try Self.respond(.ok, WatchResource(try await store.watch(projectID: project.id) ?? watch))
    }

    func getWatch(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID),
            let watch = try await store.watch(projectID: project.id)
        else { throw Problem(.notFound, "project \(id) has no watch") }
        return try Self.respond(.ok, WatchResource(watch))
    }

    func deleteWatch(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID),
            try await store.watch(projectID: project.id) != nil
        else { throw Problem(.notFound, "project \(id) has no watch") }
        try await store.deleteWatch(projectID: project.id)
        try await record(principal, "project.watch.delete", project.id, "", remote)
        return Response(status: .noContent)
    }
}
