import FerryAssist
import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import MCP
import NIOCore

/// `/mcp`: Ferry's MCP server over streamable HTTP (the MCP swift-sdk's stateful transport), behind the API's keys.
/// Each session belongs to the key that opened it: its tools see that key's tenant only, and a request with another
/// key (or none) for the session is refused. Idle sessions are closed after an hour.
actor McpSessions {
    struct Session {
        var principal: Principal
        var transport: StatefulHTTPServerTransport
        var server: Server
        var used: ContinuousClock.Instant
    }

    let assist: ServerAssist
    private var sessions: [String: Session] = [:]
    static let idleLimit: Duration = .seconds(3600)
    static let maxSessions = 1_000
    /// One tenant holds at most this many at once, so it cannot take every session of the server.
    static let maxSessionsPerTenant = 50

    init(assist: ServerAssist) {
        self.assist = assist
    }

    func handle(_ request: MCP.HTTPRequest, principal: Principal) async -> MCP.HTTPResponse {
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard var session = sessions[id], session.principal.keyID == principal.keyID else {
                return .error(statusCode: 404, .invalidRequest("Not Found: no session \(id) for this key"))
            }
            session.used = .now
            sessions[id] = session
            let response = await session.transport.handleRequest(request)
            if request.method.uppercased() == "DELETE" {
                sessions[id] = nil
                await session.server.stop()
            }
            return response
        }
        guard request.method.uppercased() == "POST" else {
            return .error(statusCode: 400, .invalidRequest("Bad Request: Mcp-Session-Id header is required"))
        }
        await closeIdle()
        // A tenant at its cap gives up its least recently used session (its client gets 404 and starts a new one, as
        // the protocol says), so one tenant can neither take the server's sessions nor lock itself out.
        let own = sessions.filter { $0.value.principal.tenantID == principal.tenantID }
        if own.count >= Self.maxSessionsPerTenant, let oldest = own.min(by: { $0.value.used < $1.value.used }) {
            sessions[oldest.key] = nil
            await oldest.value.server.stop()
        }
        guard sessions.count < Self.maxSessions else {
            return .error(statusCode: 503, .internalError("too many MCP sessions; close some and retry"))
        }
        let transport = StatefulHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .sseRequired), ContentTypeValidator(), ProtocolVersionValidator(),
                SessionValidator(),
            ]))
        let server = await FerryMCP.makeServer(assist.environment(for: principal))
        do {
            try await server.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("the MCP session did not start: \(error)"))
        }
        let response = await transport.handleRequest(request)
        if let id = response.headers[HTTPHeaderName.sessionID] {
            sessions[id] = Session(principal: principal, transport: transport, server: server, used: .now)
        } else {
            await server.stop()
        }
        return response
    }

    private func closeIdle() async {
        let now = ContinuousClock.now
        for (id, session) in sessions where now - session.used > Self.idleLimit {
            sessions[id] = nil
            await session.server.stop()
        }
    }

    func shutdown() async {
        for session in sessions.values { await session.server.stop() }
        sessions = [:]
    }
}

extension ServerAPI {
    /// Adapts Hummingbird's request to the SDK's and its answer (JSON, 202, or an SSE stream) back.
    static func mcpRoute(_ sessions: McpSessions, api: ServerAPI, request: Request) async throws -> Response {
        let principal: Principal
        do {
            principal = try await api.authorize(request, access: .read)
        } catch let problem as Problem {
            return problem.response
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        var body = Data()
        var tooLarge = false
        if request.method == .post {
            do {
                body = Data(try await request.body.collect(upTo: 4 << 20).readableBytesView)
            } catch is NIOTooManyBytesError {
                tooLarge = true
            }
        }
        // A body over the limit is a JSON-RPC error like the transport's own (413), not the router's plain one.
        let response =
            tooLarge
            ? MCP.HTTPResponse.error(statusCode: 413, .invalidRequest("the request body is larger than 4 MB"))
            : await sessions.handle(
                MCP.HTTPRequest(
                    method: request.method.rawValue, headers: headers, body: body.isEmpty ? nil : body,
                    path: request.uri.path),
                principal: principal)
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        let status = HTTPTypes.HTTPResponse.Status(code: response.statusCode)
        if case .stream(let stream, _) = response {
            return Response(
                status: status, headers: fields,
                body: ResponseBody { writer in
                    do {
                        for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                    } catch {}
                    try await writer.finish(nil)
                })
        }
        return Response(
            status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: response.bodyData ?? Data())))
    }
}
