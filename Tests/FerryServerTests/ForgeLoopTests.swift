import FerryAgent
import FerryCore
import FerryForge
import FerryModels
import FerryServer
import FerryServerStore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// Issues in, pull requests out, end to end: a signed GitHub webhook on the team server, a worker running the task
/// in the real sandbox against a fake model, the branch pushed over git to a real bare repository, and the pull
/// request and comments made through GitHub's stand-in (every request and answer held to GitHub's description).
@Suite(.serialized) struct ForgeLoopTests {
    static let repository = "octo-org/calc"
    static let review = 555

    struct Setup: Sendable {
        var work: String
        var bare: String
        var data: String
        var keyFile: String
        var key: (privatePEM: String, publicPEM: String)
    }

    /// A working repository (the project) whose `origin` is a bare one (where pushes go, and where the stand-in looks
    /// for a pull request's head).
    static func setup(_ files: [String: String]) async throws -> Setup {
        let work = try await FixtureRepo.make(files)
        let bare = work + "-origin.git"
        try await Git(work).run("clone", "--bare", "--quiet", work, bare)
        try await Git(work).run("remote", "add", "origin", bare)
        try await Git(work).run("fetch", "--quiet", "origin")
        let data = work + "-server"
        let key = try await GitHubStandIn.appKey()
        let keyFile = work + "-app.pem"
        try key.privatePEM.write(toFile: keyFile, atomically: true, encoding: .utf8)
        return Setup(work: work, bare: bare, data: data, keyFile: keyFile, key: key)
    }

    static func payload(_ fields: JSONValue) -> JSONValue {
        var base: JSONValue = [
            "repository": ["full_name": .string(repository), "default_branch": "main"],
            "sender": ["login": "ann", "type": "User"],
        ]
        if case .object(var object) = base, case .object(let more) = fields {
            for (key, value) in more { object[key] = value }
            base = .object(object)
        }
        return base
    }

    static func deliver(
        _ client: ServerAPITests.Client, project: String, event: String, delivery: String, body: JSONValue,
        secret: String
    ) async throws -> ServerAPITests.Reply {
        try await client.send(
            .POST, "/forge/\(project)", key: nil, body: body,
            headers: [
                "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": Webhooks.signature(body.jsonString, secret: secret),
            ])
    }

    /// Until the task's end has been told on the forge.
    static func published(_ client: ServerAPITests.Client, task: String, key: String) async throws -> JSONValue {
        for _ in 0..<600 {
            let forge = try await client.send(.GET, "/v1/tasks/\(task)/forge", key: key)
            if forge.json["state"] == "done" || forge.json["state"] == "failed" { return forge.json }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("task \(task) was never published")
        return .null
    }

    /// A server with one fake-model worker and the GitHub stand-in's settings, serving while `body` runs.
    static func serving(
        _ setup: Setup, forge: GitHubStandIn, script: [FakeStep],
        _ body: @Sendable (ServerAPITests.Client, String, FakeModelServer) async throws -> Void
    ) async throws {
        var settings = ForgeSettings()
        settings.githubAppID = "4242"
        settings.githubPrivateKeyFile = setup.keyFile
        settings.githubAPIURL = forge.baseURL
        settings.githubInstallations = ["default": [77]]
        try await serving(setup, settings: settings, script: script, body)
    }

    /// A server with one fake-model worker and `settings` for its forges, serving while `body` runs.
    static func serving(
        _ setup: Setup, settings: ForgeSettings, script: [FakeStep],
        _ body: @Sendable (ServerAPITests.Client, String, FakeModelServer) async throws -> Void
    ) async throws {
        var server = try TeamServer(dataDirectory: setup.data, policy: .tests(data: setup.data))
        server.forgeSettings = settings
        server.publicURL = "https://ferry.example"
        let admin = try #require(try await server.bootstrap())
        var config = FerryConfig(dataDirectory: setup.data + "/runs")
        config.firstAttempt = .off
        let (settled, frozen) = (server, config)
        try await FakeModelServer.with(.openai, script: script) { fake in
            let (worker, _) = fakeWorker(
                fake, server: settled, config: frozen, policy: QueuePolicy(leaseSeconds: 30), pollSeconds: 0.2,
                forges: settled.makeForgeAccess())
            try await settled.serving(workers: [worker]) { port in
                try await body(ServerAPITests.Client(port: port), admin, fake)
            }
        }
    }

    /// The project and its forge through the API; the webhook's secret.
    static func addProject(_ client: ServerAPITests.Client, admin: String, repo: String) async throws -> (
        id: String, secret: String
    ) {
        let project = try await client.send(
            .POST, "/v1/projects", key: admin,
            body: ["name": "calc", "repo": .string(repo), "base": "main", "test_command": "python3 -m unittest"])
        let id = try #require(project.json["id"]?.stringValue, "\(project.body)")
        let forge = try await client.send(
            .PUT, "/v1/projects/\(id)/forge", key: admin,
            body: ["kind": "github", "repository": .string(repository), "installation_id": 77])
        #expect(forge.status == 200, "\(forge.body)")
        #expect(forge.json["webhook_url"]?.stringValue?.hasSuffix("/forge/\(id)") == true)
        let secret = try #require(forge.json["webhook_secret"]?.stringValue)
        // Shown once.
        #expect(try await client.send(.GET, "/v1/projects/\(id)/forge", key: admin).json["webhook_secret"] == .null)
        return (id, secret)
    }

    static let labeled: JSONValue = payload([
        "action": "labeled", "label": ["name": "ferry"],
        "issue": ["number": 7, "title": "add() subtracts", "body": "calc.add(2, 3) gives -1."],
    ])

    /// The fix, then (for the follow-up) a docstring on `add`.
    static let fixThenDocstring: [FakeStep] =
        ServerAPITests.script + [
            .call("read_file", ["path": "calc.py"]),
            .call(
                "edit_file",
                ["path": "calc.py", "old": "def add(a, b):\n", "new": "def add(a, b):\n    \"\"\"The sum.\"\"\"\n"]),
            .call("finish", ["summary": "add() has a docstring."]),
        ]

    @Test func aLabelledIssueBecomesAVerifiedPullRequestThenAReviewAddsACommitToIt() async throws {
        let setup = try await Self.setup(ServerAPITests.files)
        let key = setup.key
        let script = ForgeLoopTests.fixThenDocstring
        try await GitHubStandIn.with(
            repository: Self.repository, appID: "4242", publicKeyPEM: key.publicPEM, installationID: 77,
            bareRepo: setup.bare
        ) { forge in
            forge.addIssue(
                7, title: "add() subtracts", body: "calc.add(2, 3) gives -1.", comments: [("bob", "It must add.")])
            try await Self.serving(setup, forge: forge, script: script) { client, admin, fake in
                let (project, secret) = try await Self.addProject(client, admin: admin, repo: setup.work)

                // A forged signature starts nothing.
                let forged = try await Self.deliver(
                    client, project: project, event: "issues", delivery: "d-forged", body: Self.labeled,
                    secret: "not-the-secret")
                #expect(forged.status == 401, "\(forged.body)")

                let first = try await Self.deliver(
                    client, project: project, event: "issues", delivery: "d-1", body: Self.labeled, secret: secret)
                #expect(first.status == 202, "\(first.body)")
                let task = try #require(first.json["task"]?.stringValue)
                // The same delivery again (GitHub's "Redeliver"): the same task, no second one.
                let again = try await Self.deliver(
                    client, project: project, event: "issues", delivery: "d-1", body: Self.labeled, secret: secret)
                #expect(
                    again.status == 200 && again.json["task"]?.stringValue == task && again.json["created"] == false)
                #expect(try await client.send(.GET, "/v1/tasks", key: admin).json["data"]?.items?.count == 1)

                let told = try await Self.published(client, task: task, key: admin)
                #expect(told["state"] == "done", "\(told)")
                let done = try await client.send(.GET, "/v1/tasks/\(task)", key: admin).json
                #expect(done["status"] == "verified", "\(done)")
                let branch = try #require(done["branch"]?.stringValue)

                // The model was given the issue's discussion, read from the forge.
                let asked = fake.requests.first?.jsonString ?? ""
                #expect(asked.contains("It must add.") && asked.contains("add() subtracts"))

                // One pull request, ready for review, from the pushed branch, with the evidence.
                let pulls = forge.pulls
                #expect(pulls.count == 1)
                let pull = try #require(pulls.first)
                #expect(!pull.draft && pull.head == branch && pull.base == "main")
                #expect(pull.title == "Ferry: add() subtracts")
                #expect(pull.body.contains("Fixes #7") && pull.body.contains("**Verified**"), "\(pull.body)")
                #expect(pull.body.contains("failed before and pass now: `") && pull.body.contains("test_add"))
                #expect(pull.body.contains("python3 -m unittest") && pull.body.contains("add() subtracted"))
                #expect(pull.body.contains("https://ferry.example/tasks/\(task)"))
                #expect(try await Git(setup.bare).run("rev-parse", "refs/heads/\(branch)").count >= 40)
                // The issue hears of it.
                let comment = try #require(forge.comments.first)
                #expect(comment.number == 7 && comment.body.contains("the project's tests prove it"), "\(comment.body)")
                #expect(comment.body.contains("https://github.invalid/\(Self.repository)/pull/\(pull.number)"))
                #expect(told["pull_request"] == .number(Double(pull.number)))
                // The dashboard's task page links the issue's pull request.
                let login = try await DashboardTests.send(.POST, client.base + "/login", form: "key=\(admin)")
                let cookie = String(try #require(login.cookie).split(separator: ";")[0])
                let page = try await DashboardTests.send(.GET, client.base + "/tasks/\(task)", cookie: cookie)
                #expect(page.body.contains("issue #7 add() subtracts"), "\(page.body.prefix(3000))")
                #expect(page.body.contains("href=\"https://github.invalid/\(Self.repository)/pull/\(pull.number)\""))
                #expect(page.body.contains("its end told"))
                // The task's trace has every forge call: the worker's (the issue) and the publisher's (the PR).
                let events = try await client.send(.GET, "/v1/tasks/\(task)/events", key: admin).body
                #expect(
                    events.contains("forge.call") && events.contains("/repos/\(Self.repository)/pulls"),
                    "\(events.suffix(800))")
                let calls = told["calls"]?.items?.compactMap { $0["path"]?.stringValue } ?? []
                #expect(
                    calls.contains("/repos/\(Self.repository)/pulls") && calls.contains { $0.hasSuffix("/issues/7") })

                // A review that requests changes: a follow-up on the same branch, a second commit on the same PR.
                forge.addReviewComments(review: Self.review, [("calc.py", 1, "Give add() a docstring.")])
                let reviewed = Self.payload([
                    "action": "submitted",
                    "review": ["id": .number(Double(Self.review)), "state": "changes_requested", "body": "Almost."],
                    "pull_request": [
                        "number": .number(Double(pull.number)), "title": .string(pull.title), "body": "",
                    ],
                ])
                let follow = try await Self.deliver(
                    client, project: project, event: "pull_request_review", delivery: "d-2", body: reviewed,
                    secret: secret)
                #expect(follow.status == 202, "\(follow.body)")
                let second = try #require(follow.json["task"]?.stringValue)
                let toldAgain = try await Self.published(client, task: second, key: admin)
                #expect(toldAgain["state"] == "done" && toldAgain["follow_up"] == true, "\(toldAgain)")
                let secondAsked = fake.requests.dropFirst(3).first?.jsonString ?? ""
                #expect(secondAsked.contains("Give add() a docstring.") && secondAsked.contains("Almost."))
                #expect(forge.pulls.count == 1, "no second pull request")
                let commits = try await Git(setup.bare).run("rev-list", "--count", "main..refs/heads/\(branch)")
                #expect(commits.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
                let file = try await Git(setup.bare).run("show", "refs/heads/\(branch):calc.py")
                #expect(file.contains("The sum.") && file.contains("return a + b"))
                let last = try #require(forge.comments.last)
                #expect(last.number == pull.number && last.body.contains("Ferry added commits to this pull request"))
                // Nothing failed before the docstring: the follow-up says its commits are not proved, and why.
                #expect(last.body.contains("do not prove them") && last.body.contains("Why: "), "\(last.body)")

                // The audit trail has the forge's side.
                let audit = try await client.send(.GET, "/v1/audit?surface=forge", key: admin).json
                let actions = audit["data"]?.items?.compactMap { $0["action"]?.stringValue } ?? []
                #expect(actions.contains("forge.refused") && actions.contains("task.create"))
                #expect(actions.filter { $0 == "forge.publish" }.count == 2, "\(actions)")
                #expect(forge.violations.isEmpty, "\(forge.violations)")
            }
        }
    }

    @Test func anUnprovedChangeIsADraftAndTheIssueHearsWhy() async throws {
        var files = ServerAPITests.files
        // The suite passes before the change: nothing proves the fix.
        files["test_calc.py"] =
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
        let setup = try await Self.setup(files)
        try await GitHubStandIn.with(
            repository: Self.repository, appID: "4242", publicKeyPEM: setup.key.publicPEM, installationID: 77,
            bareRepo: setup.bare
        ) { forge in
            forge.addIssue(7, title: "add() subtracts", body: "calc.add(2, 3) gives -1.")
            let script =
                ServerAPITests.script + Array(repeating: .call("finish", ["summary": "no test fails"]), count: 4)
            try await Self.serving(setup, forge: forge, script: script) { client, admin, fake in
                let (project, secret) = try await Self.addProject(client, admin: admin, repo: setup.work)
                // A /ferry comment starts the task too.
                let comment = Self.payload([
                    "action": "created", "comment": ["body": "/ferry fix add, please"],
                    "issue": ["number": 7, "title": "add() subtracts", "body": "calc.add(2, 3) gives -1."],
                ])
                let started = try await Self.deliver(
                    client, project: project, event: "issue_comment", delivery: "c-1", body: comment, secret: secret)
                let task = try #require(started.json["task"]?.stringValue, "\(started.body)")
                let told = try await Self.published(client, task: task, key: admin)
                #expect(told["state"] == "done", "\(told)")
                let done = try await client.send(.GET, "/v1/tasks/\(task)", key: admin).json
                #expect(done["status"] == "unverified", "\(done) \(fake.requests.last?.jsonString.suffix(1500) ?? "")")
                let pull = try #require(forge.pulls.first)
                #expect(pull.draft, "an unproved change is a draft")
                #expect(pull.body.contains("**Not verified** (draft)") && pull.body.contains("For #7"))
                let said = try #require(forge.comments.first { $0.number == 7 })
                #expect(said.body.contains("could not prove it") && said.body.contains("draft"), "\(said.body)")
                #expect(said.body.contains("Why: ") && said.body.contains("no test failed"), "\(said.body)")
                #expect(forge.violations.isEmpty, "\(forge.violations)")
            }
        }
    }

    @Test func aRateLimitedForgeIsWaitedOutAndAFailingOneRetriedLater() async throws {
        let setup = try await Self.setup(ServerAPITests.files)
        try await GitHubStandIn.with(
            repository: Self.repository, appID: "4242", publicKeyPEM: setup.key.publicPEM, installationID: 77,
            bareRepo: setup.bare
        ) { forge in
            forge.addIssue(7, title: "add() subtracts", body: "calc.add(2, 3) gives -1.")
            // The pull request's creation meets GitHub's secondary rate limit once.
            forge.inject(
                .init(
                    method: "POST", pathSuffix: "/pulls", status: 403, headers: ["retry-after": "1"],
                    body:
                        #"{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com"}"#
                ))
            // The comment meets a limit that lasts an hour: not slept through; the outbox tries again later, and the
            // pull request already opened is not opened again.
            forge.inject(
                .init(
                    method: "POST", pathSuffix: "/issues/7/comments", status: 403, headers: ["retry-after": "3600"],
                    body:
                        #"{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com"}"#
                ))
            try await Self.serving(setup, forge: forge, script: ServerAPITests.script) { client, admin, _ in
                let (project, secret) = try await Self.addProject(client, admin: admin, repo: setup.work)
                let first = try await Self.deliver(
                    client, project: project, event: "issues", delivery: "r-1", body: Self.labeled, secret: secret)
                let task = try #require(first.json["task"]?.stringValue)
                let told = try await Self.published(client, task: task, key: admin)
                #expect(told["state"] == "done", "\(told)")
                let create = told["calls"]?.items?.first {
                    $0["method"] == "POST" && $0["path"]?.stringValue?.hasSuffix("/pulls") == true
                }
                #expect(create?["attempts"] == 2 && create?["status"] == 201, "\(create ?? .null)")
                #expect(told["attempts"] == 1 && told["commented"] == true, "\(told)")
                #expect(forge.pulls.count == 1 && forge.comments.count == 1)
                #expect(forge.log.filter { $0.hasPrefix("POST /repos/\(Self.repository)/pulls → 201") }.count == 1)
                let audit = try await client.send(.GET, "/v1/audit?surface=forge", key: admin).json
                let actions = audit["data"]?.items?.compactMap { $0["action"]?.stringValue } ?? []
                #expect(actions.contains("forge.retry") && actions.contains("forge.publish"), "\(actions)")
                #expect(forge.violations.isEmpty, "\(forge.violations)")
            }
        }
    }
}

/// The same loop on GitLab, against a stand-in written from GitLab's REST documentation: a labelled issue becomes a
/// merge request from the pushed branch and a note on the issue; `/ferry` on that merge request adds a commit to it.
@Suite struct GitLabLoopTests {
    @Test func aLabelledIssueBecomesAMergeRequestAndASlashFerryNoteAddsToIt() async throws {
        let setup = try await ForgeLoopTests.setup(ServerAPITests.files)
        let script = ForgeLoopTests.fixThenDocstring
        try await GitLabStandIn.with(project: "group/calc", token: "glpat-test", bareRepo: setup.bare) { gitlab in
            gitlab.addIssue(12, title: "add() subtracts", description: "calc.add(2, 3) gives -1.")
            var settings = ForgeSettings()
            settings.gitlabURL = gitlab.url
            try await ForgeLoopTests.serving(setup, settings: settings, script: script) { client, admin, _ in
                let project = try await client.send(
                    .POST, "/v1/projects", key: admin,
                    body: [
                        "name": "calc", "repo": .string(setup.work), "base": "main",
                        "test_command": "python3 -m unittest",
                    ])
                let id = try #require(project.json["id"]?.stringValue)
                let forge = try await client.send(
                    .PUT, "/v1/projects/\(id)/forge", key: admin,
                    body: ["kind": "gitlab", "repository": "group/calc", "token": "glpat-test"])
                let secret = try #require(forge.json["webhook_secret"]?.stringValue, "\(forge.body)")
                @Sendable func deliver(_ event: String, _ body: JSONValue, uuid: String) async throws
                    -> ServerAPITests.Reply
                {
                    try await client.send(
                        .POST, "/forge/\(id)", key: nil, body: body,
                        headers: ["X-Gitlab-Event": event, "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": uuid])
                }
                let labelled: JSONValue = [
                    "object_kind": "issue", "user": ["username": "ann"],
                    "project": ["path_with_namespace": "group/calc", "default_branch": "main"],
                    "object_attributes": [
                        "iid": 12, "title": "add() subtracts", "description": "calc.add(2, 3) gives -1.",
                        "action": "update",
                    ],
                    "changes": ["labels": ["previous": [], "current": [["title": "ferry"]]]],
                ]
                let started = try await deliver("Issue Hook", labelled, uuid: "g-1")
                let task = try #require(started.json["task"]?.stringValue, "\(started.body)")
                let told = try await ForgeLoopTests.published(client, task: task, key: admin)
                #expect(told["state"] == "done", "\(told)")
                let request = try #require(gitlab.mergeRequests.first, "\(gitlab.log)")
                #expect(!request.title.hasPrefix("Draft:") && request.target == "main")
                #expect(request.description.contains("**Verified**") && request.description.contains("Fixes #12"))
                #expect(
                    gitlab.notes.contains { $0.kind == "issues" && $0.iid == 12 && $0.body.contains("prove it") })

                let note: JSONValue = [
                    "object_kind": "note", "user": ["username": "ann"],
                    "project": ["path_with_namespace": "group/calc"],
                    "object_attributes": [
                        "note": "/ferry give add() a docstring", "noteable_type": "MergeRequest",
                    ],
                    "merge_request": ["iid": .number(Double(request.iid)), "title": .string(request.title)],
                ]
                let follow = try await deliver("Note Hook", note, uuid: "g-2")
                let second = try #require(follow.json["task"]?.stringValue, "\(follow.body)")
                let again = try await ForgeLoopTests.published(client, task: second, key: admin)
                #expect(again["state"] == "done" && again["follow_up"] == true, "\(again)")
                #expect(gitlab.mergeRequests.count == 1)
                let commits = try await Git(setup.bare).run(
                    "rev-list", "--count", "main..refs/heads/\(request.source)")
                #expect(commits.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
                #expect(gitlab.notes.contains { $0.kind == "merge_requests" && $0.iid == request.iid })
                #expect(!gitlab.log.contains { $0.contains("→ 401") }, "\(gitlab.log)")
            }
        }
    }
}

/// A delivery's task is made once per project, even by two servers at once, with its link (issue 26).
@Suite struct ForgeAdmissionTests {
    @Test(arguments: QueueTests.Kind.allCases)
    func aDeliveryMakesOneTaskAcrossConcurrentServers(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let now = Date()
            let link = ForgeLink(
                taskID: "", tenantID: f.tenant.id, projectID: f.project.id, issue: 7, title: "t", baseBranch: "main")
            let new = NewTask(projectID: f.project.id, task: "fix #7")
            async let a = f.store.admitForgeTask(new, tenantID: f.tenant.id, delivery: "d", link: link, now: now)
            async let b = f.store.admitForgeTask(new, tenantID: f.tenant.id, delivery: "d", link: link, now: now)
            let both = [try await a, try await b]
            #expect(both.filter(\.created).count == 1 && both[0].task.id == both[1].task.id)
            let stored = try #require(try await f.store.forgeLink(taskID: both[0].task.id))
            #expect(stored.issue == 7 && stored.state == "pending" && stored.baseBranch == "main")
            // Another delivery is another task; the link is claimable only once its task has ended.
            let other = try await f.store.admitForgeTask(
                new, tenantID: f.tenant.id, delivery: "d2", link: link, now: now)
            #expect(other.created && other.task.id != both[0].task.id)
            #expect(try await f.store.claimForgeLink(now: now.addingTimeInterval(1), leaseSeconds: 60) == nil)
            // Once ended, one claim gets it (and a second, while leased, nothing).
            let claimed = try #require(try await f.store.claim(worker: "w", now: now, policy: QueuePolicy()))
            _ = try await f.store.finish(
                id: claimed.id, attempt: claimed.attempt,
                outcome: TaskOutcome(state: .failed, reason: "r", runID: nil, branch: nil, commitSHA: nil, costUSD: 0),
                now: now)
            var link1 = try #require(try await f.store.claimForgeLink(now: now.addingTimeInterval(1), leaseSeconds: 60))
            #expect(link1.taskID == claimed.id)
            #expect(try await f.store.claimForgeLink(now: now.addingTimeInterval(2), leaseSeconds: 60) == nil)
            link1.pullRequest = 12
            link1.state = "done"
            link1.calls = "x\n"
            try await f.store.recordForgeLink(link1, release: true)
            #expect(
                try await f.store.forgeLinks(projectID: f.project.id, pullRequest: 12).map(\.taskID) == [claimed.id])
            try await f.store.setForgeEvidence(taskID: claimed.id, evidence: "{}", calls: "y\n")
            #expect(try await f.store.forgeLink(taskID: claimed.id)?.calls == "x\ny\n")
        }
    }
}
