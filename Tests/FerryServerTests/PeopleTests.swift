import FerryCore
import FerryTesting
import Foundation
import GRDB
import PostgresNIO
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// People, service accounts, their keys and the audit chain on both stores.
@Suite struct PeopleTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: QueueTests.Kind.allCases)
    func deactivatingAPersonEndsTheirKeysAndSessionsAtOnce(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let store = f.store
            let tenant = f.tenant.id
            let ada = try await store.createPerson(
                NewPerson(kind: .person, name: "Ada", email: "Ada@Example.com", externalID: "okta|ada", role: .member),
                tenantID: tenant, now: Self.t0)
            #expect(ada.id.hasPrefix("per_") && ada.active)
            // A key asked for as admin acts as its owner's role.
            let (keyID, key) = try await store.createKey(
                NewKey(role: .admin, ownerID: ada.id, name: "laptop"), tenantID: tenant, now: Self.t0)
            #expect(
                try await store.authenticate(key)
                    == Principal(tenantID: tenant, role: .member, keyID: keyID, personID: ada.id))
            let (session, _) = try await store.createSession(keyID: keyID, now: Date(), lifetime: 3600)
            #expect(try await store.session(session, now: Date())?.principal.personID == ada.id)
            // Found by the identity provider's id, and by email whatever its case.
            #expect(try await store.person(externalID: "okta|ada", email: nil, tenantID: tenant)?.id == ada.id)
            #expect(
                try await store.person(externalID: "other", email: "ada@example.COM", tenantID: tenant)?.id == ada.id)
            #expect(try await store.person(externalID: nil, email: "ada@example.com", tenantID: "ten_other") == nil)
            // The same email twice in a tenant is refused, in any case.
            await #expect(throws: FerryError.self) {
                try await store.createPerson(
                    NewPerson(kind: .person, name: "Ada 2", email: "ADA@example.com", role: .viewer), tenantID: tenant,
                    now: Self.t0)
            }
            // Deactivation: the key and the session stop at the next request, and the key is revoked for good.
            let off = try #require(
                try await store.updatePerson(ada.id, tenantID: tenant, PersonChange(active: false), now: Date()))
            #expect(!off.active && off.deactivatedAt != nil)
            #expect(try await store.authenticate(key) == nil)
            #expect(try await store.session(session, now: Date()) == nil)
            #expect(try await store.keys(tenantID: tenant).first { $0.id == keyID }?.revokedAt != nil)
            _ = try await store.updatePerson(ada.id, tenantID: tenant, PersonChange(active: true), now: Date())
            #expect(try await store.authenticate(key) == nil, "reactivation gives no key back")
            // Another tenant's admin cannot reach Ada.
            let other = try await store.createTenant(name: "other")
            #expect(try await store.person(ada.id, tenantID: other.id) == nil)
            #expect(
                try await store.updatePerson(ada.id, tenantID: other.id, PersonChange(active: false), now: Date())
                    == nil)
            await #expect(throws: FerryError.self) {
                try await store.createKey(NewKey(role: .viewer, ownerID: ada.id), tenantID: other.id, now: Date())
            }
            // The built-in service account comes first and owns keys made without an owner.
            let people = try await store.people(tenantID: tenant)
            #expect(people.first?.id == Person.builtInID(tenantID: tenant) && people.first?.kind == .service)
            let (plainID, _) = try await store.createKey(tenantID: tenant, role: .viewer)
            #expect(
                try await store.keys(tenantID: tenant).first { $0.id == plainID }?.ownerID
                    == Person.builtInID(tenantID: tenant))
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func keysExpireAndRotateWithAGrace(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let store = f.store
            let tenant = f.tenant.id
            let ci = try await store.createPerson(
                NewPerson(kind: .service, name: "ci", role: .member), tenantID: tenant, now: Self.t0)
            #expect(ci.id.hasPrefix("svc_"))
            let now = Date()
            let (oldID, old) = try await store.createKey(
                NewKey(role: .member, ownerID: ci.id, name: "deploy", expiresAt: now.addingTimeInterval(3600)),
                tenantID: tenant, now: now)
            #expect(try await store.authenticate(old, now: now.addingTimeInterval(3599)) != nil)
            #expect(try await store.authenticate(old, now: now.addingTimeInterval(3601)) == nil, "expired")
            let rotated = try #require(try await store.rotateKey(id: oldID, tenantID: tenant, grace: 60, now: now))
            let successor = try #require(try await store.keys(tenantID: tenant).first { $0.id == rotated.id })
            #expect(successor.ownerID == ci.id && successor.name == "deploy" && successor.role == .member)
            #expect(successor.expiresAt.map { abs($0.timeIntervalSince(now.addingTimeInterval(3600))) < 0.01 } == true)
            #expect(try await store.authenticate(old, now: now.addingTimeInterval(59)) != nil, "within the grace")
            #expect(try await store.authenticate(old, now: now.addingTimeInterval(61)) == nil)
            #expect(try await store.authenticate(rotated.key, now: now.addingTimeInterval(61))?.keyID == rotated.id)
            #expect(try await store.rotateKey(id: oldID, tenantID: "ten_other", grace: 0, now: now) == nil)
            #expect(try await store.revokeKey(id: rotated.id, tenantID: tenant, now: now))
            #expect(try await store.rotateKey(id: rotated.id, tenantID: tenant, grace: 0, now: now) == nil)
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func theAuditChainHoldsUnderConcurrentWritersAndShowsEveryTamper(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let store = f.store
            let other = try await store.createTenant(name: "other")
            // Writers at once on two tenants: each chain is whole, in order, with no place taken twice.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await store.audit(
                            AuditEntry(
                                tenantID: index % 2 == 0 ? f.tenant.id : other.id, keyID: "key_\(index)",
                                personID: "per_\(index % 3)", surface: .api, action: "task.create",
                                object: "task_\(index)", detail: "#\(index)", remote: "10.0.0.\(index)", at: Date()))
                    }
                }
                try await group.waitForAll()
            }
            for tenant in [f.tenant.id, other.id] {
                let (report, start) = try await ServerAPI.checkChain(store, tenantID: tenant)
                #expect(report.intact && report.entries == 20 && report.lastSeq == 20 && start == 0, "\(report.breaks)")
            }
            #expect(Set(try await store.auditedTenants()) == [f.tenant.id, other.id])
            let search = try await store.auditLog(
                tenantID: f.tenant.id, filter: AuditFilter(action: "task.", personID: "per_0"), limit: 100)
            #expect(!search.isEmpty && search.allSatisfy { $0.personID == "per_0" })
            #expect(zip(search, search.dropFirst()).allSatisfy { $0.seq > $1.seq }, "newest first")
            let page = try await store.auditLog(tenantID: f.tenant.id, filter: AuditFilter(before: 5), limit: 100)
            #expect(page.map(\.seq) == [4, 3, 2, 1])

            // Each tamper with the stored rows is found, and named.
            let tenant = f.tenant.id
            func expectBroken(_ what: String, _ reason: String) async throws {
                let (report, _) = try await ServerAPI.checkChain(store, tenantID: tenant)
                #expect(!report.intact, "\(what) was not found")
                #expect(report.breaks.contains { $0.reason.contains(reason) }, "\(what): \(report.breaks)")
            }
            let original = try await Self.sql(
                store, "SELECT detail FROM audit WHERE tenant_id = '\(tenant)' AND seq = 7")
            try await Self.execute(
                store, "UPDATE audit SET detail = 'nothing' WHERE tenant_id = '\(tenant)' AND seq = 7")
            try await expectBroken("an edit", "edited")
            try await Self.execute(
                store, "UPDATE audit SET detail = '\(original)' WHERE tenant_id = '\(tenant)' AND seq = 7")
            #expect(try await ServerAPI.checkChain(store, tenantID: tenant).report.intact, "restored")
            try await Self.execute(store, "UPDATE audit SET seq = -2 WHERE tenant_id = '\(tenant)' AND seq = 2")
            try await Self.execute(store, "UPDATE audit SET seq = 2 WHERE tenant_id = '\(tenant)' AND seq = 9")
            try await Self.execute(store, "UPDATE audit SET seq = 9 WHERE tenant_id = '\(tenant)' AND seq = -2")
            try await expectBroken("a reordering", "edited")
            try await Self.execute(store, "DELETE FROM audit WHERE tenant_id = '\(tenant)' AND seq = 12")
            try await expectBroken("a deletion", "entries 12…12 are missing")
            try await Self.execute(store, "DELETE FROM audit WHERE tenant_id = '\(tenant)' AND seq >= 19")
            try await expectBroken("a cut end", "entries 19…20 are missing")
            // The other tenant's chain is untouched by all of it.
            #expect(try await ServerAPI.checkChain(store, tenantID: other.id).report.intact)
        }
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func retentionCutsTheChainAndItStillVerifies(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let store = f.store
            for day in 0..<6 {
                try await store.audit(
                    AuditEntry(
                        tenantID: f.tenant.id, keyID: "key_1", action: "budget.set", object: f.tenant.id,
                        detail: "day \(day)", remote: nil, at: Self.t0.addingTimeInterval(Double(day) * 86_400)))
            }
            #expect(try await store.pruneAudit(before: Self.t0.addingTimeInterval(2.5 * 86_400)) == 3)
            let head = try await store.auditHead(tenantID: f.tenant.id)
            #expect(head.startSeq == 3 && head.seq == 6)
            let (report, start) = try await ServerAPI.checkChain(store, tenantID: f.tenant.id)
            #expect(report.intact && report.entries == 3 && start == 3, "\(report.breaks)")
            #expect(try await store.auditChain(tenantID: f.tenant.id, after: 0, limit: 10).map(\.seq) == [4, 5, 6])
            // Appending goes on from the head.
            let next = try await store.audit(
                AuditEntry(
                    tenantID: f.tenant.id, keyID: "key_1", action: "budget.set", object: "x", detail: "", remote: nil,
                    at: Date()))
            #expect(next.seq == 7 && next.prevHash == head.hash)
        }
    }

    /// Raw SQL on the store's own database, for the tamper cases (what someone with the database's password could do).
    static func execute(_ store: any ServerStore, _ sql: String) async throws {
        if let sqlite = store as? SQLiteServerStore {
            try await sqlite.pool.write { db in try db.execute(sql: sql) }
        } else if let postgres = store as? PostgresServerStore {
            try await postgres.client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    static func sql(_ store: any ServerStore, _ sql: String) async throws -> String {
        if let sqlite = store as? SQLiteServerStore {
            return try await sqlite.pool.read { db in try String.fetchOne(db, sql: sql) ?? "" }
        } else if let postgres = store as? PostgresServerStore {
            for try await (value, ) in try await postgres.client.query(PostgresQuery(unsafeSQL: sql)).decode(
                (String).self)
            {
                return value
            }
        }
        return ""
    }
}

/// An upgrade: a store made before people and the chain existed keeps its keys working (owned by the built-in
/// service account) and its audit entries, sealed into the chain in the order they were written.
@Suite struct PeopleUpgradeTests {
    static let before = "v8: authors, retries, steps, sessions, evals"

    @Test(arguments: QueueTests.Kind.allCases)
    func anOlderStoresKeysAndAuditEntriesCarryOver(kind: QueueTests.Kind) async throws {
        let key = "fy_legacy_" + UUID().uuidString
        let rows = [
            "INSERT INTO tenants (id, name, created_at) VALUES ('ten_a', 'default', 1800000000)",
            """
            INSERT INTO api_keys (id, tenant_id, role, hash, created_at)
            VALUES ('key_a', 'ten_a', 'admin', '\(ServerIDs.hash(key))', 1800000000)
            """,
        ]
        let audit = (1...3).map { index in
            """
            INSERT INTO audit (tenant_id, key_id, action, object, detail, remote, at)
            VALUES ('ten_a', 'key_a', 'task.create', 'task_\(index)', 'old \(index)', NULL, \(1_800_000_000 + index))
            """
        }
        @Sendable func check(_ store: any ServerStore) async throws {
            let principal = try #require(try await store.authenticate(key))
            #expect(principal.role == .admin && principal.personID == Person.builtInID(tenantID: "ten_a"))
            let (report, _) = try await ServerAPI.checkChain(store, tenantID: "ten_a")
            #expect(report.intact && report.entries == 3, "\(report.breaks)")
            let entries = try await store.auditChain(tenantID: "ten_a", after: 0, limit: 10)
            #expect(entries.map(\.object) == ["task_1", "task_2", "task_3"])
            #expect(entries.allSatisfy { $0.personID == Person.builtInID(tenantID: "ten_a") && $0.surface == .api })
            // A session made after the upgrade belongs to the key's owner.
            let (session, _) = try await store.createSession(keyID: "key_a", now: Date(), lifetime: 60)
            #expect(try await store.session(session, now: Date())?.principal.keyID == "key_a")
        }
        switch kind {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-upgrade-\(UUID().uuidString.prefix(8)).sqlite"
            ).path
            let queue = try DatabaseQueue(path: path)
            try SQLiteServerStore.migrator.migrate(queue, upTo: Self.before)
            try await queue.write { db in for sql in rows + audit { try db.execute(sql: sql) } }
            try await check(try SQLiteServerStore(path: path))
        case .postgres:
            let url = try await PostgresCluster.freshDatabase()
            let (client, _) = try PostgresServerStore.client(url)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                try await client.query(
                    "CREATE TABLE ferry_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
                for migration in PostgresServerStore.migrations where migration.version <= 8 {
                    for sql in migration.sql { try await client.query(PostgresQuery(unsafeSQL: sql)) }
                    try await client.query(
                        "INSERT INTO ferry_migrations (version, applied_at) VALUES (\(migration.version), 0)")
                }
                for sql in rows + audit { try await client.query(PostgresQuery(unsafeSQL: sql)) }
            }
            try await PostgresServerStore.withStore(url: url) { store in try await check(store) }
        }
    }
}
