import FerryCore
import FerryWorkspace
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// GitLab's REST API (v4) for one project, over real HTTP on 127.0.0.1, written from GitLab's REST documentation (not
/// checked against a published description: GitLab's OpenAPI document is not on this machine). It takes the token as
/// `PRIVATE-TOKEN`, the project by its URL-encoded path, refuses a merge request whose source branch was never
/// pushed to the bare repository, and records notes and merge requests.
public final class GitLabStandIn: Sendable {
    public struct MergeRequest: Sendable, Hashable {
        public var iid: Int
        public var source: String
        public var target: String
        public var title: String
        public var description: String
    }

    struct State {
        var issues: [Int: (title: String, description: String)] = [:]
        var mergeRequests: [Int: MergeRequest] = [:]
        var notes: [(kind: String, iid: Int, body: String)] = []
        var next = 1
        var log: [String] = []
    }

    final class Shared: Sendable {
        let lock = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { lock.withLock { body(&$0) } }
    }

    public let port: Int
    let state: Shared

    init(port: Int, state: Shared) {
        self.port = port
        self.state = state
    }

    /// The instance's URL (`[server.gitlab] url`).
    public var url: String { "http://127.0.0.1:\(port)" }
    public var mergeRequests: [MergeRequest] { state.withLock { $0.mergeRequests.values.sorted { $0.iid < $1.iid } } }
    /// Notes made, as (`issues` or `merge_requests`, iid, body).
    public var notes: [(kind: String, iid: Int, body: String)] { state.withLock { $0.notes } }
    public var log: [String] { state.withLock { $0.log } }

    public func addIssue(_ iid: Int, title: String, description: String) {
        state.withLock { $0.issues[iid] = (title, description) }
    }

    public static func with<T: Sendable>(
        project: String, token: String, bareRepo: String, _ body: @Sendable (GitLabStandIn) async throws -> T
    ) async throws -> T {
        let state = Shared()
        let prefix =
            "/api/v4/projects/"
            + (project.addingPercentEncoding(
                withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
                ?? project)
        let router = Router()
        for method in [HTTPRequest.Method.get, .post] {
            router.on("**", method: method) { request, _ -> Response in
                let path = String(request.uri.description.split(separator: "?").first ?? "")
                let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
                let body = JSONValue.parse(text) ?? .null
                let (status, value) = await answer(
                    method, path: path, query: request.uri.queryParameters, body: body,
                    token: request.headers[HTTPField.Name("PRIVATE-TOKEN")!], expected: token, prefix: prefix,
                    bare: bareRepo, state: state)
                state.withLock { $0.log.append("\(method.rawValue) \(path) → \(status)") }
                return Response(
                    status: .init(code: status), headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonString)))
            }
        }
        return try await serving(router, label: "gitlab-stand-in") { port in
            try await body(GitLabStandIn(port: port, state: state))
        }
    }

    static func mergeRequestJSON(_ mr: MergeRequest, prefix: String) -> JSONValue {
        [
            "iid": .number(Double(mr.iid)), "source_branch": .string(mr.source), "target_branch": .string(mr.target),
            "title": .string(mr.title), "description": .string(mr.description),
            "draft": .bool(mr.title.hasPrefix("Draft:")), "state": "opened",
            "web_url": .string("https://gitlab.invalid/merge_requests/\(mr.iid)"),
        ]
    }

    static func answer(
        _ method: HTTPRequest.Method, path: String, query: Parameters, body: JSONValue, token: String?,
        expected: String, prefix: String, bare: String, state: Shared
    ) async -> (Int, JSONValue) {
        guard token == expected else { return (401, ["message": "401 Unauthorized"]) }
        guard path.hasPrefix(prefix + "/") else { return (404, ["message": "404 Project Not Found"]) }
        let parts = path.dropFirst(prefix.count + 1).split(separator: "/").map(String.init)
        switch (method, parts.count, parts.first) {
        case (.get, 2, "issues"):
            guard let iid = Int(parts[1]), let issue = state.withLock({ $0.issues[iid] }) else {
                return (404, ["message": "404 Not found"])
            }
            return (
                200,
                [
                    "iid": .number(Double(iid)), "title": .string(issue.title),
                    "description": .string(issue.description),
                    "web_url": .string("https://gitlab.invalid/issues/\(iid)"),
                ]
            )
        case (.get, 3, _) where parts[2] == "notes":
            let iid = Int(parts[1]) ?? 0
            let notes = state.withLock { $0.notes.filter { $0.kind == parts[0] && $0.iid == iid } }
            return (
                200,
                .array(
                    notes.map {
                        ["body": .string($0.body), "system": false, "author": ["username": "project_1_bot_x"]]
                    })
            )
        case (.post, 3, _) where parts[2] == "notes":
            let iid = Int(parts[1]) ?? 0
            state.withLock { $0.notes.append((parts[0], iid, body["body"]?.stringValue ?? "")) }
            return (201, ["id": 1, "body": body["body"] ?? ""])
        case (.get, 1, "merge_requests"):
            let source = query.get("source_branch")
            let open = state.withLock { $0.mergeRequests.values.filter { $0.source == source } }
            return (200, .array(open.map { mergeRequestJSON($0, prefix: prefix) }))
        case (.post, 1, "merge_requests"):
            let source = body["source_branch"]?.stringValue ?? ""
            guard (try? await Git(bare).run("rev-parse", "--verify", "--quiet", "refs/heads/\(source)")) != nil else {
                return (400, ["message": ["source_branch": ["is invalid"]]])
            }
            let mr = state.withLock { state -> MergeRequest in
                let mr = MergeRequest(
                    iid: state.next, source: source, target: body["target_branch"]?.stringValue ?? "",
                    title: body["title"]?.stringValue ?? "", description: body["description"]?.stringValue ?? "")
                state.mergeRequests[mr.iid] = mr
                state.next += 1
                return mr
            }
            return (201, mergeRequestJSON(mr, prefix: prefix))
        case (.get, 2, "merge_requests"):
            guard let mr = state.withLock({ $0.mergeRequests[Int(parts[1]) ?? 0] }) else {
                return (404, ["message": "404 Not found"])
            }
            return (200, mergeRequestJSON(mr, prefix: prefix))
        default:
            return (404, ["message": "404 Not Found"])
        }
    }
}
