import Crypto
import Foundation

/// The audit trail's tamper evidence, pure: each entry's hash is `sha256(previous hash + canonical JSON)`, where the
/// canonical JSON holds every field of the entry (its place in the chain included) with sorted keys and the time in
/// whole microseconds. Editing an entry changes its hash; deleting or reordering entries breaks the links or the
/// places. Both stores seal entries with `seal` and anyone holding an export can run `verify` on it.
public enum AuditChain {
    /// The hash before a tenant's first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// The time as stored and hashed: whole microseconds, so a round trip through either database is exact.
    public static func normalised(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(micros(date)) / 1_000_000)
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The entry's fields, as hashed and as exported: one JSON object, keys sorted, no spaces.
    public static func canonical(_ entry: AuditEntry) -> String {
        struct Fields: Encodable {
            var action, detail, key, object, surface, tenant: String
            var atMicros: Int64
            var person, remote: String?
            var seq: Int

            enum Keys: String, CodingKey {
                case action, detail, key, object, person, remote, seq, surface, tenant
                case atMicros = "at_us"
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(action, forKey: .action)
                try container.encode(atMicros, forKey: .atMicros)
                try container.encode(detail, forKey: .detail)
                try container.encode(key, forKey: .key)
                try container.encode(object, forKey: .object)
                // Absent fields are written as null, so "no person" and a person named "" differ.
                try container.encode(person, forKey: .person)
                try container.encode(remote, forKey: .remote)
                try container.encode(seq, forKey: .seq)
                try container.encode(surface, forKey: .surface)
                try container.encode(tenant, forKey: .tenant)
            }
        }
        let fields = Fields(
            action: entry.action, detail: entry.detail, key: entry.keyID, object: entry.object,
            surface: entry.surface.rawValue, tenant: entry.tenantID, atMicros: micros(entry.at), person: entry.personID,
            remote: entry.remote, seq: entry.seq)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    public static func hash(_ entry: AuditEntry, previous: String) -> String {
        SHA256.hash(data: Data((previous + canonical(entry)).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The entry as the next one after `head` (`seq`, `hash`): its place, its link and its hash, its time in whole
    /// microseconds.
    public static func seal(_ entry: AuditEntry, after head: (seq: Int, hash: String)) -> AuditEntry {
        var sealed = entry
        sealed.at = normalised(entry.at)
        sealed.seq = head.seq + 1
        sealed.prevHash = head.hash
        sealed.hash = hash(sealed, previous: head.hash)
        return sealed
    }

    /// What a check found wrong at one place of the chain.
    public struct Break: Sendable, Hashable, CustomStringConvertible {
        public var seq: Int
        public var reason: String
        public var description: String { "entry \(seq): \(reason)" }
    }

    /// The result of checking a chain.
    public struct Report: Sendable, Hashable {
        /// How many entries were checked.
        public var entries: Int
        /// Where the checked chain ends.
        public var lastSeq: Int
        public var lastHash: String
        public var breaks: [Break]
        public var intact: Bool { breaks.isEmpty }
    }

    /// Checks `entries` (in the order given) as the chain after `start` (`seq`, `hash`: the genesis, a pruned
    /// start, or an anchor from an earlier export), and, when given, that it reaches `head`: every place follows the
    /// one before, every link is the previous entry's hash, every hash is the entry's own. The first break makes
    /// the rest unprovable, so checking goes on from the stored values to name every place that is wrong.
    public static func verify(
        _ entries: [AuditEntry], from start: (seq: Int, hash: String) = (0, genesis),
        head: (seq: Int, hash: String)? = nil
    ) -> Report {
        var breaks: [Break] = []
        var previous = start
        for entry in entries {
            if entry.seq != previous.seq + 1 {
                breaks.append(
                    Break(
                        seq: entry.seq,
                        reason: entry.seq <= previous.seq
                            ? "out of order (after entry \(previous.seq))"
                            : "entries \(previous.seq + 1)…\(entry.seq - 1) are missing"))
            }
            if entry.prevHash != previous.hash {
                breaks.append(Break(seq: entry.seq, reason: "its link does not match the entry before it"))
            }
            if hash(entry, previous: entry.prevHash) != entry.hash {
                breaks.append(Break(seq: entry.seq, reason: "its contents do not match its hash (edited)"))
            }
            previous = (entry.seq, entry.hash)
        }
        if let head {
            if head.seq > previous.seq {
                breaks.append(
                    Break(seq: previous.seq + 1, reason: "entries \(previous.seq + 1)…\(head.seq) are missing"))
            } else if head.seq == previous.seq && head.hash != previous.hash {
                breaks.append(Break(seq: head.seq, reason: "the last entry is not the one the chain's head names"))
            } else if head.seq < previous.seq {
                breaks.append(Break(seq: head.seq + 1, reason: "entries past the chain's head (\(head.seq))"))
            }
        }
        return Report(entries: entries.count, lastSeq: previous.seq, lastHash: previous.hash, breaks: breaks)
    }
}
