import FerryCore
import FerryTesting
import Foundation
import JWTKit
import Testing

@testable import FerryForge

/// A GitHub App's JWT and its installation token's refresh, with a key made the way GitHub hands them out (PKCS#1
/// PEM) and the newer PKCS#8 form.
@Suite struct GitHubAppTests {
    static func key(traditional: Bool) async throws -> String {
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/openssl", ["genrsa"] + (traditional ? ["-traditional"] : []) + ["2048"])
        try #require(status == 0, "\(output)")
        return output
    }

    @Test(arguments: [true, false])
    func theAppsJWTIsSignedWithItsKeyAndLivesNineMinutes(traditional: Bool) async throws {
        let pem = try await Self.key(traditional: traditional)
        #expect(pem.contains(traditional ? "BEGIN RSA PRIVATE KEY" : "BEGIN PRIVATE KEY"))
        let now = Date()
        let token = try await GitHubAppRules.jwt(
            GitHubAppIdentity(appID: "123456", privateKeyPEM: pem, installationID: 7), now: now)
        let keys = JWTKeyCollection()
        await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256)
        let claims = try await keys.verify(token, as: GitHubAppRules.Claims.self)
        #expect(claims.iss.value == "123456")
        #expect(abs(claims.iat.value.timeIntervalSince(now) + 60) <= 1)
        #expect(claims.exp.value.timeIntervalSince(claims.iat.value) == 600, "within GitHub's ten minutes")
        var header = String(try #require(token.split(separator: ".").first))
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while header.count % 4 != 0 { header += "=" }
        let decoded = try #require(
            Data(base64Encoded: header).flatMap { JSONValue.parse(String(decoding: $0, as: UTF8.self)) })
        #expect(decoded["alg"] == "RS256", "\(decoded)")
        // Another key does not verify it.
        let other = JWTKeyCollection()
        await other.add(
            rsa: try Insecure.RSA.PrivateKey(pem: try await Self.key(traditional: true)), digestAlgorithm: .sha256)
        await #expect(throws: (any Error).self) { try await other.verify(token, as: GitHubAppRules.Claims.self) }
    }

    @Test func aBadKeyIsAClearConfigError() async {
        await #expect {
            try await GitHubAppRules.jwt(
                GitHubAppIdentity(appID: "1", privateKeyPEM: "not a key", installationID: 1), now: Date())
        } throws: { error in
            (error as? FerryError)?.code == .config
        }
    }

    @Test func anInstallationTokenIsRefreshedBeforeItExpires() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(GitHubAppRules.needsRefresh(expiresAt: nil, now: now))
        #expect(!GitHubAppRules.needsRefresh(expiresAt: now.addingTimeInterval(3600), now: now))
        #expect(GitHubAppRules.needsRefresh(expiresAt: now.addingTimeInterval(300), now: now), "five minutes ahead")
        #expect(GitHubAppRules.needsRefresh(expiresAt: now.addingTimeInterval(-1), now: now), "expired")
    }
}
