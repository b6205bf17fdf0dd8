import FerryAgent
import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The team server's HTTP API (`docs/SERVER.md`): JSON under `/v1` behind bearer API keys, RFC 9457 problem bodies
/// for errors. A key of one tenant asking for another tenant's object gets 404, never the object.
public struct ServerAPI: Sendable {
    public let store: any ServerStore
    public let runStore: any RunStore
    /// What tenants may point the server at (project paths and URLs, webhooks). The default is the strictest: git
    /// URLs to public hosts only.
    public let policy: ServerPolicy
    /// Seals webhook secrets before they are stored; without one, a project cannot have a webhook.
    public let secrets: SecretBox?
    /// The operator's token for `/metrics`; nil: `/metrics` answers no one.
    public let metricsToken: String?
    /// Each tenant's group-to-role mapping (by tenant name, from `[server.oidc.TENANT]`), for SCIM's groups.
    public let groupRoles: [String: OIDCSettings]
    /// The operator's forge settings (`[server.github_app]`, `[server.gitlab]`): what a project's forge may use.
    public let forges: ForgeSettings

    public init(
        store: any ServerStore, runStore: any RunStore, policy: ServerPolicy = ServerPolicy(),
        secrets: SecretBox? = nil,
        metricsToken: String? = nil, groupRoles: [String: OIDCSettings] = [:], forges: ForgeSettings = ForgeSettings()
    ) {
        self.forges = forges
        self.groupRoles = groupRoles
        self.store = store
        self.runStore = runStore
        self.policy = policy
        self.secrets = secrets
        self.metricsToken = metricsToken
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    public func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        addOperatorRoutes(to: router)
        // The API proper: each route behind the key its access needs, its errors as problem bodies.
        let api = router.group().add(middleware: ProblemResponses())
        let groups = Dictionary(
            uniqueKeysWithValues: [Access.read, .write, .admin].map {
                ($0, api.group().add(middleware: KeyAuthentication(store: store, access: $0)))
            })
        for route in Self.routes {
            groups[route.access]!.on(RouterPath(route.path), method: route.method) { request, context in
                try await route.handler(self, request, try context.call())
            }
        }
        addDeviceRoutes(to: router)
        addSCIMRoutes(to: router)
        addForgeRoutes(to: router)
        Self.refuseOtherMethods(on: router)
        return router
    }

    /// What the operator and the load balancer read: liveness, readiness, the contract and the metrics.
    func addOperatorRoutes(to router: Router<ServerContext>) {
        router.get("/healthz") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        // Ready when the store answers.
        router.get("/readyz") { _, _ in
            do {
                _ = try await store.stats()
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "ready")))
            } catch {
                return Problem(
                    .serviceUnavailable, "the store does not answer: \((error as? FerryError)?.message ?? "\(error)")"
                ).response
            }
        }
        router.get("/openapi.yaml") { _, _ in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
                let text = try? String(contentsOf: url, encoding: .utf8)
            else { return Problem(.internalServerError, "the OpenAPI document is missing from this build").response }
            return Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // Every tenant's counts and spend: for the operator's scraper, with the operator's token (`metrics.token` in the
        // data directory, or $FERRY_METRICS_TOKEN), never a tenant's key.
        router.get("/metrics") { request, _ in
            try await handle {
                guard let metricsToken, let header = request.headers[.authorization],
                    header.lowercased().hasPrefix("bearer "),
                    Self.constantTimeEqual(
                        String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), metricsToken)
                else {
                    throw Problem(
                        .unauthorized,
                        "/metrics takes the operator's metrics token (metrics.token in the server's data directory)")
                }
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: try await store.stats().prometheus)))
            }
        }
    }

    /// The document's pattern for `webhook_url`, exactly.
    nonisolated(unsafe) static let webhookURL = #/https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\/?&=+-]*)?/#

    /// A string field: absent is nil; present with another type is a 400.
    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        guard let value = body[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw Problem(.badRequest, "\"\(key)\" must be a string") }
        return text
    }

    /// A number field: absent is nil; present with another type is a 400.
    static func number(_ body: JSONValue, _ key: String) throws -> Double? {
        guard let value = body[key], value != .null else { return nil }
        guard case .number(let number) = value else { throw Problem(.badRequest, "\"\(key)\" must be a number") }
        return number
    }

    /// A whole-number field within bounds: absent is nil; anything else is a 400.
    static func integer(_ body: JSONValue, _ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let number = try number(body, key) else { return nil }
        guard number == number.rounded(), let value = Int(exactly: number), range.contains(value) else {
            throw Problem(
                .badRequest, "\"\(key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A query parameter `limit` within bounds, else a 400.
    static func limit(_ request: Request, default value: Int, max: Int) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return value }
        guard let limit = Int(text), (1...max).contains(limit) else {
            throw Problem(.badRequest, "\"limit\" must be a whole number from 1 to \(max)")
        }
        return limit
    }

    // MARK: - Plumbing

    /// The caller's principal for the surfaces that answer in their own error shapes (MCP, chat).
    func authorize(_ request: Request, access: Access) async throws -> Principal {
        try await KeyAuthentication.principal(request, store: store, access: access)
    }

    func json(_ request: Request) async throws -> JSONValue {
        // A JSON body says so (or says nothing): a form or text/plain post is not read as JSON.
        if let type = request.headers[.contentType] {
            let media =
                type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
                throw Problem(.unsupportedMediaType, "send the body as JSON with Content-Type: application/json")
            }
        }
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard let value = JSONValue.parse(String(buffer: buffer)), case .object = value else {
            throw Problem(.badRequest, "the body must be a JSON object")
        }
        return value
    }

    /// Runs a route that is not in `routes` (chat, models, metrics), answering what it throws as a problem body.
    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch { return Problem.response(for: error) }
    }

    static func respond(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.jsonString)))
    }
}
