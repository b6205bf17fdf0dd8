import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// Tasks handed to a team server (`ferry chat --server URL --project NAME`) through its HTTP API with an API key:
/// they run in the team's queue, under its budgets, and show on its dashboard.
public final class RemoteTaskHost: TaskHost {
    let baseURL: String
    let key: String
    let project: String
    let client: HTTPClient

    public init(baseURL: String, key: String, project: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = key
        self.project = project
        client = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> (status: Int, text: String)
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonString))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            throw FerryError(.usage, "the team server at \(baseURL) did not answer: \(error)")
        }
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        let status = Int(response.status.code)
        if status == 404 { throw NotFound(JSONValue.parse(text)?["detail"]?.stringValue ?? "not found on the server") }
        guard (200..<300).contains(status) || status == 409 else {
            throw FerryError(
                .usage, "the team server answered \(status): \(JSONValue.parse(text)?["detail"]?.stringValue ?? text)")
        }
        return (status, text)
    }

    /// The API's task document at `path`, read as the task tools show it.
    func report(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> TaskReport {
        let (_, text) = try await send(method, path, body: body)
        do {
            return try JSONDecoder().decode(TaskReport.self, from: Data(text.utf8))
        } catch {
            throw FerryError(.usage, "the team server sent no task for \(path): \(text.prefix(200))")
        }
    }

    public func start(task: String, project: String?, base: String?) async throws -> TaskReport {
        var body: [String: JSONValue] = ["project": .string(project ?? self.project), "task": .string(task)]
        if let base { body["base"] = .string(base) }
        return try await report(.POST, "/v1/tasks", body: .object(body))
    }

    public func status(_ id: String) async throws -> TaskReport {
        try await report(.GET, "/v1/tasks/\(id)")
    }

    public func result(_ id: String) async throws -> TaskReport {
        var task = try await status(id)
        let (status, diff) = try await send(.GET, "/v1/tasks/\(id)/diff")
        task.diff = status == 409 ? "" : diff
        return task
    }

    public func cancel(_ id: String) async throws -> TaskReport {
        try await report(.POST, "/v1/tasks/\(id)/cancel")
    }

    /// The server streams a task's events (`/v1/tasks/{id}/events`) and shows them on its page; chat does not read them.
    public func trace(_ id: String) async throws -> String {
        throw FerryError(.usage, "the trace of task \(id) is on the team server: \(baseURL)/tasks/\(id)")
    }

    public func recent(limit: Int) async throws -> [(id: String, title: String)] {
        struct Page: Decodable { var data: [TaskReport] }
        let (_, text) = try await send(.GET, "/v1/tasks?limit=\(limit)")
        let page = try? JSONDecoder().decode(Page.self, from: Data(text.utf8))
        return (page?.data ?? []).map { ($0.id, String(($0.task ?? "").split(separator: "\n").first ?? "")) }
    }
}
