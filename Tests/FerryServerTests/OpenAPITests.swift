import FerryAgent
import FerryAssist
import FerryCore
import FerryModels
import Foundation
import NIOHTTP1
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The OpenAPI document is the contract: every operation it names is served, and answers with a status it lists
/// (errors as problem documents). A small, fixed version of what schemathesis does at random.
@Suite struct OpenAPITests {
    static let document =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/docs/openapi.yaml"

    /// (method, path, documented statuses, the statuses whose body is a problem document), read line by line from the
    /// document's layout.
    static func operations() throws -> [(method: String, path: String, statuses: Set<Int>, problems: Set<Int>)] {
        let lines = try String(contentsOfFile: document, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        var result: [(String, String, Set<Int>, Set<Int>)] = []
        var path: String?
        var inPaths = false
        for line in lines {
            if line == "paths:" {
                inPaths = true
                continue
            }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get:", "post:", "put:", "patch:", "delete:"].first(where: { trimmed == $0 }),
                let path
            {
                result.append((String(method.dropLast()).uppercased(), path, [], []))
                continue
            }
            if let status = trimmed.split(separator: ":").first.flatMap({
                Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
            }),
                trimmed.hasPrefix("\""), !result.isEmpty
            {
                result[result.count - 1].2.insert(status)
                if trimmed.contains("#/components/responses/Problem") { result[result.count - 1].3.insert(status) }
            }
        }
        return result
    }

    /// The API's route table and the document name the same operations, with the same access: a route added to one
    /// and not the other fails here.
    @Test func theRouteTableIsTheDocumentsOperations() throws {
        let documented = Set(
            try Self.operations().filter {
                $0.path.hasPrefix("/v1/") && !["/v1/chat/completions", "/v1/models"].contains($0.path)
            }.map { "\($0.method) \($0.path)" })
        let served = Set(
            ServerAPI.routes.map {
                "\($0.method.rawValue) " + $0.path.replacingOccurrences(of: ":id", with: "{id}")
            })
        #expect(
            served == documented,
            "served only: \(served.subtracting(documented)); documented only: \(documented.subtracting(served))")
        #expect(served.count == ServerAPI.routes.count, "no route is registered twice")
        // Admin routes are the ones the document says need an admin key.
        let admin = Set(ServerAPI.routes.filter { $0.access == .admin }.map { "\($0.method.rawValue) \($0.path)" })
        #expect(
            admin == [
                "PUT /v1/budgets/tenant", "PUT /v1/budgets/projects/:id", "GET /v1/keys", "POST /v1/keys",
                "DELETE /v1/keys/:id", "POST /v1/keys/:id/rotate", "GET /v1/audit", "GET /v1/audit/export",
                "GET /v1/audit/check", "GET /v1/people", "POST /v1/people", "GET /v1/people/:id",
                "PATCH /v1/people/:id", "PUT /v1/budgets/people/:id", "PUT /v1/budgets/groups/:id", "GET /v1/groups",
                "PUT /v1/projects/:id/forge", "DELETE /v1/projects/:id/forge", "PUT /v1/projects/:id/watch",
                "DELETE /v1/projects/:id/watch",
                "GET /v1/audit/sink", "PUT /v1/audit/sink", "DELETE /v1/audit/sink",
            ])
        #expect(ServerAPI.routes.filter { $0.method != .get }.allSatisfy { $0.access != .read }, "reads never write")
    }

    /// A schema of `components.schemas` in the document's block layout: its property names and the required ones.
    static func schema(_ name: String) throws -> (properties: Set<String>, required: Set<String>) {
        let lines = try String(contentsOfFile: document, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "    \(name):") else { return ([], []) }
        var properties: Set<String> = []
        var required: Set<String> = []
        var inProperties = false
        for line in lines[(start + 1)...] {
            if !line.hasPrefix("      ") { break }
            if line.hasPrefix("      required: [") {
                required = Set(
                    line.drop(while: { $0 != "[" }).dropFirst().prefix(while: { $0 != "]" }).split(separator: ",").map {
                        $0.trimmingCharacters(in: .whitespaces)
                    })
            }
            if line == "      properties:" {
                inProperties = true
                continue
            }
            if inProperties, line.hasPrefix("        "), !line.hasPrefix("         "),
                let key = line.split(separator: ":").first
            {
                properties.insert(key.trimmingCharacters(in: .whitespaces))
            } else if !line.hasPrefix("        ") {
                inProperties = false
            }
        }
        return (properties, required)
    }

    /// The response types are the document's schemas: each key a property, each required property written, and no
    /// property of the schema missing from the type.
    @Test func eachResourceIsItsSchema() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        let task = ServerTask(
            id: "task_1", tenantID: "ten_1", projectID: "prj_1", task: "fix it", base: nil, model: nil,
            maxCostUSD: nil, state: .retryable, attempt: 1, maxAttempts: 3, priority: 0, scheduledAt: date,
            attemptedBy: nil, leaseUntil: nil, idempotencyKey: nil, errors: ["lost"], cancelRequested: false,
            runID: nil, branch: nil, commitSHA: nil, reason: nil, costUSD: 0.5, createdAt: date, finishedAt: nil,
            diff: nil, pushedTo: nil)
        let project = Project(
            id: "prj_1", tenantID: "ten_1", name: "shop", repo: "https://example.com/shop.git", base: "main",
            model: nil, testCommand: nil, createdAt: date)
        let key = APIKeyInfo(
            id: "key_1", role: .member, createdAt: date, revokedAt: nil, ownerID: "per_1", name: "ci", expiresAt: nil)
        let cases: [(String, any Encodable, Set<String>)] = [
            ("Task", TaskResource(task), Set(TaskResource.CodingKeys.allCases.map(\.rawValue))),
            (
                "Project", ProjectResource(project, secret: "whsec_1"),
                Set(ProjectResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "Budget", BudgetResource(BudgetStatus(projectID: nil, monthlyUSD: 5, spentUSD: 1)),
                Set(BudgetResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "Person",
                PersonResource(
                    Person(
                        id: "per_1", tenantID: "ten_1", kind: .person, name: "Ada", email: "ada@example.com",
                        externalID: nil, role: .member, active: true, createdAt: date, deactivatedAt: nil)),
                Set(PersonResource.CodingKeys.allCases.map(\.rawValue))
            ),
            ("Key", KeyResource(key), Set(KeyResource.CodingKeys.allCases.map(\.rawValue))),
            ("NewKey", NewKeyResource(key, key: "fy_1"), Set(NewKeyResource.CodingKeys.allCases.map(\.rawValue))),
            (
                "AuditEntry",
                AuditResource(
                    AuditChain.seal(
                        AuditEntry(
                            tenantID: "ten_1", keyID: "key_1", action: "task.create", object: "task_1", detail: "",
                            remote: nil, at: date), after: (0, AuditChain.genesis))),
                Set(AuditResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "Group",
                GroupResource(
                    PersonGroup(
                        id: "grp_1", tenantID: "ten_1", name: "ops", externalID: nil, members: ["per_1"],
                        createdAt: date)),
                Set(GroupResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "WhoAmI", WhoAmIResource(tenant: "ten_1", key: "key_1", role: "admin", person: nil),
                ["tenant", "key", "role", "person"]
            ),
            (
                "AuditCheck", AuditCheckResource(AuditChain.verify([]), start: 0),
                Set(AuditCheckResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "Forge",
                ServerAPI.ForgeResource(
                    kind: "github", repository: "o/r", label: "ferry", installationID: nil, hasToken: false,
                    webhookURL: "http://127.0.0.1/forge/prj_1", webhookSecret: nil),
                Set(ServerAPI.ForgeResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "TaskForge",
                ServerAPI.TaskForgeResource(
                    ForgeLink(
                        taskID: "task_1", tenantID: "ten_1", projectID: "prj_1", issue: 7, title: "t",
                        baseBranch: "main",
                        calls: #"{"method":"GET","path":"/x","status":200,"attempts":1,"waited_seconds":0}"# + "\n")),
                Set(ServerAPI.TaskForgeResource.CodingKeys.allCases.map(\.rawValue))
            ),
            (
                "Watch",
                ServerAPI.WatchResource(
                    ProjectWatch(
                        projectID: "prj_1", tenantID: "ten_1", everySeconds: 3600, monthlyUSD: 5, maxInstances: 10,
                        sinceDays: 90, model: nil, nextAt: date)),
                Set(ServerAPI.WatchResource.CodingKeys.allCases.map(\.rawValue))
            ),
        ]
        for (name, value, keys) in cases {
            let schema = try Self.schema(name)
            #expect(!schema.properties.isEmpty, "\(name) is in the document")
            let data = try ServerAPI.encoder().encode(value)
            let written = Set(try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
            #expect(
                keys == schema.properties,
                "\(name): type only \(keys.subtracting(schema.properties)); schema only \(schema.properties.subtracting(keys))"
            )
            #expect(written.isSubset(of: schema.properties), "\(name) writes \(written.subtracting(schema.properties))")
            #expect(schema.required.isSubset(of: written), "\(name) leaves out \(schema.required.subtracting(written))")
        }
        // Nullable fields are written as null, as the document's `[type, "null"]` says, not left out.
        let text = String(decoding: try ServerAPI.encoder().encode(TaskResource(task)), as: UTF8.self)
        #expect(text.contains("\"base\":null") && text.contains("\"created_at\":\"2027-01-15T08:00:00Z\""), "\(text)")
    }

    /// The task tools show one shape whichever host runs the task: the server's MCP tools build a `TaskReport` from
    /// the task, and `ferry chat --server` decodes one from the API's task document. Both must agree, field by field.
    @Test func theTaskToolsReportIsTheAPIsTaskUnderTheSameNames() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        let task = ServerTask(
            id: "task_2", tenantID: "ten_1", projectID: "prj_1", task: "fix it\nplease", base: "main", model: nil,
            maxCostUSD: 2, state: .verified, attempt: 2, maxAttempts: 3, priority: 0, scheduledAt: date,
            attemptedBy: nil, leaseUntil: nil, idempotencyKey: nil, errors: [], cancelRequested: false,
            runID: "run_9", branch: "ferry/fix", commitSHA: "abc123", reason: "tests pass", costUSD: 0.25,
            createdAt: date, finishedAt: date, diff: "+x", pushedTo: nil)
        let built = TaskReport(task)
        let decoded = try JSONDecoder().decode(TaskReport.self, from: ServerAPI.encoder().encode(TaskResource(task)))
        #expect(built == decoded)
        #expect(built.status == "verified" && built.commit == "abc123" && built.runID == "run_9")
        #expect(built.project == "prj_1" && built.costUSD == 0.25 && built.branch == "ferry/fix")
        // Every key the report writes that the API's task also has means the same there.
        let report = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(built)) as? [String: Any])
        let resource = try #require(
            try JSONSerialization.jsonObject(with: ServerAPI.encoder().encode(TaskResource(task))) as? [String: Any])
        for (key, value) in report {
            #expect(resource[key].map { "\($0)" } == "\(value)", "\(key)")
        }
    }

    @Test func everyDocumentedOperationIsServedWithADocumentedStatus() async throws {
        let operations = try Self.operations()
        #expect(operations.count == 53)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-openapi-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data, policy: .tests(data: data))
        let admin = try #require(try await server.bootstrap())
        // With models, so the assistant surfaces (/mcp, /v1/chat/completions, /v1/models) are served too. No request
        // here reaches the model.
        var config = FerryConfig(dataDirectory: data + "/runs")
        config.profiles["none"] = ModelProfile(
            name: "none", provider: .openai, baseURL: "http://127.0.0.1:9/v1", model: "none", apiKeyEnv: "")
        config.defaultModel = "none"
        let models = ModelPool(config: config, environment: [:])
        try await server.serving(models: models) { port in
            let client = ServerAPITests.Client(port: port)
            let served = try await client.send(.GET, "/openapi.yaml", key: nil)
            let text = try String(contentsOfFile: Self.document, encoding: .utf8)
            #expect(served.status == 200 && served.body == text)
            for operation in operations {
                let path = operation.path.replacingOccurrences(of: "{id}", with: "nope")
                for key in [admin, nil] {
                    let reply = try await client.send(
                        HTTPMethod(rawValue: operation.method), path, key: key,
                        body: operation.method == "GET" || operation.method == "DELETE" ? nil : [:])
                    #expect(
                        operation.statuses.contains(reply.status),
                        "\(operation.method) \(operation.path) answered \(reply.status), documented \(operation.statuses.sorted())"
                    )
                    if reply.status >= 400 {
                        // Problem documents, except where the document names another shape (OpenAI's, JSON-RPC's).
                        let expected =
                            operation.problems.contains(reply.status) ? "application/problem+json" : "application/json"
                        #expect(
                            reply.contentType == expected,
                            "\(operation.method) \(operation.path) \(reply.status): \(reply.body)")
                    }
                }
            }
        }
    }
}
