import FerryCore
import FerryWorkspace
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import NIOCore
import Synchronization

/// GitHub's REST API for one repository and one App installation, over real HTTP on 127.0.0.1, holding every request
/// it takes and every answer it gives to GitHub's published description (`Tests/Fixtures/forge/github-rest-subset.json`):
/// an operation the description lacks, a body its schema refuses, or an answer that breaks it is a `violation`.
/// Installation tokens are minted from the App's JWT (checked with the App's public key) and expire; a pull request's
/// head must be a branch of the bare repository pushes go to. Faults (rate limits) are set by tests.
public final class GitHubStandIn: Sendable {
    public struct PullRequest: Sendable, Hashable {
        public var number: Int
        public var head: String
        public var base: String
        public var title: String
        public var body: String
        public var draft: Bool
    }

    public struct Fault: Sendable {
        public var method: String
        public var pathSuffix: String
        public var status: Int
        public var headers: [String: String]
        public var body: String
        public var times: Int

        public init(
            method: String, pathSuffix: String, status: Int, headers: [String: String], body: String, times: Int = 1
        ) {
            self.method = method
            self.pathSuffix = pathSuffix
            self.status = status
            self.headers = headers
            self.body = body
            self.times = times
        }
    }

    struct State {
        var issues: [Int: (title: String, body: String, comments: [(String, String)])] = [:]
        var pulls: [Int: PullRequest] = [:]
        var reviewComments: [Int: [(path: String, line: Int, body: String)]] = [:]
        var next = 100
        var comments: [(number: Int, body: String)] = []
        var tokens: [String: Date] = [:]
        var minted = 0
        var log: [String] = []
        var violations: [String] = []
        var faults: [Fault] = []
        var tokenLifetime: Double = 3600
    }

    /// The stand-in's state behind one lock, shared by the handler and the test's view.
    final class Shared: Sendable {
        let lock = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { lock.withLock { body(&$0) } }
    }

    public let port: Int
    public let repository: String
    let state: Shared

    init(port: Int, repository: String, state: Shared) {
        self.port = port
        self.repository = repository
        self.state = state
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var violations: [String] { state.withLock { $0.violations } }
    /// `METHOD /path → status`, in order.
    public var log: [String] { state.withLock { $0.log } }
    public var tokensMinted: Int { state.withLock { $0.minted } }
    public var pulls: [PullRequest] { state.withLock { $0.pulls.values.sorted { $0.number < $1.number } } }
    public var comments: [(number: Int, body: String)] { state.withLock { $0.comments } }

    public func addIssue(_ number: Int, title: String, body: String, comments: [(String, String)] = []) {
        state.withLock {
            $0.issues[number] = (title, body, comments)
            $0.next = max($0.next, number + 1)
        }
    }

    public func addReviewComments(review: Int, _ comments: [(path: String, line: Int, body: String)]) {
        state.withLock { $0.reviewComments[review] = comments }
    }

    /// Every token given so far dies now (GitHub revoking them, or its clock ahead of ours).
    public func expireTokens() { state.withLock { $0.tokens = $0.tokens.mapValues { _ in Date.distantPast } } }

    public func inject(_ fault: Fault) { state.withLock { $0.faults.append(fault) } }
    /// How long tokens minted from now on live (negative: already expired when given).
    public func setTokenLifetime(_ seconds: Double) { state.withLock { $0.tokenLifetime = seconds } }

    public static func with<T: Sendable>(
        repository: String, appID: String, publicKeyPEM: String, installationID: Int, bareRepo: String,
        personalToken: String? = nil, _ body: @Sendable (GitHubStandIn) async throws -> T
    ) async throws -> T {
        let api = try OpenAPIDescription.fixture("github-rest-subset.json")
        let state = Shared()
        let keys = JWTKeyCollection()
        await keys.add(rsa: try Insecure.RSA.PublicKey(pem: publicKeyPEM), digestAlgorithm: .sha256)
        let handler = Handler(
            api: api, state: state, keys: keys, appID: appID, installationID: installationID, bareRepo: bareRepo,
            repository: repository, personalToken: personalToken)
        let router = Router()
        for method in [HTTPRequest.Method.get, .post, .patch] {
            router.on("**", method: method) { request, _ in await handler.answer(request) }
        }
        return try await serving(router, label: "github-stand-in") { port in
            try await body(GitHubStandIn(port: port, repository: repository, state: state))
        }
    }

    struct Handler: Sendable {
        let api: OpenAPIDescription
        let state: Shared
        let keys: JWTKeyCollection
        let appID: String
        let installationID: Int
        let bareRepo: String
        let repository: String
        let personalToken: String?

        func answer(_ request: Request) async -> Response {
            let method = request.method.rawValue
            let path = request.uri.path
            let text = (try? await request.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            let body = text.isEmpty ? nil : JSONValue.parse(text)
            var (status, value, headers) = await respond(method, path, request, body)
            guard let (template, operation) = api.operation(method: method, path: path) else {
                note("\(method) \(path) is not an operation of GitHub's description")
                return response(404, ["message": "Not Found"], [:], method, path)
            }
            if let schema = api.requestSchema(operation), status < 400 || status == 422 {
                for problem in api.violations(body ?? .null, schema) {
                    note("\(method) \(template) request: \(problem)")
                }
            }
            if let schema = api.responseSchema(operation, status: status) {
                if schema != .null {
                    for problem in api.violations(value, schema) { note("\(method) \(template) \(status): \(problem)") }
                }
            } else if status >= 400 {
                // Answers GitHub gives to any call (401, rate limits) are its basic error.
                for problem in api.violations(value, .object(["$ref": "#/components/schemas/basic-error"])) {
                    note("\(method) \(template) \(status): \(problem)")
                }
            } else {
                note("\(method) \(template) answered \(status), a status its description does not list")
            }
            if status == 201, headers["Location"] == nil { headers["Location"] = "https://api.github.invalid\(path)" }
            return response(status, value, headers, method, path)
        }

        func note(_ violation: String) { state.withLock { $0.violations.append(violation) } }

        func response(_ status: Int, _ value: JSONValue, _ headers: [String: String], _ method: String, _ path: String)
            -> Response
        {
            state.withLock { $0.log.append("\(method) \(path) → \(status)") }
            var fields = HTTPFields()
            fields[.contentType] = "application/json; charset=utf-8"
            for (name, text) in headers { if let name = HTTPField.Name(name) { fields[name] = text } }
            return Response(
                status: .init(code: status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonString)))
        }

        func example(_ schema: String, _ fill: JSONValue) -> JSONValue {
            api.example(.object(["$ref": .string("#/components/schemas/\(schema)")]), fill: fill)
        }

        func user(_ login: String) -> JSONValue {
            ["login": .string(login), "type": login.hasSuffix("[bot]") ? "Bot" : "User"]
        }

        func pullJSON(_ pull: PullRequest) -> JSONValue {
            [
                "number": .number(Double(pull.number)), "title": .string(pull.title), "body": .string(pull.body),
                "draft": .bool(pull.draft), "state": "open",
                "html_url": .string("https://github.invalid/\(repository)/pull/\(pull.number)"),
                "head": ["ref": .string(pull.head), "label": .string(pull.head)],
                "base": ["ref": .string(pull.base), "label": .string(pull.base)],
            ]
        }

        func respond(_ method: String, _ path: String, _ request: Request, _ body: JSONValue?) async -> (
            Int, JSONValue, [String: String]
        ) {
            let fault: Fault? = state.withLock { state in
                guard
                    let index = state.faults.firstIndex(where: { $0.method == method && path.hasSuffix($0.pathSuffix) })
                else { return nil }
                state.faults[index].times -= 1
                let fault = state.faults[index]
                if fault.times <= 0 { state.faults.remove(at: index) }
                return fault
            }
            if let fault { return (fault.status, JSONValue.parse(fault.body) ?? .null, fault.headers) }
            let authorization = request.headers[.authorization] ?? ""
            guard authorization.hasPrefix("Bearer ") else {
                return (401, ["message": "Requires authentication"], [:])
            }
            let credential = String(authorization.dropFirst(7))
            if path == "/app/installations/\(installationID)/access_tokens", method == "POST" {
                do {
                    let claims = try await keys.verify(credential, as: AppClaims.self)
                    guard claims.iss.value == appID, claims.exp.value.timeIntervalSince(claims.iat.value) <= 600 else {
                        return (401, ["message": "'Issuer' claim or lifetime is wrong"], [:])
                    }
                } catch {
                    return (401, ["message": "A JSON web token could not be decoded"], [:])
                }
                let token = "ghs_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
                let expiry = state.withLock { state in
                    let expiry = Date().addingTimeInterval(state.tokenLifetime)
                    state.tokens[token] = expiry
                    state.minted += 1
                    return expiry
                }
                return (
                    201,
                    example(
                        "installation-token",
                        ["token": .string(token), "expires_at": .string(expiry.formatted(.iso8601))]),
                    [:]
                )
            }
            let valid = state.withLock { state in
                credential == personalToken || (state.tokens[credential].map { $0 > Date() } ?? false)
            }
            guard valid else {
                return (401, ["message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"], [:])
            }
            let prefix = "/repos/\(repository)"
            guard path.hasPrefix(prefix + "/") else { return (404, ["message": "Not Found"], [:]) }
            let parts = path.dropFirst(prefix.count + 1).split(separator: "/").map(String.init)
            switch (method, parts.count, parts.first) {
            case ("GET", 2, "issues"):
                guard let number = Int(parts[1]), let issue = state.withLock({ $0.issues[number] }) else {
                    return (404, ["message": "Not Found"], [:])
                }
                return (
                    200,
                    example(
                        "issue",
                        [
                            "number": .number(Double(number)), "title": .string(issue.title),
                            "body": .string(issue.body),
                            "state": "open",
                            "html_url": .string("https://github.invalid/\(repository)/issues/\(number)"),
                        ]), [:]
                )
            case ("GET", 3, "issues"):
                let number = Int(parts[1]) ?? 0
                let comments = state.withLock { $0.issues[number]?.comments ?? [] }
                return (
                    200,
                    .array(
                        comments.enumerated().map {
                            example(
                                "issue-comment",
                                [
                                    "id": .number(Double($0.offset + 1)), "body": .string($0.element.1),
                                    "user": user($0.element.0),
                                ])
                        }), [:]
                )
            case ("POST", 3, "issues"):
                let number = Int(parts[1]) ?? 0
                let text = body?["body"]?.stringValue ?? ""
                let known = state.withLock { state -> Bool in
                    guard state.issues[number] != nil || state.pulls[number] != nil else { return false }
                    state.comments.append((number, text))
                    return true
                }
                guard known else { return (404, ["message": "Not Found"], [:]) }
                return (201, example("issue-comment", ["body": .string(text), "user": user("ferry[bot]")]), [:])
            case ("GET", 1, "pulls"):
                let head = request.uri.queryParameters.get("head").map { String($0.split(separator: ":").last ?? "") }
                let open = state.withLock { state in
                    state.pulls.values.filter { head == nil || $0.head == head }.sorted { $0.number < $1.number }
                }
                return (200, .array(open.map { example("pull-request-simple", pullJSON($0)) }), [:])
            case ("POST", 1, "pulls"):
                let head = body?["head"]?.stringValue ?? ""
                let exists =
                    (try? await Git(bareRepo).run("rev-parse", "--verify", "--quiet", "refs/heads/\(head)")) != nil
                guard exists else {
                    return (
                        422,
                        example(
                            "validation-error",
                            [
                                "message": "Validation Failed",
                                "errors": [["resource": "PullRequest", "field": "head", "code": "invalid"]],
                            ]), [:]
                    )
                }
                let pull = state.withLock { state -> PullRequest in
                    let pull = PullRequest(
                        number: state.next, head: head, base: body?["base"]?.stringValue ?? "",
                        title: body?["title"]?.stringValue ?? "", body: body?["body"]?.stringValue ?? "",
                        draft: body?["draft"]?.boolValue ?? false)
                    state.pulls[pull.number] = pull
                    state.next += 1
                    return pull
                }
                return (201, example("pull-request", pullJSON(pull)), [:])
            case ("GET", 2, "pulls"):
                guard let pull = state.withLock({ $0.pulls[Int(parts[1]) ?? 0] }) else {
                    return (404, ["message": "Not Found"], [:])
                }
                return (200, example("pull-request", pullJSON(pull)), [:])
            case ("GET", 5, "pulls") where parts[2] == "reviews" && parts[4] == "comments":
                let comments = state.withLock { $0.reviewComments[Int(parts[3]) ?? 0] ?? [] }
                return (
                    200,
                    .array(
                        comments.map {
                            example(
                                "review-comment",
                                ["path": .string($0.path), "line": .number(Double($0.line)), "body": .string($0.body)])
                        }), [:]
                )
            default:
                return (404, ["message": "Not Found"], [:])
            }
        }
    }

    struct AppClaims: JWTPayload {
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        var iss: IssuerClaim
        func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
    }
}

extension GitHubStandIn {
    /// A GitHub App's key pair as GitHub hands out the private half (PKCS#1 PEM, made by openssl): (private, public).
    public static func appKey() async throws -> (privatePEM: String, publicPEM: String) {
        let (status, output) = try await ChildProcess.run("/usr/bin/openssl", ["genrsa", "-traditional", "2048"])
        guard status == 0 else { throw FerryError(.io, "openssl genrsa failed: \(output)") }
        let key = try Insecure.RSA.PrivateKey(pem: output)
        return (output, try key.publicKey.pemRepresentation)
    }
}
