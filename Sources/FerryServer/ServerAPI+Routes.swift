import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The API's routes: one table, and the 405 answers derived from it.
extension ServerAPI {
    /// One route of the API: its method and path, what it asks of the caller's key, and what answers.
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var access: Access
        var handler: @Sendable (ServerAPI, Request, APICall) async throws -> Response
    }

    /// Every route under `/v1` (`docs/openapi.yaml` describes each).
    static let routes: [Route] = [
        Route(method: .get, path: "/v1/projects", access: .read) { try await $0.listProjects($1, $2.principal) },
        Route(method: .post, path: "/v1/projects", access: .write) {
            try await $0.createProject($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/projects/:id", access: .read) {
            try await $0.getProject($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/projects/:id/forge", access: .read) {
            try await $0.getForge($1, $2.principal, id: $2.id)
        },
        Route(method: .put, path: "/v1/projects/:id/forge", access: .admin) {
            try await $0.putForge($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .delete, path: "/v1/projects/:id/forge", access: .admin) {
            try await $0.deleteForge($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/projects/:id/watch", access: .read) {
            try await $0.getWatch($1, $2.principal, id: $2.id)
        },
        Route(method: .put, path: "/v1/projects/:id/watch", access: .admin) {
            try await $0.putWatch($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .delete, path: "/v1/projects/:id/watch", access: .admin) {
            try await $0.deleteWatch($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/tasks", access: .read) { try await $0.listTasks($1, $2.principal) },
        Route(method: .post, path: "/v1/tasks", access: .write) {
            try await $0.createTask($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/tasks/:id", access: .read) { try await $0.getTask($1, $2.principal, id: $2.id) },
        Route(method: .get, path: "/v1/tasks/:id/diff", access: .read) {
            try await $0.getDiff($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks/:id/events", access: .read) {
            try await $0.streamEvents($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks/:id/forge", access: .read) {
            try await $0.taskForge($1, $2.principal, id: $2.id)
        },
        Route(method: .get, path: "/v1/tasks/:id/deliveries", access: .read) {
            try await $0.taskDeliveries($1, $2.principal, id: $2.id)
        },
        Route(method: .post, path: "/v1/tasks/:id/cancel", access: .write) {
            try await $0.cancelTask($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .post, path: "/v1/tasks/:id/retry", access: .write) {
            try await $0.retryTask($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/budgets", access: .read) { try await $0.getBudgets($1, $2.principal) },
        Route(method: .put, path: "/v1/budgets/tenant", access: .admin) {
            try await $0.putBudget($1, $2.principal, nil, remote: $2.remote)
        },
        Route(method: .put, path: "/v1/budgets/projects/:id", access: .admin) {
            try await $0.putBudget($1, $2.principal, kind: "project", $2.id, remote: $2.remote)
        },
        Route(method: .put, path: "/v1/budgets/people/:id", access: .admin) {
            try await $0.putBudget($1, $2.principal, kind: "person", $2.id, remote: $2.remote)
        },
        Route(method: .put, path: "/v1/budgets/groups/:id", access: .admin) {
            try await $0.putBudget($1, $2.principal, kind: "group", $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/groups", access: .admin) { try await $0.listGroups($1, $2.principal) },
        Route(method: .get, path: "/v1/me", access: .read) { try await $0.whoAmI($1, $2.principal) },
        Route(method: .get, path: "/v1/people", access: .admin) { try await $0.listPeople($1, $2.principal) },
        Route(method: .post, path: "/v1/people", access: .admin) {
            try await $0.createPerson($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/people/:id", access: .admin) {
            try await $0.getPerson($1, $2.principal, id: $2.id)
        },
        Route(method: .patch, path: "/v1/people/:id", access: .admin) {
            try await $0.updatePerson($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/keys", access: .admin) { try await $0.listKeys($1, $2.principal) },
        Route(method: .post, path: "/v1/keys", access: .admin) {
            try await $0.createKey($1, $2.principal, remote: $2.remote)
        },
        Route(method: .delete, path: "/v1/keys/:id", access: .admin) {
            try await $0.revokeKey($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .post, path: "/v1/keys/:id/rotate", access: .admin) {
            try await $0.rotateKey($1, $2.principal, id: $2.id, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/audit", access: .admin) { try await $0.auditLog($1, $2.principal) },
        Route(method: .get, path: "/v1/audit/export", access: .admin) {
            try await $0.auditExport($1, $2.principal)
        },
        Route(method: .get, path: "/v1/audit/check", access: .admin) { try await $0.auditCheck($1, $2.principal) },
        Route(method: .get, path: "/v1/audit/sink", access: .admin) { try await $0.getAuditSink($1, $2.principal) },
        Route(method: .put, path: "/v1/audit/sink", access: .admin) {
            try await $0.putAuditSink($1, $2.principal, remote: $2.remote)
        },
        Route(method: .delete, path: "/v1/audit/sink", access: .admin) {
            try await $0.deleteAuditSink($1, $2.principal, remote: $2.remote)
        },
        Route(method: .get, path: "/v1/evals", access: .read) { try await $0.listEvals($1, $2.principal) },
        Route(method: .post, path: "/v1/evals", access: .write) {
            try await $0.importEval($1, $2.principal, remote: $2.remote)
        },
    ]

    /// Each path and the methods it serves; any other method gets 405 with `Allow`, not 404.
    static var methods: [(path: String, allowed: [HTTPRequest.Method])] {
        var paths = ["/healthz", "/readyz", "/metrics", "/openapi.yaml"]
        var allowed: [String: [HTTPRequest.Method]] = Dictionary(uniqueKeysWithValues: paths.map { ($0, [.get]) })
        for path in ["/oauth/device/code", "/oauth/device/token", "/forge/:project"] {
            paths.append(path)
            allowed[path] = [.post]
        }
        for route in routes {
            if allowed[route.path] == nil { paths.append(route.path) }
            allowed[route.path, default: []].append(route.method)
        }
        return paths.map { ($0, allowed[$0]!) }
    }

    static func refuseOtherMethods(on router: Router<ServerContext>) {
        let all: [HTTPRequest.Method] =
            [.get, .post, .put, .delete, .patch, .options, .trace, .head, .connect]
            + [HTTPRequest.Method("QUERY")!]
        for (path, allowed) in methods {
            // HEAD is answered for GET routes by the server itself.
            for method in all where !allowed.contains(method) && !(method == .head && allowed.contains(.get)) {
                router.on(RouterPath(path), method: method) { _, _ in
                    var response = Problem(
                        .methodNotAllowed, "\(path) takes \(allowed.map(\.rawValue).joined(separator: ", "))"
                    ).response
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
            }
        }
    }
}
