import FerryCore
import FerryServer
import FerryServerStore
import FerryTesting
import Foundation
import Testing

/// A project's forge settings and its webhook as an outsider, a careless admin or a hostile sender would use them:
/// every refusal clear, nothing started that should not be, no secret shown twice or stored in clear.
@Suite struct ForgeWebhookTests {
    static func withServer(
        app: Bool = true, _ body: @Sendable (ServerAPITests.Client, String, TeamServer) async throws -> Void
    ) async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-forge-\(UUID().uuidString.prefix(8))"
        ).path
        var server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        if app {
            server.forgeSettings.githubAppID = "4242"
            server.forgeSettings.githubPrivateKeyFile = data + "/missing.pem"
            server.forgeSettings.githubInstallations = ["default": [77], "other": [88]]
        }
        let admin = try #require(try await server.bootstrap())
        let settled = server
        try await server.serving { port in try await body(ServerAPITests.Client(port: port), admin, settled) }
    }

    static func project(_ client: ServerAPITests.Client, admin: String) async throws -> String {
        let repo = try await FixtureRepo.make(["a.py": "x = 1\n"])
        let made = try await client.send(
            .POST, "/v1/projects", key: admin, body: ["name": "calc", "repo": .string(repo), "base": "main"])
        return try #require(made.json["id"]?.stringValue, "\(made.body)")
    }

    @Test func forgeSettingsAreCheckedAndTheirSecretsKeptSealed() async throws {
        try await Self.withServer { client, admin, server in
            let id = try await Self.project(client, admin: admin)
            let path = "/v1/projects/\(id)/forge"
            for (body, status) in [
                (["kind": "bitbucket", "repository": "o/r"], 400),
                (["kind": "github", "repository": "no-slash"], 400),
                (["kind": "github", "repository": "o/r; rm -rf /"], 400),
                (["kind": "github", "repository": "o/r"], 400),
                (["kind": "gitlab", "repository": "group/sub/project"], 400),
                (["kind": "github", "repository": "o/r", "installation_id": -3], 400),
                (["kind": "github", "repository": "o/r", "token": "has space"], 400),
                (["kind": "github", "repository": "o/r", "label": ""], 400),
            ] as [(JSONValue, Int)] {
                let reply = try await client.send(.PUT, path, key: admin, body: body)
                #expect(reply.status == status, "\(body): \(reply.body)")
                #expect(reply.json["detail"]?.stringValue?.isEmpty == false)
            }
            let viewer = try await server.store.createKey(
                tenantID: try #require(try await server.store.tenant(named: "default")).id, role: .viewer
            ).key
            #expect(
                try await client.send(.PUT, path, key: viewer, body: ["kind": "github", "repository": "o/r"]).status
                    == 403)
            let other = try await server.store.createTenant(name: "other")
            let outsider = try await server.store.createKey(tenantID: other.id, role: .admin).key
            #expect(
                try await client.send(
                    .PUT, path, key: outsider, body: ["kind": "gitlab", "repository": "g/p", "token": "glpat-x"]
                ).status == 404)

            // Another tenant's installation (or one no tenant was given) is refused: it would reach their repositories.
            for installation in [88, 99] {
                let taken = try await client.send(
                    .PUT, path, key: admin,
                    body: ["kind": "github", "repository": "o/r", "installation_id": .number(Double(installation))])
                #expect(taken.status == 403 && taken.body.contains("installations"), "\(taken.body)")
            }
            let own = try await client.send(
                .PUT, path, key: admin, body: ["kind": "github", "repository": "o/r", "installation_id": 77])
            #expect(own.status == 200, "\(own.body)")
            try await server.store.deleteForge(projectID: id)
            let made = try await client.send(
                .PUT, path, key: admin,
                body: ["kind": "gitlab", "repository": "group/sub/project", "token": "glpat-SECRET"])
            #expect(made.status == 200, "\(made.body)")
            let secret = try #require(made.json["webhook_secret"]?.stringValue)
            #expect(made.json["has_token"] == true && made.json["label"] == "ferry")
            #expect(!made.body.contains("glpat-SECRET"), "the token is never shown")
            let stored = try #require(try await server.store.forge(projectID: id))
            #expect(stored.token != nil && stored.token?.contains("glpat-SECRET") == false, "sealed at rest")
            #expect(stored.webhookSecret != secret, "sealed at rest")
            let shown = try await client.send(.GET, path, key: admin)
            #expect(shown.json["webhook_secret"] == .null && !shown.body.contains("glpat"))
            #expect(try await client.send(.GET, path, key: outsider).status == 404)
            // Changing the label keeps the secret and the token; rotating makes a new secret.
            let relabelled = try await client.send(
                .PUT, path, key: admin, body: ["kind": "gitlab", "repository": "group/sub/project", "label": "ai"])
            #expect(
                relabelled.status == 200 && relabelled.json["webhook_secret"] == .null
                    && relabelled.json["has_token"] == true)
            let rotated = try await client.send(
                .PUT, path, key: admin,
                body: ["kind": "gitlab", "repository": "group/sub/project", "rotate_secret": true])
            #expect(rotated.json["webhook_secret"]?.stringValue.map { $0 != secret } == true)
            let audit = try await client.send(.GET, "/v1/audit?action=project.forge", key: admin).json
            let all =
                try await client.send(.GET, "/v1/audit", key: admin).json["data"]?.items?.map {
                    "\($0["seq"] ?? .null) \($0["action"] ?? .null)"
                } ?? []
            #expect(audit["data"]?.items?.count == 4, "\(all)")
            #expect(try await client.send(.DELETE, path, key: admin).status == 204)
            #expect(try await client.send(.GET, path, key: admin).status == 404)
        }
    }

    @Test func aServerWithoutAGitHubAppSaysSo() async throws {
        try await Self.withServer(app: false) { client, admin, _ in
            let id = try await Self.project(client, admin: admin)
            let reply = try await client.send(
                .PUT, "/v1/projects/\(id)/forge", key: admin,
                body: ["kind": "github", "repository": "o/r", "installation_id": 5])
            #expect(reply.status == 409 && reply.json["detail"]?.stringValue?.contains("[server.github_app]") == true)
            // A token instead works without an App.
            let token = try await client.send(
                .PUT, "/v1/projects/\(id)/forge", key: admin,
                body: ["kind": "github", "repository": "o/r", "token": "ghp_x"])
            #expect(token.status == 200, "\(token.body)")
        }
    }

    static func gitlabIssue(labels: [String], previous: [String] = [], user: String = "ann") -> JSONValue {
        [
            "object_kind": "issue",
            "user": ["username": .string(user)],
            "project": ["path_with_namespace": "group/sub/project", "default_branch": "main"],
            "object_attributes": [
                "iid": 12, "title": "Fix the parser", "description": "It fails on empty input.", "action": "update",
            ],
            "changes": [
                "labels": [
                    "previous": .array(previous.map { ["title": .string($0)] }),
                    "current": .array(labels.map { ["title": .string($0)] }),
                ]
            ],
        ]
    }

    @Test func theWebhookRefusesWhatItShouldAndStartsOneTaskPerDelivery() async throws {
        try await Self.withServer { client, admin, server in
            let id = try await Self.project(client, admin: admin)
            let made = try await client.send(
                .PUT, "/v1/projects/\(id)/forge", key: admin,
                body: ["kind": "gitlab", "repository": "group/sub/project", "token": "glpat-x"])
            let secret = try #require(made.json["webhook_secret"]?.stringValue)
            func send(_ body: JSONValue, token: String?, uuid: String, event: String = "Issue Hook")
                async throws -> ServerAPITests.Reply
            {
                var headers = ["X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid]
                if let token { headers["X-Gitlab-Token"] = token }
                return try await client.send(.POST, "/forge/\(id)", key: nil, body: body, headers: headers)
            }
            let labelled = Self.gitlabIssue(labels: ["bug", "ferry"], previous: ["bug"])
            let unsigned = try await send(labelled, token: nil, uuid: "u0")
            #expect(unsigned.status == 401, "\(unsigned.body)")
            #expect(try await send(labelled, token: "wrong", uuid: "u0").status == 401)
            #expect(try await client.send(.POST, "/forge/prj_nope", key: nil, body: labelled).status == 404)
            // Signed, but not the project's repository, not the label, or from a bot: nothing starts.
            var elsewhere = labelled
            if case .object(var object) = elsewhere {
                object["project"] = ["path_with_namespace": "other/project"]
                elsewhere = .object(object)
            }
            for body in [
                elsewhere, Self.gitlabIssue(labels: ["bug"]),
                Self.gitlabIssue(labels: ["ferry"], user: "project_42_bot_abc"),
            ] {
                let reply = try await send(body, token: secret, uuid: UUID().uuidString)
                #expect(reply.status == 202 && reply.json["ignored"]?.stringValue != nil, "\(reply.body)")
            }
            // A body that is not an event.
            let junk = try await client.send(
                .POST, "/forge/\(id)", key: nil, body: ["x": 1],
                headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event": "Issue Hook"])
            #expect(junk.status == 400, "no delivery id: \(junk.body)")
            // Too big to be an event.
            let huge: JSONValue = ["object_kind": "issue", "pad": .string(String(repeating: "x", count: 6 << 20))]
            #expect(try await send(huge, token: secret, uuid: "big").status == 413)

            let started = try await send(labelled, token: secret, uuid: "u1")
            #expect(started.status == 202 && started.json["created"] == true, "\(started.body)")
            let task = try #require(started.json["task"]?.stringValue)
            let again = try await send(labelled, token: secret, uuid: "u1")
            #expect(again.status == 200 && again.json["task"]?.stringValue == task)
            let stored = try #require(try await server.store.task(id: task))
            #expect(stored.task.contains("Fix the parser") && stored.task.contains("It fails on empty input."))
            #expect(
                stored.personID == Person.builtInID(tenantID: stored.tenantID), "spend counts to the service account")
            let link = try await client.send(.GET, "/v1/tasks/\(task)/forge", key: admin).json
            #expect(link["issue"] == 12 && link["state"] == "pending" && link["follow_up"] == false)
            // A note on a merge request Ferry did not open starts nothing.
            let note: JSONValue = [
                "object_kind": "note", "user": ["username": "ann"],
                "project": ["path_with_namespace": "group/sub/project"],
                "object_attributes": ["note": "/ferry make it faster", "noteable_type": "MergeRequest"],
                "merge_request": ["iid": 3, "title": "x"],
            ]
            let ignored = try await send(note, token: secret, uuid: "n1", event: "Note Hook")
            #expect(ignored.json["ignored"]?.stringValue?.contains("did not open") == true, "\(ignored.body)")

            // Over budget: refused with the budget's words, recorded, no task.
            #expect(
                try await client.send(.PUT, "/v1/budgets/tenant", key: admin, body: ["monthly_usd": 0]).status == 200)
            let broke = try await send(Self.gitlabIssue(labels: ["ferry"]), token: secret, uuid: "u2")
            #expect(broke.status == 402, "\(broke.body)")
            #expect(try await client.send(.GET, "/v1/tasks", key: admin).json["data"]?.items?.count == 1)
            let audit = try await client.send(.GET, "/v1/audit?surface=forge", key: admin).json
            let details = audit["data"]?.items?.compactMap { $0["detail"]?.stringValue } ?? []
            #expect(details.contains { $0.contains("token does not match") })
            #expect(details.contains { $0.contains("budget") }, "\(details)")
        }
    }
}
