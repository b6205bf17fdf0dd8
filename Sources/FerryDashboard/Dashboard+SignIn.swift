import Crypto
import FerryCore
import FerryServer
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird

/// Sign-in through a tenant's identity provider: OpenID Connect's authorization code flow with PKCE. The
/// sign-in's state (tenant, nonce, PKCE verifier, where to go next) travels sealed with the server's secret key in
/// the `state` parameter, so any of the team's API servers can finish it; a cookie holding its hash ties it to the
/// browser that started it (no login CSRF).
extension Dashboard {
    static let ssoCookie = "ferry_sso"
    static let ssoSeconds = 600.0

    struct PendingSignIn: Codable {
        var tenant: String
        var nonce: String
        var verifier: String
        var next: String
        var redirectURI: String
        var expires: Double
    }

    func addSignInRoutes(to router: Router<ServerContext>) {
        router.get("/login/sso/:tenant") { request, context in
            try await handle { try await startSignIn(request, tenant: context.parameters.get("tenant") ?? "") }
        }
        router.get("/login/callback") { request, context in
            try await handle { try await finishSignIn(request, remote: context.remote) }
        }
    }

    func startSignIn(_ request: Request, tenant: String) async throws -> Response {
        guard let provider = providers[tenant], let secrets else {
            throw page(.notFound, "This server has no identity provider for \(tenant).")
        }
        var next = request.uri.queryParameters.get("next").map { String($0) } ?? "/tasks"
        if !Self.isLocalPath(next) { next = "/tasks" }
        let (verifier, challenge) = SignInRules.pkce()
        let nonce = ServerIDs.secret("")
        let redirectURI = provider.settings.redirectURI ?? ServerAPI.origin(request) + "/login/callback"
        let pending = PendingSignIn(
            tenant: tenant, nonce: nonce, verifier: verifier, next: next, redirectURI: redirectURI,
            expires: Date().timeIntervalSince1970 + Self.ssoSeconds)
        let state = try secrets.seal(String(decoding: try JSONEncoder().encode(pending), as: UTF8.self))
        let url: String
        do {
            url = try await provider.authorizationURL(
                state: state, nonce: nonce, challenge: challenge, redirectURI: redirectURI)
        } catch let refusal as SignInRefusal {
            throw page(.badGateway, "The identity provider cannot be reached: \(refusal.description).")
        }
        var response = Self.redirect(url)
        response.headers[.setCookie] = Self.ssoCookie(
            Self.stateHash(state), request: request, maxAge: Int(Self.ssoSeconds))
        return response
    }

    func finishSignIn(_ request: Request, remote: String?) async throws -> Response {
        let query = request.uri.queryParameters
        if let error = query.get("error") {
            let detail = query.get("error_description").map { ": \($0)" } ?? ""
            return try await loginPage(
                request, error: "The identity provider said \(error)\(detail).", status: .unauthorized)
        }
        guard let state = query.get("state").map({ String($0) }), let code = query.get("code").map({ String($0) }),
            let cookie = Self.cookieValue(request, Self.ssoCookie),
            Self.constantTimeEqual(cookie, Self.stateHash(state)), let secrets,
            let opened = try? secrets.open(state),
            let pending = try? JSONDecoder().decode(PendingSignIn.self, from: Data(opened.utf8)),
            pending.expires > Date().timeIntervalSince1970
        else {
            return try await loginPage(
                request, error: "That sign-in did not start in this browser, or took too long. Start again.",
                status: .badRequest)
        }
        guard let provider = providers[pending.tenant] else {
            throw page(.notFound, "This server has no identity provider for \(pending.tenant).")
        }
        let api = ServerAPI(store: store, runStore: runStore)
        let signedIn: ServerAPI.SignedIn
        do {
            let identity = try await provider.signIn(
                code: code, verifier: pending.verifier, nonce: pending.nonce, redirectURI: pending.redirectURI,
                secret: provider.settings.clientSecret, now: Date())
            signedIn = try await api.signIn(
                identity, provider: provider, remote: remote, now: Date(), lifetime: Self.sessionSeconds)
        } catch let refusal as SignInRefusal {
            var response = try await loginPage(
                request, error: "Sign-in refused: \(refusal.description).", status: .forbidden)
            response.headers[.setCookie] = Self.ssoCookie("", request: request, maxAge: 0)
            return response
        }
        var response = Self.redirect(pending.next)
        response.headers.append(
            HTTPField(
                name: .setCookie,
                value: Self.sessionCookie(signedIn.token, request: request, maxAge: Int(Self.sessionSeconds))))
        response.headers.append(HTTPField(name: .setCookie, value: Self.ssoCookie("", request: request, maxAge: 0)))
        return response
    }

    static func stateHash(_ state: String) -> String {
        SHA256.hash(data: Data(state.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func ssoCookie(_ value: String, request: Request, maxAge: Int) -> String {
        let secure = ServerAPI.origin(request).hasPrefix("https:")
        return "\(ssoCookie)=\(value); Path=/login; HttpOnly; SameSite=Lax; Max-Age=\(maxAge)"
            + (secure ? "; Secure" : "")
    }

}
