import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A plain HTTP server on 127.0.0.1 that answers GET requests from a table (path → status and body), and records
/// the requests it saw: a stand-in for a third-party API (GitHub's issues) in tests, over real HTTP.
public final class FakeHTTPServer: Sendable {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public init(_ status: Int, _ body: String) {
            self.status = status
            self.body = body
        }
    }

    final class Log: Sendable {
        let seen = Mutex<[(path: String, authorization: String?)]>([])
    }

    public let port: Int
    let log: Log

    init(port: Int, log: Log) {
        self.port = port
        self.log = log
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The paths requested, in order.
    public var requests: [String] { log.seen.withLock { $0.map(\.path) } }
    /// The `Authorization` header of each request, in order.
    public var authorizations: [String?] { log.seen.withLock { $0.map(\.authorization) } }

    public static func with<T: Sendable>(
        _ answers: [String: Answer], _ body: @Sendable (FakeHTTPServer) async throws -> T
    ) async throws -> T {
        let router = Router()
        let log = Log()
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            log.seen.withLock { $0.append((path, request.headers[.authorization])) }
            let answer = answers[path] ?? Answer(404, #"{"message":"Not Found"}"#)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: .init(code: answer.status), headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
        }
        return try await serving(router, label: "fake-http-server") { port in
            try await body(FakeHTTPServer(port: port, log: log))
        }
    }

    /// Serves the files under `root` as they are (GET only, nothing outside `root`): with `git update-server-info`
    /// run in a bare repository there, git clones and fetches it over HTTP (git's "dumb" protocol), so tests reach a
    /// git URL project over real HTTP.
    public static func files<T: Sendable>(
        root: String, _ body: @Sendable (FakeHTTPServer) async throws -> T
    ) async throws -> T {
        let router = Router()
        let log = Log()
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            log.seen.withLock { $0.append((path, request.headers[.authorization])) }
            let file = URL(fileURLWithPath: base + path).standardizedFileURL.path
            guard file.hasPrefix(base + "/"), let data = FileManager.default.contents(atPath: file) else {
                return Response(status: .notFound)
            }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        return try await serving(router, label: "fake-http-files") { port in
            try await body(FakeHTTPServer(port: port, log: log))
        }
    }
}
