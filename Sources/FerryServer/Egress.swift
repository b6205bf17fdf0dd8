import FerryCore
import FerryServerStore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where the server may connect on a tenant's behalf (webhooks, git-URL projects). A tenant names URLs; the server
/// resolves them itself, so without a rule a tenant could make it reach its own loopback services, the private
/// network or a cloud's metadata address, and read the answer back through delivery records or git's errors.
/// By default only public unicast addresses are allowed; the operator may allow more by name or address block
/// (`[server] allow_hosts`, `ferry serve --allow-host`). The check is made on the addresses a name resolves to at the
/// moment of use, and callers connect to an address that passed (`Target.address`), so a name that resolves to a
/// public address when checked and to 127.0.0.1 a moment later (DNS rebinding) still reaches only the checked one.
public struct EgressPolicy: Sendable, Hashable {
    /// Host names (exact, case-insensitive) and address blocks (`10.1.0.0/16`, `127.0.0.1`, `fd00::/8`) the operator
    /// allows even though they are not public.
    public var allowed: [String]

    public init(allowed: [String] = []) {
        self.allowed = allowed
    }

    /// A URL that passed: its host, port and the checked address to connect to.
    public struct Target: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var address: String
    }

    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Checks `url`'s host (resolving names) and returns the first allowed address. Throws a `Refusal` that names the
    /// host and the rule, never a resolved internal address.
    public func check(url: String, defaultPort: Int? = nil) async throws -> Target {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw Refusal(description: "\(url) has no host")
        }
        let port =
            components.port ?? defaultPort
            ?? (components.scheme == "https" ? 443 : components.scheme == "ssh" ? 22 : 80)
        return try await check(host: host, port: port)
    }

    public func check(host rawHost: String, port: Int) async throws -> Target {
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let addresses = try await Self.resolve(host)
        guard !addresses.isEmpty else { throw Refusal(description: "\(host) does not resolve") }
        let byName = allowed.contains { $0.caseInsensitiveCompare(host) == .orderedSame }
        // Every address a name resolves to must pass: a name with one public and one loopback address is refused,
        // so which one a later resolver picks cannot matter.
        for address in addresses where !byName && !permits(address) {
            throw Refusal(
                description: "\(host) is not a public address (loopback, private, link-local or reserved addresses are "
                    + "refused; the server's operator can allow it with [server] allow_hosts)")
        }
        return Target(host: host, port: port, address: addresses[0])
    }

    /// Whether `address` (a numeric IPv4 or IPv6 address) may be connected to.
    public func permits(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        if allowed.contains(where: { Self.block($0)?.contains(bytes) ?? false }) { return true }
        return Self.isPublic(bytes)
    }

    // MARK: - Addresses

    /// An address as 4 or 16 bytes.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    struct Block {
        var prefix: [UInt8]
        var bits: Int
        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == prefix.count else {
                // An IPv4-mapped IPv6 address is checked as the IPv4 address it carries.
                if address.count == 16, prefix.count == 4, Array(address[0..<12]) == Self.mappedPrefix {
                    return contains(Array(address[12...]))
                }
                return false
            }
            var left = bits
            for index in 0..<prefix.count where left > 0 {
                let take = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
                if address[index] & mask != prefix[index] & mask { return false }
                left -= take
            }
            return true
        }
        static let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
    }

    /// `a.b.c.d/n`, `x::/n` or a single address.
    static func block(_ text: String) -> Block? {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let prefix = bytes(first) else { return nil }
        let bits = parts.count == 2 ? Int(parts[1]) : prefix.count * 8
        guard let bits, (0...(prefix.count * 8)).contains(bits) else { return nil }
        return Block(prefix: prefix, bits: bits)
    }

    /// Not public: IANA's special-purpose blocks a server must not reach for a tenant (RFC 6890 and successors).
    static let special: [Block] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].compactMap(block)

    static func isPublic(_ address: [UInt8]) -> Bool {
        // An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address too.
        if address.count == 16 {
            if Array(address[0..<12]) == Block.mappedPrefix { return isPublic(Array(address[12...])) }
            if address[0] == 0x00, address[1] == 0x64, address[2] == 0xFF, address[3] == 0x9B { return false }
            if address[0] == 0x20, address[1] == 0x02 { return false }
        }
        return !special.contains { $0.contains(address) }
    }

    /// The numeric addresses `host` resolves to (a numeric host, in any form `getaddrinfo` reads, such as
    /// `2130706433` or `0x7f.1`, resolves to itself).
    static func resolve(_ host: String) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &list)
                guard status == 0, let first = list else {
                    continuation.resume(throwing: Refusal(description: "\(host) does not resolve"))
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [String] = []
                var node: UnsafeMutablePointer<addrinfo>? = first
                while let current = node {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(
                        current.pointee.ai_addr, current.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                        NI_NUMERICHOST) == 0
                    {
                        let text = String(
                            decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        if !addresses.contains(text) { addresses.append(text) }
                    }
                    node = current.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}
