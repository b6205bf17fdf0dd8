import FerryCore
import Foundation
import JWTKit

/// A GitHub App's identity: its id, its private key (the PEM GitHub lets an owner download; kept by the server only)
/// and the installation on the team's repositories.
public struct GitHubAppIdentity: Sendable {
    public var appID: String
    public var privateKeyPEM: String
    public var installationID: Int

    public init(appID: String, privateKeyPEM: String, installationID: Int) {
        self.appID = appID
        self.privateKeyPEM = privateKeyPEM
        self.installationID = installationID
    }
}

/// How a GitHub App authenticates (GitHub's "Authenticating as a GitHub App"), pure: a JWT signed with the app's
/// key (RS256), issued a minute in the past against clock drift and living nine minutes (GitHub allows ten), is
/// exchanged for an installation token that lives an hour; a token is refreshed five minutes before it expires, so
/// no call starts with one about to die.
public enum GitHubAppRules {
    public static let backdate: Double = 60
    public static let lifetime: Double = 540
    public static let refreshMargin: Double = 300

    public struct Claims: JWTPayload, Equatable {
        public var iat: IssuedAtClaim
        public var exp: ExpirationClaim
        public var iss: IssuerClaim

        public func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    public static func claims(appID: String, now: Date) -> Claims {
        // Whole seconds: GitHub reads integers.
        let issued = Date(timeIntervalSince1970: (now.timeIntervalSince1970 - backdate).rounded(.down))
        return Claims(
            iat: IssuedAtClaim(value: issued),
            exp: ExpirationClaim(value: issued.addingTimeInterval(backdate + lifetime)),
            iss: IssuerClaim(value: appID))
    }

    /// Whether a token expiring at `expiresAt` must be replaced before a call made at `now`.
    public static func needsRefresh(expiresAt: Date?, now: Date) -> Bool {
        guard let expiresAt else { return true }
        return expiresAt.timeIntervalSince(now) <= refreshMargin
    }

    /// The app's JWT, signed with its private key.
    public static func jwt(_ identity: GitHubAppIdentity, now: Date) async throws -> String {
        let key: Insecure.RSA.PrivateKey
        do { key = try Insecure.RSA.PrivateKey(pem: identity.privateKeyPEM) } catch {
            throw FerryError(.config, "the GitHub App's private key is not an RSA key in PEM form: \(error)")
        }
        let keys = JWTKeyCollection()
        await keys.add(rsa: key, digestAlgorithm: .sha256)
        return try await keys.sign(claims(appID: identity.appID, now: now))
    }
}
