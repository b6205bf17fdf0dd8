import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A request's context: the router's, and the client's address for the audit log.
public struct ServerContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The key's principal, set by `KeyAuthentication` on the routes behind it.
    public var principal: Principal?

    package var remote: String? { remoteAddress?.ipAddress }

    /// What a route's handler is given: who calls, from where, and the path's `:id`.
    func call() throws -> APICall {
        guard let principal else { throw Problem(.unauthorized, "send an API key: Authorization: Bearer KEY") }
        return APICall(principal: principal, remote: remote, id: parameters.get("id") ?? "")
    }
}

/// A call of an authenticated route.
struct APICall: Sendable {
    var principal: Principal
    var remote: String?
    /// The path's `:id`, or empty.
    var id: String
}

/// An RFC 9457 problem: `application/problem+json` with a status, a title and what went wrong.
package struct Problem: Error, CustomStringConvertible {
    package var status: HTTPResponse.Status
    package var detail: String
    /// Members beyond the standard ones (RFC 9457 extensions), e.g. a budget's figures.
    var extra: [String: JSONValue]

    package init(_ status: HTTPResponse.Status, _ detail: String, extra: [String: JSONValue] = [:]) {
        self.status = status
        self.detail = detail
        self.extra = extra
    }

    /// What a non-HTTP surface (an MCP tool's error) shows.
    package var description: String { detail }

    package var response: Response {
        var fields: [String: JSONValue] = [
            "type": "about:blank", "title": .string(status.reasonPhrase), "status": .number(Double(status.code)),
            "detail": .string(detail),
        ]
        fields.merge(extra) { old, _ in old }
        let body = JSONValue.object(fields)
        return Response(
            status: status, headers: [.contentType: "application/problem+json"],
            body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
    }

    /// The problem body for anything a route throws: a `Problem` as it is, Hummingbird's own errors with their
    /// status (a body over the limit is 413, not a server error), anything else a 500 without the server's paths.
    package static func response(for error: any Error) -> Response {
        switch error {
        case let problem as Problem:
            return problem.response
        case let error as any HTTPResponseError:
            return Problem(
                error.status, error.status == .contentTooLarge ? "the body is too large" : error.status.reasonPhrase
            ).response
        default:
            return Problem(.internalServerError, PublicError.message(error)).response
        }
    }
}

/// What a tenant is told of an error the server did not word for it: its message, with the server's own paths
/// (data directory, clones, indexes, the operator's roots) taken out. The whole error goes to the server's log.
package enum PublicError {
    nonisolated(unsafe) static let absolutePath = #/(^|[\s'"(=])/[^\s'"),;:]+/#

    package static func message(_ error: any Error) -> String {
        let text: String
        switch error {
        case let problem as Problem: return problem.detail
        case let ferry as FerryError: text = ferry.message
        default: text = String(describing: error)
        }
        return text.replacing(absolutePath) { match in match.output.1 + "…" }
    }
}

/// A tenant-facing error whose words are already safe to show.
struct PublicFailure: Error, CustomStringConvertible {
    var description: String
}

/// A finished response thrown to end a handler early (a redirect, a refusal already written).
extension Response: @retroactive Error {}
