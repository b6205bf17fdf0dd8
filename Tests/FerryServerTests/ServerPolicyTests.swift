import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The rules for what a tenant may point the server at, without a server: addresses, paths, sealed secrets and the
/// words a failed delivery is given.
@Suite struct ServerPolicyTests {
    @Test func onlyPublicUnicastAddressesPassByDefault() {
        let egress = EgressPolicy()
        for address in [
            "127.0.0.1", "127.255.255.254", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1",
            "169.254.169.254", "100.64.0.1", "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1", "::1", "::",
            "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "fd00::1", "fe80::1", "ff02::1",
            "2001:db8::1", "not an address", "",
        ] {
            #expect(!egress.permits(address), "\(address)")
        }
        for address in [
            "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "140.82.112.3", "2606:4700:4700::1111", "::ffff:8.8.8.8",
        ] {
            #expect(egress.permits(address), "\(address)")
        }
        // The operator's allow-list: blocks and single addresses, IPv4 checked inside IPv4-mapped IPv6.
        let allowed = EgressPolicy(allowed: ["10.20.0.0/16", "127.0.0.2", "fd12::/16"])
        #expect(allowed.permits("10.20.9.9") && allowed.permits("::ffff:10.20.0.1") && allowed.permits("127.0.0.2"))
        #expect(allowed.permits("fd12:3::1"))
        #expect(!allowed.permits("10.21.0.1") && !allowed.permits("127.0.0.1") && !allowed.permits("fd13::1"))
    }

    @Test func namesAreResolvedAndEveryAddressMustPass() async throws {
        let egress = EgressPolicy()
        for host in ["localhost", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "[::1]"] {
            await #expect(throws: EgressPolicy.Refusal.self, "\(host)") { try await egress.check(host: host, port: 80) }
        }
        await #expect(throws: EgressPolicy.Refusal.self) { try await egress.check(url: "http://nowhere.invalid/x") }
        // Allowed by name: the connection goes to the address the name resolved to, checked now.
        let target = try await EgressPolicy(allowed: ["localhost"]).check(url: "http://localhost:8080/hook")
        #expect(target.host == "localhost" && target.port == 8080 && ["127.0.0.1", "::1"].contains(target.address))
        // A numeric host in another spelling resolves to itself, and the block decides.
        let numeric = try await EgressPolicy(allowed: ["127.0.0.0/8"]).check(url: "http://2130706433:9/")
        #expect(numeric.address == "127.0.0.1" && numeric.port == 9)
    }

    @Test func pathsAreResolvedAndMustStayInsideTheRootsAndClearOfFerrysFolders() async throws {
        let fm = FileManager.default
        let base = fm.temporaryDirectory.appendingPathComponent("ferry-policy-\(UUID().uuidString.prefix(8))").path
        try fm.createDirectory(atPath: base + "/roots/shop", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/roots/data", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: base + "/roots/escape", withDestinationPath: base + "/outside")
        let policy = ServerPolicy(projectRoots: [base + "/roots"], protected: [base + "/roots/data"])
        #expect(try await policy.check(base + "/roots/shop") == .local(base + "/roots/shop"))
        #expect(try await policy.check(base + "/roots/data/../shop/") == .local(base + "/roots/shop"))
        for bad in [
            base + "/roots/escape", base + "/outside", base + "/roots/data", base + "/roots", base + "/roots/nope",
            "roots/shop", "file://" + base + "/roots/shop", "ext::sh", "-u", "a\nb", "/",
        ] {
            await #expect(throws: ServerPolicy.Refusal.self, "\(bad)") { try await policy.check(bad) }
        }
        // No roots: git URLs only.
        await #expect(throws: ServerPolicy.Refusal.self) { try await ServerPolicy().check(base + "/roots/shop") }
        #expect(ServerPolicy.overlaps("/srv/a", "/srv/a/b") && ServerPolicy.overlaps("/srv/a/b", "/srv/a"))
        #expect(!ServerPolicy.overlaps("/srv/a", "/srv/ab") && !ServerPolicy.overlaps("/srv/a", "https://h/srv/a"))
        #expect(ServerPolicy.scpHost("git@github.com:acme/shop.git") == "github.com")
        #expect(ServerPolicy.scpHost("/srv/a:b@c") == nil)
    }

    @Test func sealedSecretsOpenOnlyWithTheirKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-box-\(UUID().uuidString.prefix(8))"
        ).path
        let box = try SecretBox.load(dataDirectory: dir, environment: [:])
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/secret.key")
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let sealed = try box.seal("whsec_abc")
        #expect(sealed.hasPrefix("fsec1:") && !sealed.contains("whsec_abc"))
        #expect(try box.open(sealed) == "whsec_abc")
        // the same key file
        #expect(try SecretBox.load(dataDirectory: dir, environment: [:]).open(sealed) == "whsec_abc")
        #expect(try box.open("whsec_legacy") == "whsec_legacy")  // stored before sealing
        let other = try SecretBox.load(dataDirectory: dir + "-other", environment: [:])
        #expect(throws: FerryError.self) { try other.open(sealed) }
        #expect(throws: FerryError.self) {
            try SecretBox.load(dataDirectory: dir, environment: ["FERRY_SERVER_SECRET": "short"])
        }
        let shared = Data(repeating: 7, count: 32).base64EncodedString()
        let a = try SecretBox.load(dataDirectory: dir + "-a", environment: ["FERRY_SERVER_SECRET": shared])
        let b = try SecretBox.load(dataDirectory: dir + "-b", environment: ["FERRY_SERVER_SECRET": shared])
        #expect(try b.open(try a.seal("s")) == "s")
    }

    @Test func aFailedDeliverySaysWhatToFixNotWhatIsBehindTheServer() {
        struct Refused: Error, CustomStringConvertible {
            var description = "connect(descriptor:addr:size:): Connection refused (errno: 111)"
        }
        struct Timeout: Error, CustomStringConvertible { var description = "HTTPClientError.deadlineExceeded" }
        struct TLS: Error, CustomStringConvertible {
            var description = "NIOSSLError.handshakeFailed(certificate verify failed)"
        }
        #expect(DeliveryFailure(Refused()) == .connect)
        #expect(DeliveryFailure(Timeout()) == .timeout)
        #expect(DeliveryFailure(TLS()) == .tls)
        #expect(DeliveryFailure(DeliveryFailure.refused) == .refused)
        #expect(!DeliveryFailure.connect.rawValue.contains("refused"))
        #expect(
            PublicError.message(FerryError(.git, "git clone failed in /var/lib/ferry/server/repos: fatal: x"))
                == "git clone failed in …: fatal: x")
        #expect(PublicError.message(FerryError(.io, "cannot open '/srv/data/index.sqlite'")) == "cannot open '…'")
        #expect(PublicError.message(FerryError(.io, "see https://example.com/a/b")) == "see https://example.com/a/b")
    }
}
