import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird

/// What a route asks of the key that calls it.
public enum Access: Sendable, Hashable {
    /// Any live key of the tenant, a viewer's too.
    case read
    /// A key that may change things (not a viewer's).
    case write
    /// An admin key.
    case admin
}

/// The API's authentication, as middleware: a bearer API key, checked against the store, whose role must allow the
/// route's `access`. The principal it finds is the request's (`ServerContext.principal`); without one the handler
/// never runs, and the caller gets a problem body (401 for no key or an unknown or revoked one, 403 for a role).
struct KeyAuthentication: RouterMiddleware {
    typealias Context = ServerContext
    let store: any TenantStore
    let access: Access

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        do {
            context.principal = try await Self.principal(request, store: store, access: access)
        } catch let problem as Problem {
            return problem.response
        } catch {
            return Problem(.serviceUnavailable, "the key could not be checked: \(PublicError.message(error))").response
        }
        return try await next(request, context)
    }

    /// The key's principal, if its role allows `access`; a `Problem` otherwise. (The MCP and chat surfaces, which
    /// answer in their own error shapes, call this directly.)
    static func principal(_ request: Request, store: any TenantStore, access: Access) async throws -> Principal {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw Problem(.unauthorized, "send an API key: Authorization: Bearer KEY")
        }
        guard
            let principal = try await store.authenticate(
                String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        else { throw Problem(.unauthorized, "the API key is not valid (unknown or revoked)") }
        switch access {
        case .read: break
        case .write:
            if !principal.role.canWrite { throw Problem(.forbidden, "a viewer key cannot change anything") }
        case .admin:
            if principal.role != .admin { throw Problem(.forbidden, "only an admin key can do this") }
        }
        return principal
    }
}

/// Turns what a JSON route throws into its RFC 9457 problem body, so handlers only throw.
struct ProblemResponses: RouterMiddleware {
    typealias Context = ServerContext

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Problem.response(for: error)
        }
    }
}
