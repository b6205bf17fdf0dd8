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

    func object(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        let (_, text) = try await send(method, path, body: body)
        guard let value = JSONValue.parse(text) else {
            throw FerryError(.usage, "the team server sent no JSON for \(path)")
        }
        return value
    }

    public func start(task: String, project: String?, base: String?) async throws -> JSONValue {
        var body: [String: JSONValue] = ["project": .string(project ?? self.project), "task": .string(task)]
        if let base { body["base"] = .string(base) }
        return try await object(.POST, "/v1/tasks", body: .object(body))
    }

    public func status(_ id: String) async throws -> JSONValue {
        try await object(.GET, "/v1/tasks/\(id)")
    }

    public func result(_ id: String) async throws -> JSONValue {
        guard case .object(var task) = try await status(id) else {
            throw FerryError(.usage, "the team server sent no task")
        }
        let (status, diff) = try await send(.GET, "/v1/tasks/\(id)/diff")
        task["diff"] = .string(status == 409 ? "" : diff)
        return .object(task)
    }

    public func cancel(_ id: String) async throws -> JSONValue {
        try await object(.POST, "/v1/tasks/\(id)/cancel")
    }

    /// The server streams a task's events (`/v1/tasks/{id}/events`) and shows them on its page; chat does not read them.
    public func trace(_ id: String) async throws -> String {
        throw FerryError(.usage, "the trace of task \(id) is on the team server: \(baseURL)/tasks/\(id)")
    }

    public func recent(limit: Int) async throws -> [(id: String, title: String)] {
        guard case .array(let tasks)? = try await object(.GET, "/v1/tasks?limit=\(limit)")["data"] else { return [] }
        return tasks.compactMap { task in
            task["id"]?.stringValue.map {
                ($0, String((task["task"]?.stringValue ?? "").split(separator: "\n").first ?? ""))
            }
        }
    }
}
