import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The device authorization grant (RFC 8628) for `ferry login`: the CLI asks for a code, the person approves it in a
/// signed-in browser (through the company's identity provider), and the CLI's poll gets a personal key, once. No
/// secret is copied by hand.
extension ServerAPI {
    static let deviceSeconds = 600.0
    static let deviceKeyDays = 90.0

    func addDeviceRoutes(to router: Router<ServerContext>) {
        router.post("/oauth/device/code") { request, _ in
            try await oauth { try await deviceCode(request) }
        }
        router.post("/oauth/device/token") { request, context in
            try await oauth { try await deviceToken(request, remote: context.remote) }
        }
    }

    /// An OAuth-shaped answer: JSON, errors as `{"error": …}` with 400 (RFC 6749 5.2).
    func oauth(_ body: () async throws -> JSONValue) async throws -> Response {
        do {
            return Self.respond(.ok, try await body())
        } catch let error as OAuthError {
            var fields: [String: JSONValue] = ["error": .string(error.code)]
            if let description = error.description { fields["error_description"] = .string(description) }
            return Self.respond(error.code == "invalid_client" ? .unauthorized : .badRequest, .object(fields))
        }
    }

    struct OAuthError: Error {
        var code: String
        var description: String?
    }

    /// The form fields of an OAuth request (`application/x-www-form-urlencoded`, as RFC 8628 sends them).
    static func oauthForm(_ request: Request) async throws -> [String: String] {
        let media = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard media == "application/x-www-form-urlencoded" else {
            throw OAuthError(code: "invalid_request", description: "send the fields as a form")
        }
        let text = String(buffer: try await request.body.collect(upTo: 1 << 16))
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    func deviceCode(_ request: Request) async throws -> JSONValue {
        let form = try await Self.oauthForm(request)
        guard form["client_id"] == "ferry-cli" else {
            throw OAuthError(code: "invalid_client", description: "the client_id is ferry-cli")
        }
        let client = String((form["name"] ?? "ferry login").prefix(100)).filter { !$0.isNewline }
        let deviceCode = ServerIDs.secret("fd_")
        let now = Date()
        var grant = DeviceGrant(
            deviceCodeHash: ServerIDs.hash(deviceCode), userCode: DeviceGrantRules.newUserCode(), client: client,
            createdAt: now, expiresAt: now.addingTimeInterval(Self.deviceSeconds))
        do {
            try await store.createDeviceGrant(grant)
        } catch {
            // A user code already taken (1 in 25 billion): one more draw.
            grant.userCode = DeviceGrantRules.newUserCode()
            try await store.createDeviceGrant(grant)
        }
        let page = Self.origin(request) + "/device"
        return [
            "device_code": .string(deviceCode), "user_code": .string(grant.userCode),
            "verification_uri": .string(page),
            "verification_uri_complete": .string(page + "?code=" + grant.userCode),
            "expires_in": .number(Self.deviceSeconds), "interval": .number(grant.interval),
        ]
    }

    func deviceToken(_ request: Request, remote: String?) async throws -> JSONValue {
        let form = try await Self.oauthForm(request)
        guard form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code" else {
            throw OAuthError(code: "unsupported_grant_type", description: nil)
        }
        guard let deviceCode = form["device_code"],
            let poll = try await store.pollDeviceGrant(deviceCodeHash: ServerIDs.hash(deviceCode), now: Date())
        else { throw OAuthError(code: "invalid_grant", description: "unknown device code") }
        switch poll {
        case .pending: throw OAuthError(code: "authorization_pending", description: nil)
        case .slowDown: throw OAuthError(code: "slow_down", description: nil)
        case .expired: throw OAuthError(code: "expired_token", description: "start again with ferry login")
        case .denied: throw OAuthError(code: "access_denied", description: "the sign-in was refused in the browser")
        case .issue(let tenantID, let personID):
            guard let person = try await store.person(personID, tenantID: tenantID), person.active else {
                throw OAuthError(code: "access_denied", description: "the account is deactivated")
            }
            let now = Date()
            let expires = now.addingTimeInterval(Self.deviceKeyDays * 86_400)
            let (id, key) = try await store.createKey(
                NewKey(role: person.role, ownerID: person.id, name: "ferry login", expiresAt: expires),
                tenantID: tenantID, now: now)
            let principal = Principal(tenantID: tenantID, role: person.role, keyID: id, personID: person.id)
            try await record(
                principal, "key.create", id, "ferry login (device code), role \(person.role.rawValue)", remote,
                surface: .signin)
            return [
                "access_token": .string(key), "token_type": "Bearer",
                "expires_in": .number((Self.deviceKeyDays * 86_400).rounded()), "key_id": .string(id),
                "role": .string(person.role.rawValue), "person": .string(person.name),
            ]
        }
    }

    /// This server's address as the client reached it (behind a proxy, the proxy's scheme).
    package static func origin(_ request: Request) -> String {
        let https =
            request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
            || request.uri.scheme?.rawValue == "https"
        return (https ? "https://" : "http://") + (request.head.authority ?? "127.0.0.1")
    }
}
