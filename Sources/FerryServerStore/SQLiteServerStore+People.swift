import FerryCore
import Foundation
import GRDB

/// People, service accounts and their keys on SQLite.
extension SQLiteServerStore {
    public func createPerson(_ new: NewPerson, tenantID: String, now: Date) async throws -> Person {
        let person = Person(
            id: ServerIDs.newID(new.kind == .person ? "per" : "svc"), tenantID: tenantID, kind: new.kind,
            name: new.name, email: new.email, externalID: new.externalID, role: new.role, active: true,
            createdAt: now, deactivatedAt: nil)
        try await write { db in
            try Self.checkUnique(db, person)
            try db.execute(
                sql: """
                    INSERT INTO people (id, tenant_id, kind, name, email, external_id, role, active, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
                    """,
                arguments: [
                    person.id, tenantID, person.kind.rawValue, person.name, person.email, person.externalID,
                    person.role.rawValue, now.timeIntervalSince1970,
                ])
        }
        return person
    }

    /// Another person of the tenant with the same email or identity provider id is a client's mistake, said so.
    static func checkUnique(_ db: Database, _ person: Person) throws {
        if let email = person.email,
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM people WHERE tenant_id = ? AND lower(email) = lower(?) AND id != ?",
                arguments: [person.tenantID, email, person.id]) != nil
        {
            throw FerryError(.usage, "someone in this tenant already has the email \(email)")
        }
        if let external = person.externalID,
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM people WHERE tenant_id = ? AND external_id = ? AND id != ?",
                arguments: [person.tenantID, external, person.id]) != nil
        {
            throw FerryError(.usage, "someone in this tenant already has the external id \(external)")
        }
    }

    public func person(_ id: String, tenantID: String) async throws -> Person? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM people WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]
            ).map(Self.person)
        }
    }

    public func person(externalID: String?, email: String?, tenantID: String) async throws -> Person? {
        try await read { db in
            if let externalID,
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM people WHERE tenant_id = ? AND external_id = ?",
                    arguments: [tenantID, externalID])
            {
                return Self.person(row)
            }
            guard let email else { return nil }
            return try Row.fetchOne(
                db, sql: "SELECT * FROM people WHERE tenant_id = ? AND lower(email) = lower(?)",
                arguments: [tenantID, email]
            ).map(Self.person)
        }
    }

    public func people(tenantID: String) async throws -> [Person] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM people WHERE tenant_id = ? ORDER BY id = ? DESC, created_at, id",
                arguments: [tenantID, Person.builtInID(tenantID: tenantID)]
            ).map(Self.person)
        }
    }

    public func updatePerson(_ id: String, tenantID: String, _ change: PersonChange, now: Date) async throws -> Person?
    {
        try await write { db in
            guard
                let current = try Row.fetchOne(
                    db, sql: "SELECT * FROM people WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]
                ).map(Self.person)
            else { return nil }
            let next = change.applied(to: current, now: now)
            try Self.checkUnique(db, next)
            try db.execute(
                sql: """
                    UPDATE people SET name = ?, email = ?, external_id = ?, role = ?, active = ?, deactivated_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    next.name, next.email, next.externalID, next.role.rawValue, next.active,
                    next.deactivatedAt?.timeIntervalSince1970, id,
                ])
            if current.active && !next.active {
                // Its keys and sessions end now, for good: reactivating someone gives back no key that was out
                // while they were gone (authentication also refuses an inactive owner's keys).
                try db.execute(sql: "DELETE FROM sessions WHERE person_id = ?", arguments: [id])
                try db.execute(
                    sql: "UPDATE api_keys SET revoked_at = ? WHERE owner_id = ? AND revoked_at IS NULL",
                    arguments: [now.timeIntervalSince1970, id])
            }
            return next
        }
    }

    static func person(_ row: Row) -> Person {
        Person(
            id: row["id"], tenantID: row["tenant_id"], kind: AccountKind(rawValue: row["kind"]) ?? .service,
            name: row["name"], email: row["email"], externalID: row["external_id"],
            role: Role(rawValue: row["role"]) ?? .viewer, active: row["active"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            deactivatedAt: (row["deactivated_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
    }

    // MARK: - Keys

    public func keys(tenantID: String) async throws -> [APIKeyInfo] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, role, created_at, revoked_at, owner_id, name, expires_at FROM api_keys WHERE tenant_id = ?
                    ORDER BY created_at, id
                    """,
                arguments: [tenantID]
            ).map { row in
                APIKeyInfo(
                    id: row["id"], role: Role(rawValue: row["role"]) ?? .viewer,
                    createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    revokedAt: (row["revoked_at"] as Double?).map { Date(timeIntervalSince1970: $0) },
                    ownerID: row["owner_id"], name: row["name"],
                    expiresAt: (row["expires_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
            }
        }
    }

    public func revokeKey(id: String, tenantID: String, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
                arguments: [now.timeIntervalSince1970, id, tenantID])
            return db.changesCount == 1
        }
    }

    public func rotateKey(id: String, tenantID: String, grace: Double, now: Date) async throws -> (
        id: String, key: String
    )? {
        let newID = ServerIDs.newID("key")
        let key = ServerIDs.secret("fy_")
        let at = now.timeIntervalSince1970
        return try await write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT role, owner_id, name, created_at, expires_at FROM api_keys
                        WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                        """,
                    arguments: [id, tenantID, at])
            else { return nil }
            let (newExpiry, oldExpiry) = KeyRules.rotation(
                createdAt: Date(timeIntervalSince1970: row["created_at"]),
                expiresAt: (row["expires_at"] as Double?).map { Date(timeIntervalSince1970: $0) }, grace: grace,
                now: now)
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, tenant_id, role, hash, created_at, owner_id, name, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    newID, tenantID, row["role"] as String, ServerIDs.hash(key), at, row["owner_id"] as String,
                    row["name"] as String, newExpiry?.timeIntervalSince1970,
                ])
            try db.execute(
                sql: "UPDATE api_keys SET expires_at = ? WHERE id = ?",
                arguments: [oldExpiry.timeIntervalSince1970, id])
            return (newID, key)
        }
    }
}
