import Crypto
import FerryCore
import FerryServerStore
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
        let text = try SecretFile.readOrCreate(path) {
            SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        }
        guard let decoded = Data(base64Encoded: text), decoded.count == 32 else {
            throw FerryError(
                .config, "\(path) is not a Ferry server key (32 bytes in base64); restore it from a backup")
        }
        return SecretBox(key: SymmetricKey(data: decoded))
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

/// A secret the server keeps in its data directory (the sealing key, the metrics token): read when it is there, else
/// made once, owner-only. Two servers starting at once on one data directory agree: the first file in place wins
/// (it is linked into place, never overwritten) and both read it.
enum SecretFile {
    static func readOrCreate(_ path: String, make: () -> String) throws -> String {
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else {
                throw FerryError(.config, "\(path) is empty; restore it from a backup or remove it")
            }
            return text
        }
        let directory = (path as NSString).deletingLastPathComponent
        try fm.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let text = make()
        let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard fm.createFile(atPath: partial, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw FerryError(.io, "cannot write \(path)") }
        defer { try? fm.removeItem(atPath: partial) }
        guard link(partial, path) == 0 else {
            // Another process put its file there first.
            guard let data = fm.contents(atPath: path) else { throw FerryError(.io, "cannot read \(path)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return text
    }
}
