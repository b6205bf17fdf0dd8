import AsyncHTTPClient
import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryStore
import FerryTesting
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// The team server over real HTTP: a worker runs a task through the library against a fake model server, on a real
/// git repository in the real sandbox.
@Suite struct ServerAPITests {
    static let files = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
    ]
    static let script: [FakeStep] = [
        .call("read_file", ["path": "calc.py"]),
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
        .call("finish", ["summary": "add() subtracted; it now adds."]),
    ]

    struct Reply {
        var status: Int
        var body: String
        var contentType: String?
        var json: JSONValue { JSONValue.parse(body) ?? .null }
    }

    final class Client: Sendable {
        let http = HTTPClient.shared
        let base: String
        init(port: Int) { base = "http://127.0.0.1:\(port)" }

        func send(
            _ method: HTTPMethod, _ path: String, key: String?, body: JSONValue? = nil, headers: [String: String] = [:]
        )
            async throws -> Reply
        {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body.jsonString))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
            return Reply(
                status: Int(response.status.code), body: text, contentType: response.headers.first(name: "Content-Type")
            )
        }
    }

    /// A server on `kind` for the scope of `body`: on PostgreSQL a fresh database, whose client runs as a child of
    /// the scope, as `ferry serve` holds it.
    static func withServer<T: Sendable>(
        _ kind: QueueTests.Kind, data: String, policy: ServerPolicy? = nil,
        _ body: @Sendable (TeamServer) async throws -> T
    ) async throws -> T {
        let policy = policy ?? .tests(data: data)
        switch kind {
        case .sqlite: return try await body(try TeamServer(dataDirectory: data, policy: policy))
        case .postgres:
            return try await TeamServer.withPostgres(
                url: try await PostgresCluster.freshDatabase(), dataDirectory: data, policy: policy, body)
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func aTaskGoesFromTheAPIThroughAWorkerToAVerifiedChange(kind: QueueTests.Kind) async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-server-\(UUID().uuidString.prefix(8))"
        ).path
        try await Self.withServer(kind, data: data) { server in
            let admin = try #require(try await server.bootstrap())
            #expect(try await server.bootstrap() == nil)
            let mode = try FileManager.default.attributesOfItem(atPath: server.adminKeyPath)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(try String(contentsOfFile: server.adminKeyPath, encoding: .utf8) == admin + "\n")
            let other = try await server.store.createTenant(name: "other")
            let outsider = try await server.store.createKey(tenantID: other.id, role: .admin).key
            let viewer = try await server.store.createKey(
                tenantID: try #require(try await server.store.tenant(named: "default")).id, role: .viewer
            ).key

            var config = FerryConfig(dataDirectory: data + "/runs")
            config.firstAttempt = .off
            let frozen = config
            try await FakeModelServer.with(.openai, script: Self.script) { fake in
                // The worker's log, as `ferry serve` writes it: JSON lines.
                let lines = Locked<[String]>([])
                let logger = Logger(label: "ferry.worker") { label in
                    JSONLogHandler(label: label, redactor: Redactor(secrets: [])) { line in
                        lines.withLock { $0.append(line) }
                    }
                }
                let (worker, modelClient) = fakeWorker(
                    fake, server: server, config: frozen, id: "test-worker", policy: QueuePolicy(leaseSeconds: 30),
                    pollSeconds: 0.1,
                    logger: logger)
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await server.run(port: 0, workers: [worker], signals: []) { continuation.yield($0) }
                    }
                    var iterator = ports.makeAsyncIterator()
                    let client = Client(port: try #require(await iterator.next()))

                    #expect(try await client.send(.GET, "/healthz", key: nil).status == 200)
                    let anonymous = try await client.send(.GET, "/v1/tasks", key: nil)
                    #expect(anonymous.status == 401 && anonymous.contentType == "application/problem+json")
                    #expect(anonymous.json["status"] == 401)

                    let project = try await client.send(
                        .POST, "/v1/projects", key: admin,
                        body: [
                            "name": "calc", "repo": .string(repo), "base": "main",
                            "test_command": "python3 -m unittest",
                        ])
                    #expect(project.status == 201, "\(project.body)")
                    #expect(
                        try await client.send(.POST, "/v1/projects", key: admin, body: ["name": "calc", "repo": "/x"])
                            .status == 409)
                    #expect(
                        try await client.send(.POST, "/v1/projects", key: viewer, body: ["name": "v", "repo": "/x"])
                            .status
                            == 403)

                    let create: JSONValue = [
                        "project": "calc", "task": "add() returns the wrong sum; fix it", "max_cost": .number(1.0),
                    ]
                    let created = try await client.send(
                        .POST, "/v1/tasks", key: admin, body: create, headers: ["Idempotency-Key": "once"])
                    #expect(created.status == 201, "\(created.body)")
                    let id = try #require(created.json["id"]?.stringValue)
                    #expect(created.json["status"] == "queued")
                    let retried = try await client.send(
                        .POST, "/v1/tasks", key: admin, body: create, headers: ["Idempotency-Key": "once"])
                    #expect(retried.status == 200 && retried.json["id"]?.stringValue == id)
                    #expect(
                        try await client.send(.POST, "/v1/tasks", key: admin, body: ["project": "nope", "task": "x"])
                            .status
                            == 404)
                    #expect(
                        try await client.send(.POST, "/v1/tasks", key: admin, body: ["project": "calc", "task": " "])
                            .status
                            == 400)

                    // Another tenant sees none of it.
                    #expect(try await client.send(.GET, "/v1/tasks/\(id)", key: outsider).status == 404)
                    #expect(try await client.send(.GET, "/v1/tasks/\(id)/diff", key: outsider).status == 404)
                    #expect(try await client.send(.POST, "/v1/tasks/\(id)/cancel", key: outsider).status == 404)
                    #expect(try await client.send(.GET, "/v1/projects/calc", key: outsider).status == 404)
                    #expect(try await client.send(.GET, "/v1/tasks", key: outsider).json["data"] == [])

                    // Followed live from before the task starts: the stream stays open until the task ends.
                    async let live = client.send(.GET, "/v1/tasks/\(id)/events", key: viewer)
                    var task = JSONValue.null
                    for _ in 0..<300 {
                        task = try await client.send(.GET, "/v1/tasks/\(id)", key: viewer).json
                        if let status = task["status"]?.stringValue, !["queued", "running"].contains(status) { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(task["status"] == "verified", "\(task)")
                    #expect(task["attempt"] == 1 && task["branch"]?.stringValue?.hasPrefix("ferry/") == true)
                    let diff = try await client.send(.GET, "/v1/tasks/\(id)/diff", key: viewer)
                    #expect(diff.status == 200 && diff.body.contains("+    return a + b"), "\(diff.body)")
                    let followed = try await live
                    #expect(
                        followed.body.contains("event: run.started\n")
                            && followed.body.hasSuffix("\"task\":\"\(id)\"}\n\n")
                    )
                    #expect(followed.body.components(separatedBy: "event: run.finished\n").count == 2)
                    // The run's events as server-sent events, in order, then the end; a reconnect resumes after its id.
                    let stream = try await client.send(.GET, "/v1/tasks/\(id)/events", key: viewer)
                    #expect(stream.status == 200 && stream.contentType == "text/event-stream")
                    let ids = stream.body.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map {
                        String($0.dropFirst(4))
                    }
                    let runID = try #require(task["run_id"]?.stringValue)
                    #expect(ids.first == "\(runID):1" && ids.count >= 8)
                    #expect(
                        stream.body.contains("event: run.started\n") && stream.body.contains("event: run.finished\n"))
                    #expect(stream.body.hasSuffix("event: end\ndata: {\"status\":\"verified\",\"task\":\"\(id)\"}\n\n"))
                    let resumed = try await client.send(
                        .GET, "/v1/tasks/\(id)/events", key: viewer, headers: ["Last-Event-ID": "\(runID):3"])
                    #expect(resumed.body.split(separator: "\n").first { $0.hasPrefix("id: ") } == "id: \(runID):4")
                    #expect(try await client.send(.GET, "/v1/tasks/\(id)/events", key: outsider).status == 404)
                    // Metrics come from the database: the task's status and its three model calls.
                    #expect(try await client.send(.GET, "/readyz", key: nil).status == 200)
                    // Only the operator's token reads them: no key, and no tenant's admin key.
                    #expect(try await client.send(.GET, "/metrics", key: nil).status == 401)
                    #expect(try await client.send(.GET, "/metrics", key: admin).status == 401)
                    let metrics = try await client.send(.GET, "/metrics", key: server.metricsToken).body
                    #expect(
                        metrics.contains("ferry_tasks{status=\"verified\"} 1\n")
                            && metrics.contains("ferry_queue_depth 0\n"), "\(metrics)")
                    #expect(metrics.contains("ferry_model_calls_total{model=\"gpt-4.1-mini\"} 3\n"))
                    #expect(
                        metrics.contains("ferry_model_tokens_total{model=\"gpt-4.1-mini\",direction=\"input\"} 300\n"))
                    // Keys: created (shown once), used, revoked; only an admin of the same tenant may.
                    #expect(try await client.send(.GET, "/v1/keys", key: viewer).status == 403)
                    let made = try await client.send(.POST, "/v1/keys", key: admin, body: ["role": "viewer"])
                    #expect(made.status == 201 && made.json["role"] == "viewer")
                    let newKey = try #require(made.json["key"]?.stringValue)
                    let keyID = try #require(made.json["id"]?.stringValue)
                    #expect(try await client.send(.GET, "/v1/tasks/\(id)", key: newKey).status == 200)
                    #expect(try await client.send(.DELETE, "/v1/keys/\(keyID)", key: outsider).status == 404)
                    #expect(try await client.send(.DELETE, "/v1/keys/\(keyID)", key: admin).status == 204)
                    #expect(try await client.send(.GET, "/v1/tasks/\(id)", key: newKey).status == 401)
                    let keys = try await client.send(.GET, "/v1/keys", key: admin).json["data"]?.arrayItems ?? []
                    #expect(keys.count == 3 && !keys.contains { $0["key"] != nil || $0["hash"] != nil })
                    // The audit log: every mutation once (the idempotent retry made none), with who and from where.
                    let audit = try await client.send(.GET, "/v1/audit", key: admin).json["data"]?.arrayItems ?? []
                    #expect(
                        audit.compactMap { $0["action"]?.stringValue }.sorted() == [
                            "key.create", "key.revoke", "project.create", "task.create",
                        ])
                    #expect(audit.allSatisfy { $0["remote"] == "127.0.0.1" })
                    #expect(try await client.send(.GET, "/v1/audit", key: outsider).json["data"] == [])
                    let listed = try await client.send(.GET, "/v1/tasks?status=verified", key: admin)
                    #expect(listed.json["data"]?.arrayItems?.compactMap { $0["id"]?.stringValue } == [id])
                    // Filters: text (any case) and project; the finished attempt's steps and time; who created it.
                    let found = try await client.send(.GET, "/v1/tasks?q=WRONG%20SUM&project=calc", key: admin).json[
                        "data"]
                    #expect(found?.arrayItems?.compactMap { $0["id"]?.stringValue } == [id])
                    #expect(try await client.send(.GET, "/v1/tasks?q=nothing-like-it", key: admin).json["data"] == [])
                    #expect(try await client.send(.GET, "/v1/tasks?project=nope", key: admin).json["data"] == [])
                    #expect(
                        task["steps"] == 3 && (task["wall_seconds"]?.doubleValue ?? 0) > 0
                            && task["created_by"]?.stringValue != nil)
                    // Retry: a new task with the same request, linked to the old one; another tenant's is not found.
                    #expect(try await client.send(.POST, "/v1/tasks/\(id)/retry", key: outsider).status == 404)
                    #expect(try await client.send(.POST, "/v1/tasks/\(id)/retry", key: viewer).status == 403)
                    let rerun = try await client.send(.POST, "/v1/tasks/\(id)/retry", key: admin)
                    #expect(
                        rerun.status == 201 && rerun.json["retry_of"]?.stringValue == id
                            && rerun.json["status"] == "queued"
                    )
                    #expect(rerun.json["task"] == task["task"] && rerun.json["id"] != task["id"])
                    if let again = rerun.json["id"]?.stringValue {
                        _ = try await client.send(.POST, "/v1/tasks/\(again)/cancel", key: admin)
                    }
                    let logged = lines.withLock { $0 }.compactMap { JSONValue.parse($0) }
                    let claimed = logged.first { $0["message"] == "task claimed" }
                    #expect(
                        claimed?["task"]?.stringValue == id && claimed?["worker"] == "test-worker"
                            && claimed?["attempt"] == 1)
                    #expect(
                        claimed?["claim_ms"]?.doubleValue != nil && claimed?["level"] == "info"
                            && claimed?["logger"] == "ferry.worker")
                    let finished = logged.first { $0["message"] == "task finished" }
                    #expect(finished?["status"] == "verified" && finished?["run"]?.stringValue == runID, "\(logged)")
                    group.cancelAll()
                }
                try await modelClient.shutdown()
            }
        }
    }
}

extension JSONValue {
    var arrayItems: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
}
