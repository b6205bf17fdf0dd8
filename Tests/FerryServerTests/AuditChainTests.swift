import Foundation
import Testing

@testable import FerryServerStore

/// The audit chain and the key rules, pure: every way an entry can be changed after the fact shows, and a key works
/// exactly while its rule says.
@Suite struct AuditChainTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000.123456)

    static func chain(_ count: Int, tenant: String = "ten_1") -> [AuditEntry] {
        var entries: [AuditEntry] = []
        var head = (seq: 0, hash: AuditChain.genesis)
        for index in 0..<count {
            let entry = AuditChain.seal(
                AuditEntry(
                    tenantID: tenant, keyID: "key_\(index % 3)", personID: index % 2 == 0 ? "per_1" : nil,
                    surface: index % 4 == 0 ? .dashboard : .api, action: "task.create", object: "task_\(index)",
                    detail: "project shop", remote: index % 5 == 0 ? nil : "10.0.0.\(index)",
                    at: t0.addingTimeInterval(Double(index) * 0.000_7)), after: head)
            entries.append(entry)
            head = (entry.seq, entry.hash)
        }
        return entries
    }

    @Test func aSealedChainVerifiesAndReachesItsHead() {
        let entries = Self.chain(12)
        #expect(entries.map(\.seq) == Array(1...12))
        #expect(entries[0].prevHash == AuditChain.genesis)
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $1.prevHash == $0.hash })
        let report = AuditChain.verify(entries, head: (12, entries[11].hash))
        #expect(report.intact && report.entries == 12 && report.lastSeq == 12, "\(report.breaks)")
        // The canonical form is sorted, compact, in whole microseconds, with nulls written.
        let canonical = AuditChain.canonical(entries[0])
        #expect(canonical.hasPrefix("{\"action\":\"task.create\",\"at_us\":1800000000123456,"), "\(canonical)")
        #expect(canonical.contains("\"remote\":null") && canonical.hasSuffix("\"tenant\":\"ten_1\"}"))
    }

    @Test func anEditedEntryIsNamed() {
        for field in ["detail", "action", "object", "key", "person", "surface", "remote", "at", "tenant"] {
            var entries = Self.chain(8)
            switch field {
            case "detail": entries[3].detail += " "
            case "action": entries[3].action = "task.cancel"
            case "object": entries[3].object = "task_99"
            case "key": entries[3].keyID = "key_9"
            case "person": entries[3].personID = "per_2"
            case "surface": entries[3].surface = .mcp
            case "remote": entries[3].remote = "10.9.9.9"
            case "at": entries[3].at = entries[3].at.addingTimeInterval(0.000_001)
            default: entries[3].tenantID = "ten_2"
            }
            let report = AuditChain.verify(entries, head: (8, entries[7].hash))
            #expect(
                report.breaks == [.init(seq: 4, reason: "its contents do not match its hash (edited)")],
                "\(field): \(report.breaks)")
        }
        // An entry re-hashed after its edit breaks the next one's link instead.
        var entries = Self.chain(8)
        entries[3].detail = "nothing happened"
        entries[3].hash = AuditChain.hash(entries[3], previous: entries[3].prevHash)
        #expect(
            AuditChain.verify(entries).breaks == [
                .init(seq: 5, reason: "its link does not match the entry before it")
            ])
    }

    @Test func aDeletedEntryIsNamedWhereverItWas() {
        let entries = Self.chain(8)
        let head = (seq: 8, hash: entries[7].hash)
        var middle = entries
        middle.remove(at: 4)
        #expect(
            AuditChain.verify(middle, head: head).breaks == [
                .init(seq: 6, reason: "entries 5…5 are missing"),
                .init(seq: 6, reason: "its link does not match the entry before it"),
            ])
        var first = entries
        first.removeFirst()
        #expect(AuditChain.verify(first, head: head).breaks.first == .init(seq: 2, reason: "entries 1…1 are missing"))
        // The last entries: only the head shows they existed.
        let last = Array(entries.prefix(6))
        #expect(AuditChain.verify(last).intact)
        #expect(AuditChain.verify(last, head: head).breaks == [.init(seq: 7, reason: "entries 7…8 are missing")])
    }

    @Test func reorderedEntriesAreNamed() {
        var swapped = Self.chain(8)
        swapped.swapAt(2, 5)
        let report = AuditChain.verify(swapped, head: (8, Self.chain(8)[7].hash))
        #expect(!report.intact)
        #expect(report.breaks.contains(.init(seq: 6, reason: "entries 3…5 are missing")), "\(report.breaks)")
        #expect(report.breaks.contains(.init(seq: 4, reason: "out of order (after entry 6)")), "\(report.breaks)")
        #expect(report.breaks.contains(.init(seq: 3, reason: "out of order (after entry 5)")), "\(report.breaks)")
        // Renumbering the swapped entries to hide it changes their hashes.
        var renumbered = Self.chain(8)
        renumbered.swapAt(2, 5)
        renumbered[2].seq = 3
        renumbered[5].seq = 6
        #expect(
            AuditChain.verify(renumbered).breaks.filter { $0.reason.contains("edited") }.map(\.seq) == [3, 6])
    }

    @Test func aChainCutByRetentionVerifiesFromItsStart() {
        let entries = Self.chain(10)
        let kept = Array(entries.dropFirst(4))
        #expect(AuditChain.verify(kept, from: (4, entries[3].hash), head: (10, entries[9].hash)).intact)
        #expect(!AuditChain.verify(kept, head: (10, entries[9].hash)).intact, "not from the genesis")
    }

    @Test func aKeyWorksOnlyWhileItsRuleSays() {
        let now = Self.t0
        let later = now.addingTimeInterval(60)
        #expect(
            KeyRules.effectiveRole(
                key: .admin, revokedAt: nil, expiresAt: nil, owner: .member, ownerActive: true, now: now) == .member)
        #expect(
            KeyRules.effectiveRole(
                key: .viewer, revokedAt: nil, expiresAt: later, owner: .admin, ownerActive: true, now: now) == .viewer)
        #expect(
            KeyRules.effectiveRole(
                key: .admin, revokedAt: nil, expiresAt: now, owner: .admin, ownerActive: true, now: now) == nil,
            "an expiry is exclusive")
        #expect(
            KeyRules.effectiveRole(
                key: .admin, revokedAt: now, expiresAt: nil, owner: .admin, ownerActive: true, now: later)
                == nil)
        #expect(
            KeyRules.effectiveRole(
                key: .admin, revokedAt: nil, expiresAt: nil, owner: .admin, ownerActive: false, now: now)
                == nil)
        for key in Role.allCases {
            for owner in Role.allCases {
                #expect(key.capped(by: owner).rank == min(key.rank, owner.rank))
            }
        }
        // Rotation: the successor lives as long as the old key did; the old one ends after the grace, never later
        // than it would have.
        let created = now.addingTimeInterval(-3600)
        let rotated = KeyRules.rotation(
            createdAt: created, expiresAt: now.addingTimeInterval(7200), grace: 300, now: now)
        #expect(rotated.newExpiry == now.addingTimeInterval(10_800) && rotated.oldExpiry == now.addingTimeInterval(300))
        let nearEnd = KeyRules.rotation(createdAt: created, expiresAt: now.addingTimeInterval(60), grace: 300, now: now)
        #expect(nearEnd.oldExpiry == now.addingTimeInterval(60))
        let forever = KeyRules.rotation(createdAt: created, expiresAt: nil, grace: 0, now: now)
        #expect(forever.newExpiry == nil && forever.oldExpiry == now)
    }

    @Test func aChangeDeactivatesAndReactivatesWithItsTime() {
        let person = Person(
            id: "per_1", tenantID: "ten_1", kind: .person, name: "Ada", email: "ada@example.com", externalID: nil,
            role: .member, active: true, createdAt: Self.t0, deactivatedAt: nil)
        let off = PersonChange(active: false).applied(to: person, now: Self.t0.addingTimeInterval(5))
        #expect(!off.active && off.deactivatedAt == Self.t0.addingTimeInterval(5))
        let on = PersonChange(role: .admin, active: true).applied(to: off, now: Self.t0.addingTimeInterval(9))
        #expect(on.active && on.deactivatedAt == nil && on.role == .admin)
        #expect(PersonChange(email: "").applied(to: person, now: Self.t0).email == nil, "an empty email clears it")
        #expect(PersonChange(active: false).applied(to: off, now: Self.t0.addingTimeInterval(60)) == off)
    }
}
