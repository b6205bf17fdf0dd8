import AsyncHTTPClient
import FerryCore
import FerryDashboard
import FerryServer
import FerryStore
import Foundation
import NIOCore

/// The dashboard's two promises, measured on the embedded store: the task list renders server-side fast with
/// 10,000 tasks stored, and a trace event shows on an open task page soon after the worker records it.
enum DashboardBench {
    /// No redirects followed: a missing session must show as a 303, not as the sign-in page.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    static func run(tasks count: Int) async throws -> String {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-dash-bench-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try TeamServer(dataDirectory: data)
        let admin = try await server.bootstrap()!
        let tenant = try await server.store.tenant(named: "default")!
        let project = try await server.store.createProject(
            Project(
                id: "prj_bench", tenantID: tenant.id, name: "shop", repo: "/nowhere", base: "main", model: nil,
                testCommand: nil,
                createdAt: Date()))
        // 10,000 tasks over the last 30 days; half finished with a result, as a busy month leaves them.
        let start = Date().addingTimeInterval(-30 * 86_400)
        for index in 0..<count {
            let at = start.addingTimeInterval(Double(index) * 30 * 86_400 / Double(count))
            let (task, _) = try await server.store.createTask(
                NewTask(
                    projectID: project.id,
                    task: "Task \(index): the cart total is wrong when a coupon is applied twice", priority: index),
                tenantID: tenant.id, now: at)
            if index % 2 == 0, let claimed = try await server.store.claim(worker: "w", now: at, policy: QueuePolicy()),
                claimed.id == task.id
            {
                _ = try await server.store.finish(
                    id: task.id, attempt: 1,
                    outcome: TaskOutcome(
                        state: index % 4 == 0 ? .verified : .failed, reason: "done", runID: nil, branch: "ferry/x",
                        commitSHA: "abc", costUSD: 0.01, steps: 7, wallSeconds: 42),
                    now: at.addingTimeInterval(42))
            }
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                let dashboard = try await Dashboard(
                    store: server.store, runStore: server.runStore, policy: server.policy, secrets: server.secrets)
                try await server.run(port: 0, workers: [], signals: [], pages: dashboard) { continuation.yield($0) }
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let base = "http://127.0.0.1:\(await iterator.next()!)"
            let cookie = try await signIn(base, key: admin)
            FileHandle.standardError.write(Data("dashboard bench: signed in (\(cookie.prefix(20))…)\n".utf8))
            var lines = [
                "", "## The dashboard", "",
                "Embedded store, \(count) tasks of one tenant, `GET` with a session cookie, one request at a time "
                    + "(wall time of the whole response, server-rendered HTML):", "",
                "| page | p50 ms | p99 ms | bytes |", "|---|---|---|---|",
            ]
            for (name, path) in [
                ("`/tasks` (the newest 50)", "/tasks"), ("`/tasks?status=verified`", "/tasks?status=verified"),
                ("`/tasks?q=coupon` (text search)", "/tasks?q=coupon"), ("`/spend`", "/spend"),
            ] {
                let (millis, bytes) = try await time(base + path, cookie: cookie, times: 200)
                lines.append(
                    "| \(name) | \(fmt(percentile(millis, 50), 2)) | \(fmt(percentile(millis, 99), 2)) | \(bytes) |")
            }
            FileHandle.standardError.write(Data("dashboard bench: pages timed; the live trace next\n".utf8))
            lines += try await liveTrace(
                server: server, tenantID: tenant.id, projectID: project.id, base: base, cookie: cookie)
            group.cancelAll()
            return lines.joined(separator: "\n") + "\n"
        }!
    }

    static func signIn(_ base: String, key: String) async throws -> String {
        var request = HTTPClientRequest(url: base + "/login")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "key=\(key)"))
        let response = try await http.execute(request, timeout: .seconds(10))
        let cookie = response.headers["Set-Cookie"].first ?? ""
        return String(cookie.split(separator: ";").first ?? "")
    }

    static func time(_ url: String, cookie: String, times: Int) async throws -> ([Double], Int) {
        var millis: [Double] = []
        var bytes = 0
        for index in 0..<(times + 20) {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Cookie", value: cookie)
            let started = ContinuousClock.now
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 24)
            let elapsed = ContinuousClock.now - started
            guard response.status == .ok, String(buffer: body).contains("<main") else {
                fatalError("\(url): \(response.status)")
            }
            bytes = body.readableBytes
            // The first 20 warm the caches.
            if index >= 20 {
                millis.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            }
        }
        return (millis, bytes)
    }

    /// An open task page's event stream; events recorded one by one; the delay until each arrives.
    static func liveTrace(server: TeamServer, tenantID: String, projectID: String, base: String, cookie: String)
        async throws -> [String]
    {
        // First in the queue, ahead of the bench's unfinished tasks.
        let (task, _) = try await server.store.createTask(
            NewTask(projectID: projectID, task: "live", priority: 1_000_000), tenantID: tenantID, now: Date())
        let claimed = try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy(leaseSeconds: 600))!
        let runID = "bench-live-run"
        try await server.runStore.insert(
            RunRecord(
                id: runID, repo: "/nowhere", base: "main", branch: "ferry/x", task: "live", model: "m",
                provider: "openai",
                sandbox: "bwrap", runDirectory: "/tmp"))
        try await server.store.attachRun(id: task.id, attempt: claimed.attempt, runID: runID)
        var request = HTTPClientRequest(url: base + "/tasks/\(task.id)/events")
        request.headers.add(name: "Cookie", value: cookie)
        let recorded = RecordedTimes()
        let writer = Task {
            do { try await write() } catch {
                FileHandle.standardError.write(Data("dashboard bench: recording failed: \(error)\n".utf8))
            }
        }
        @Sendable func write() async throws {
            for seq in 1...50 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...350)))
                await recorded.set(seq, ContinuousClock.now)
                try await server.runStore.append(
                    RunEvent(
                        seq: seq, time: Date().timeIntervalSince1970, event: .configWarning(.init("event \(seq)"))),
                    to: runID)
            }
        }
        let response = try await http.execute(request, timeout: .seconds(120))
        var delays: [Double] = []
        var buffer = ""
        for try await chunk in response.body {
            let now = ContinuousClock.now
            buffer += String(buffer: chunk)
            while let range = buffer.range(of: "\n\n") {
                let frame = buffer[..<range.lowerBound]
                buffer = String(buffer[range.upperBound...])
                if let idLine = frame.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }),
                    let seq = Int(idLine.split(separator: ":").last ?? ""), let at = await recorded.get(seq)
                {
                    let delay = now - at
                    delays.append(Double(delay.components.attoseconds) / 1e15 + Double(delay.components.seconds) * 1000)
                }
            }
            if delays.count == 50 { break }
        }
        writer.cancel()
        return [
            "",
            "The live trace: an open task page's event stream (`/tasks/{id}/events`, the page's EventSource) while 50 "
                + "events are recorded 150–350 ms apart: from the append to the run store to the event's arrival, "
                + "p50 \(fmt(percentile(delays, 50))) ms, p99 \(fmt(percentile(delays, 99))) ms, max \(fmt(delays.max())) ms "
                + "(the stream looks every 100 ms).",
        ]
    }

    actor RecordedTimes {
        var times: [Int: ContinuousClock.Instant] = [:]
        func set(_ seq: Int, _ at: ContinuousClock.Instant) { times[seq] = at }
        func get(_ seq: Int) -> ContinuousClock.Instant? { times[seq] }
    }
}
