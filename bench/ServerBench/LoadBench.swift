import AsyncHTTPClient
import FerryCore
import FerrySandbox
import FerryTesting
import Foundation
import NIOCore

/// One load run: start the processes, queue the tasks, measure, stop everything.
struct LoadBench {
    let options: Options
    let url: String
    let cluster: PostgresCluster.Cluster
    let repo: String
    let root: String

    var database: String { String(url.split(separator: "/").last ?? "") }

    func run() async throws -> String {
        let port = unusedLocalPort()
        let api = try await Child(
            options.ferry,
            [
                "serve", "--database", url, "--workers", "0", "--port", "\(port)", "--project-root",
                (repo as NSString).deletingLastPathComponent,
            ], root: root, name: "api")
        defer { api.stop() }
        let base = "http://127.0.0.1:\(port)"
        try await waitForHealth(base)
        let key = try String(contentsOfFile: root + "/data/ferry/server/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let http = HTTPAPI(base: base, key: key)
        _ = try await http.send(
            "POST", "/v1/projects",
            [
                "name": "calc", "repo": .string(repo), "model": "fake", "test_command": "python3 -m unittest",
            ])

        // The queue is filled before any worker runs, so the creates are measured alone.
        var createMillis: [Double] = []
        var ids: [String] = []
        let createStart = Date()
        for index in 0..<options.tasks {
            let started = Date()
            let reply = try await http.send(
                "POST", "/v1/tasks", ["project": "calc", "task": .string("add() is wrong (\(index)); fix it")])
            createMillis.append(Date().timeIntervalSince(started) * 1000)
            guard let id = reply["id"]?.stringValue else { fatalError("create failed: \(reply)") }
            ids.append(id)
        }
        let createSeconds = Date().timeIntervalSince(createStart)

        // The API alone, the queue full and no worker running: the reference for the figures under load.
        let idleList = try await Wrk.run(
            base + "/v1/tasks?limit=50", key: key, seconds: 5, root: root, name: "idle-list")
        let idleGet = try await Wrk.run(
            base + "/v1/tasks/\(ids[ids.count / 2])", key: key, seconds: 5, root: root, name: "idle-get")

        let postmaster = cluster.directory + "/data/postmaster.pid"
        let before = CPU.sample(api: api.pid, workers: [], postmasterFile: postmaster)
        let started = Date()
        var workers: [Child] = []
        for index in 1...options.workers {
            workers.append(
                try await Child(
                    options.ferry,
                    [
                        "worker", "--database", url, "--workers", "1", "--project-root",
                        (repo as NSString).deletingLastPathComponent,
                    ], root: root, name: "worker\(index)"))
        }
        defer { for worker in workers { worker.stop() } }
        // wrk on list and get at once, while the workers drain the queue.
        // (`--wrk-seconds 0`: the workers alone.)
        let seconds = options.wrkSeconds
        async let loadList =
            seconds > 0
            ? Wrk.run(base + "/v1/tasks?limit=50", key: key, seconds: seconds, root: root, name: "load-list") : Wrk()
        async let loadGet =
            seconds > 0
            ? Wrk.run(
                base + "/v1/tasks/\(ids[ids.count / 2])", key: key, seconds: seconds, root: root, name: "load-get")
            : Wrk()
        var remaining = options.tasks
        var drainedWhileWrk = true
        while remaining > 0 {
            try await Task.sleep(for: .milliseconds(250))
            remaining =
                Int(
                    try await psql("SELECT count(*) FROM tasks WHERE state IN ('queued', 'running', 'retryable')").first
                        ?? "0") ?? 0
            if Date().timeIntervalSince(started) > 1800 { fatalError("the queue did not drain in 30 minutes") }
        }
        let elapsed = Date().timeIntervalSince(started)
        if elapsed < Double(options.wrkSeconds) { drainedWhileWrk = false }
        let (list, get) = try await (loadList, loadGet)
        let cpu = CPU.sample(api: api.pid, workers: workers.map(\.pid), postmasterFile: postmaster) - before
        if let directory = options.screenshots {
            try await photograph(base: base, key: key, http: http, into: directory)
        }

        return try await Report(
            options: options, elapsed: elapsed, createMillis: createMillis, createSeconds: createSeconds,
            statuses: psql("SELECT state || ' ' || count(*) FROM tasks GROUP BY state ORDER BY state"),
            claimWait: psql("SELECT claimed_at - due_at FROM attempts").compactMap(Double.init),
            claimMillis: workers.flatMap { Self.claimMillis(in: $0.output) },
            attempts: Int(psql("SELECT count(*) FROM attempts").first ?? "0") ?? 0,
            phases: Phases(rows: psql(Phases.query)),
            idle: (idleList, idleGet), load: (list, get), drainedWhileWrk: drainedWhileWrk, cpu: cpu
        ).markdown
    }

    /// The dashboard over this run's data, in a real browser: real eval reports imported, a budget set.
    func photograph(base: String, key: String, http: HTTPAPI, into directory: String) async throws {
        for path in options.evalReports {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                fatalError("cannot read \(path)")
            }
            var request = HTTPClientRequest(
                url: base + "/v1/evals?name="
                    + (URL(fileURLWithPath: path).deletingLastPathComponent()
                        .deletingLastPathComponent().lastPathComponent))
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.body = .bytes(ByteBuffer(string: text))
            _ = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        }
        var budget = HTTPClientRequest(url: base + "/v1/budgets/tenant")
        budget.method = .PUT
        budget.headers.add(name: "Authorization", value: "Bearer \(key)")
        budget.body = .bytes(ByteBuffer(string: #"{"monthly_usd": 0.05}"#))
        _ = try await HTTPClient.shared.execute(budget, timeout: .seconds(30))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let python =
            (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
            + "/ferry/browser-venv/bin/python"
        let shots = try await BackgroundProcess.start(
            python,
            [
                "Tests/browser/dashboard.py", "--shots-only", "--url", base, "--key", key, "--project", "calc",
                "--screenshots", directory,
            ], stdout: .inherit, stderr: .inherit)
        if await shots.wait() != .exited(0) { fatalError("the screenshots failed") }
    }

    func waitForHealth(_ base: String) async throws {
        for _ in 0..<300 {
            if let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(2)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        fatalError("the API never answered on \(base)")
    }

    /// Rows of `sql` against the bench's database, columns joined by `|`.
    func psql(_ sql: String) async throws -> [String] {
        let out = root + "/psql-\(UUID().uuidString.prefix(8)).out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try await BackgroundProcess.start(
            cluster.bin + "/psql",
            [
                "-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "postgres", "-d", database, "-At", "-F", "|", "-c",
                sql,
            ], stdout: .file(out)
        ).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// The claim statement's own time, from the workers' JSON log lines.
    static func claimMillis(in log: String) -> [Double] {
        log.split(separator: "\n").compactMap { line in
            guard let object = JSONValue.parse(String(line)), object["message"] == "task claimed" else { return nil }
            return object["claim_ms"]?.doubleValue
        }
    }
}

/// The API over HTTP with the admin key.
struct HTTPAPI {
    let base: String
    let key: String

    func send(_ method: String, _ path: String, _ body: JSONValue) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body.jsonString))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return JSONValue.parse(String(buffer: try await response.body.collect(upTo: 1 << 22))) ?? .null
    }
}

/// A `ferry` process with its own log file, the bench's config and data directories.
final class Child: Sendable {
    let log: String
    private let process: BackgroundProcess
    var pid: Int32 { process.pid }

    init(_ binary: String, _ arguments: [String], root: String, name: String) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = root + "/config"
        environment["XDG_DATA_HOME"] = root + "/data"
        log = root + "/\(name).log"
        process = try await BackgroundProcess.start(
            binary, arguments, environment: environment, stdout: .file(log), stderr: .output)
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// SIGTERM; the process ends on its own (a `defer` cannot wait for it).
    func stop() { process.signal(SIGTERM) }
}
