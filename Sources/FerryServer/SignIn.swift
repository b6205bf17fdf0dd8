import AsyncHTTPClient
import Crypto
import FerryAgent
import FerryCore
import FerryServerStore
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Why a sign-in through the identity provider was refused, in words a person can act on.
public struct SignInRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Who the identity provider says signed in: the verified id token's claims Ferry uses.
public struct SignedInIdentity: Sendable, Hashable {
    public var subject: String
    public var email: String?
    public var name: String?
    public var groups: [String]
}

/// The sign-in rules, pure: what makes an id token acceptable (OpenID Connect Core 3.1.3.7), and which role a
/// person's groups give.
public enum SignInRules {
    /// The id token's claims as read (its signature already checked).
    public struct Claims: Sendable, Hashable {
        public var issuer: String
        public var audience: [String]
        public var authorizedParty: String?
        public var expires: Date
        public var issuedAt: Date?
        public var nonce: String?

        public init(
            issuer: String, audience: [String], authorizedParty: String?, expires: Date, issuedAt: Date?,
            nonce: String?
        ) {
            self.issuer = issuer
            self.audience = audience
            self.authorizedParty = authorizedParty
            self.expires = expires
            self.issuedAt = issuedAt
            self.nonce = nonce
        }
    }

    /// How far apart the provider's clock and ours may be.
    public static let skew: Double = 60

    public static func check(_ claims: Claims, issuer: String, clientID: String, nonce: String, now: Date)
        throws(SignInRefusal)
    {
        guard claims.issuer == issuer else {
            throw SignInRefusal("the token was issued by \(claims.issuer), not the configured \(issuer)")
        }
        guard claims.audience.contains(clientID) else {
            throw SignInRefusal("the token is for another application (\(claims.audience.joined(separator: ", ")))")
        }
        if claims.audience.count > 1 || claims.authorizedParty != nil, claims.authorizedParty != clientID {
            throw SignInRefusal("the token was handed to another application (azp)")
        }
        guard claims.expires.timeIntervalSince(now) > -skew else { throw SignInRefusal("the token has expired") }
        if let issued = claims.issuedAt, issued.timeIntervalSince(now) > skew {
            throw SignInRefusal("the token was issued in the future; check the clocks")
        }
        guard let got = claims.nonce, got == nonce else {
            throw SignInRefusal("the token does not answer this sign-in (nonce)")
        }
    }

    /// The highest role the person's groups give, else the default; nil when neither gives one.
    public static func role(groups: [String], settings: OIDCSettings) -> Role? {
        let have = Set(groups)
        if !have.isDisjoint(with: settings.adminGroups) { return .admin }
        if !have.isDisjoint(with: settings.memberGroups) { return .member }
        if !have.isDisjoint(with: settings.viewerGroups) { return .viewer }
        return settings.defaultRole.flatMap(Role.init(rawValue:))
    }

    /// A PKCE verifier (RFC 7636: 43 characters from the unreserved set) and its S256 challenge.
    public static func pkce() -> (verifier: String, challenge: String) {
        let verifier = base64URL(Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
        return (verifier, base64URL(Data(SHA256.hash(data: Data(verifier.utf8)))))
    }

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// One tenant's identity provider: its discovery document and signing keys (cached; the keys fetched again when a
/// token names one not seen yet, which is how a provider's key rotation arrives), the authorization request, the
/// code exchange and the id token's check.
public actor OIDCProvider {
    public nonisolated let tenant: String
    public nonisolated let settings: OIDCSettings
    let http: HTTPClient
    private var discovered: Discovery?
    private var keys = JWTKeyCollection()
    private var keysFetched: Date?

    struct Discovery: Decodable, Sendable {
        var issuer: String
        var authorizationEndpoint: String
        var tokenEndpoint: String
        var jwksURI: String

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case jwksURI = "jwks_uri"
        }
    }

    struct Payload: JWTPayload {
        var iss: String
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim?
        var sub: String
        var nonce: String?
        var azp: String?

        /// The rules are checked by `SignInRules.check`, with the values this sign-in expects.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    public init(tenant: String, settings: OIDCSettings) throws {
        self.tenant = tenant
        self.settings = settings
        http = try Self.client(trusting: settings.caFile)
    }

    /// One client per set of trusted authorities, for the process's life (providers are made at start).
    private static let clients = Mutex<[String: HTTPClient]>([:])

    static func client(trusting caFile: String?) throws -> HTTPClient {
        guard let caFile else { return .shared }
        return try clients.withLock { clients in
            if let client = clients[caFile] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw FerryError(
                    .config, "the identity provider's ca_file \(caFile) holds no PEM certificate: \(error)")
            }
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
            clients[caFile] = client
            return client
        }
    }

    var issuer: String { settings.issuer.hasSuffix("/") ? String(settings.issuer.dropLast()) : settings.issuer }

    func discovery() async throws -> Discovery {
        if let discovered { return discovered }
        let document: Discovery = try await get(issuer + "/.well-known/openid-configuration")
        // The document must be the configured issuer's own (OpenID Connect Discovery 4.3).
        guard document.issuer == settings.issuer || document.issuer == issuer else {
            throw SignInRefusal(
                "the identity provider's discovery document names the issuer \(document.issuer), not \(settings.issuer)"
            )
        }
        discovered = document
        return document
    }

    /// Where to send the browser: the provider's authorization endpoint with this sign-in's state, nonce and PKCE
    /// challenge.
    public func authorizationURL(state: String, nonce: String, challenge: String, redirectURI: String) async throws
        -> String
    {
        let endpoint = try await discovery().authorizationEndpoint
        guard var components = URLComponents(string: endpoint) else {
            throw SignInRefusal("the authorization endpoint is not a URL")
        }
        let existing = components.queryItems ?? []
        components.queryItems =
            existing + [
                URLQueryItem(name: "response_type", value: "code"),
                URLQueryItem(name: "client_id", value: settings.clientID),
                URLQueryItem(name: "redirect_uri", value: redirectURI),
                URLQueryItem(name: "scope", value: settings.scopes.joined(separator: " ")),
                URLQueryItem(name: "state", value: state),
                URLQueryItem(name: "nonce", value: nonce),
                URLQueryItem(name: "code_challenge", value: challenge),
                URLQueryItem(name: "code_challenge_method", value: "S256"),
            ]
        // A `+` in a value would read as a space; encode it too.
        let query = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components.percentEncodedQuery = query
        guard let url = components.string else { throw SignInRefusal("the authorization endpoint is not a URL") }
        return url
    }

    /// Exchanges the code for the person's identity: the token endpoint's id token, its signature checked against
    /// the provider's keys and its claims against `SignInRules`.
    public func signIn(code: String, verifier: String, nonce: String, redirectURI: String, secret: String?, now: Date)
        async throws -> SignedInIdentity
    {
        let endpoint = try await discovery().tokenEndpoint
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", verifier),
        ]
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if let secret {
            let pair = Self.formEncode(settings.clientID) + ":" + Self.formEncode(secret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        } else {
            form.append(("client_id", settings.clientID))
        }
        request.body = .bytes(
            ByteBuffer(string: form.map { Self.formEncode($0.0) + "=" + Self.formEncode($0.1) }.joined(separator: "&")))
        let response = try await http.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let reply = JSONValue.parse(String(buffer: body)), let idToken = reply["id_token"]?.stringValue
        else {
            let reason =
                JSONValue.parse(String(buffer: body))?["error"]?.stringValue ?? "status \(response.status.code)"
            throw SignInRefusal("the identity provider refused the code (\(reason))")
        }
        return try await verify(idToken, nonce: nonce, now: now)
    }

    /// Checks an id token: its signature with the provider's published keys (fetched again when the token names a
    /// key not held), then its claims.
    public func verify(_ idToken: String, nonce: String, now: Date) async throws -> SignedInIdentity {
        let payload: Payload
        do {
            var fetched = false
            if keysFetched == nil {
                try await fetchKeys()
                fetched = true
            }
            do {
                payload = try await keys.verify(idToken, as: Payload.self)
            } catch  where !fetched {
                // Not verified with the keys held: the provider may have rotated its key. Its published keys are
                // fetched again, once. (Tokens reach here only from the provider's own token endpoint, so this cannot
                // be driven from outside.)
                try await fetchKeys()
                payload = try await keys.verify(idToken, as: Payload.self)
            }
        } catch let refusal as SignInRefusal {
            throw refusal
        } catch let error as JWTError where error.errorType == .unknownKID {
            throw SignInRefusal("the token is signed with a key the identity provider does not publish")
        } catch {
            throw SignInRefusal("the token's signature does not check out (\(error))")
        }
        try SignInRules.check(
            SignInRules.Claims(
                issuer: payload.iss, audience: payload.aud.value, authorizedParty: payload.azp,
                expires: payload.exp.value, issuedAt: payload.iat?.value, nonce: payload.nonce),
            issuer: settings.issuer, clientID: settings.clientID, nonce: nonce, now: now)
        // The other claims, read from the checked payload: the groups claim's name is the operator's.
        let parts = idToken.split(separator: ".")
        let claims = parts.count == 3 ? Self.decodeSegment(parts[1]) : .null
        var groups: [String] = []
        if case .array(let items)? = claims[settings.groupsClaim] {
            groups = items.compactMap(\.stringValue)
        } else if let single = claims[settings.groupsClaim]?.stringValue {
            groups = [single]
        }
        return SignedInIdentity(
            subject: payload.sub, email: claims["email"]?.stringValue,
            name: claims["name"]?.stringValue ?? claims["preferred_username"]?.stringValue, groups: groups)
    }

    func fetchKeys() async throws {
        let jwks: JWKS = try await get(try await discovery().jwksURI)
        let fresh = JWTKeyCollection()
        for key in jwks.keys where key.keyIdentifier != nil {
            // A key of a type this build cannot use (an encryption key, say) is skipped, not fatal.
            try? await fresh.add(jwk: key)
        }
        keys = fresh
        keysFetched = Date()
    }

    func get<T: Decodable>(_ url: String) async throws -> T {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(15))
        } catch {
            throw SignInRefusal("the identity provider at \(url) did not answer (\(error))")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw SignInRefusal("the identity provider answered \(response.status.code) for \(url)")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch {
            throw SignInRefusal("the identity provider's answer at \(url) is not what OpenID Connect says")
        }
    }

    static func decodeSegment(_ segment: Substring) -> JSONValue {
        var text = segment.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return .null }
        return JSONValue.parse(String(decoding: data, as: UTF8.self)) ?? .null
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
