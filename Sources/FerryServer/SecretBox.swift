import Crypto
import FerryCore
import Foundation

/// Seals the secrets the server must read back (webhook signing secrets) before they reach the database, with
/// AES-GCM under a key that never does: `FERRY_SERVER_SECRET` (32 bytes, base64; give every machine of a scaled-out
/// server the same one), else `secret.key` in the data directory, made on first start (0600). A copy of the database
/// alone (a backup, a replica, a read-only SQL account) then holds no usable secret. A value stored before sealing
/// existed (no `fsec1:` prefix) is read as it is, so upgrading loses nothing.
public struct SecretBox: Sendable {
    let key: SymmetricKey
    static let prefix = "fsec1:"

    public init(key: SymmetricKey) {
        self.key = key
    }

    /// The server's key, from the environment or the data directory's key file (made when missing).
    public static func load(dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> SecretBox
    {
        if let text = environment["FERRY_SERVER_SECRET"], !text.isEmpty {
            guard let data = Data(base64Encoded: text), data.count == 32 else {
                throw FerryError(
                    .config,
                    "$FERRY_SERVER_SECRET must be 32 bytes in base64 (make one with: head -c 32 /dev/urandom | base64)")
            }
            return SecretBox(key: SymmetricKey(data: data))
        }
        let path = dataDirectory + "/secret.key"
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            guard
                let decoded = Data(
                    base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                ),
                decoded.count == 32
            else {
                throw FerryError(
                    .config, "\(path) is not a Ferry server key (32 bytes in base64); restore it from a backup")
            }
            return SecretBox(key: SymmetricKey(data: decoded))
        }
        try fm.createDirectory(
            atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard fm.createFile(atPath: partial, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FerryError(.io, "cannot write the server's key at \(path)")
        }
        // Two servers starting at once on one data directory: the first key in place wins, and both use it.
        if link(partial, path) != 0 {
            try? fm.removeItem(atPath: partial)
            return try load(dataDirectory: dataDirectory, environment: [:])
        }
        try? fm.removeItem(atPath: partial)
        return SecretBox(key: key)
    }

    public func seal(_ secret: String) throws -> String {
        let box = try AES.GCM.seal(Data(secret.utf8), using: key)
        guard let combined = box.combined else { throw FerryError(.io, "could not seal a secret") }
        return Self.prefix + combined.base64EncodedString()
    }

    /// The secret `stored` holds; a value that was never sealed comes back as it is.
    public func open(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        guard let data = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))),
            let box = try? AES.GCM.SealedBox(combined: data), let plain = try? AES.GCM.open(box, using: key)
        else {
            throw FerryError(
                .config,
                "a stored secret cannot be opened with this server's key (every server of one database needs the "
                    + "same FERRY_SERVER_SECRET or secret.key)")
        }
        return String(decoding: plain, as: UTF8.self)
    }
}
