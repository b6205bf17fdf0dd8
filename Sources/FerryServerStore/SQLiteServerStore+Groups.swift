import FerryCore
import Foundation
import GRDB

/// Groups of people on SQLite.
extension SQLiteServerStore {
    public func createGroup(name: String, externalID: String?, members: [String], tenantID: String, now: Date)
        async throws -> PersonGroup
    {
        let id = ServerIDs.newID("grp")
        return try await write { db in
            guard
                try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM person_groups WHERE tenant_id = ? AND name = ?",
                    arguments: [tenantID, name])
                    == nil
            else { throw FerryError(.usage, "a group named \(name) already exists") }
            try db.execute(
                sql: "INSERT INTO person_groups (id, tenant_id, name, external_id, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, tenantID, name, externalID, now.timeIntervalSince1970])
            try Self.setMembers(db, group: id, tenantID: tenantID, MembersChange(replace: members).applied(to: []))
            return try Self.group(db, id, tenantID: tenantID)!
        }
    }

    public func groups(tenantID: String) async throws -> [PersonGroup] {
        try await read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM person_groups WHERE tenant_id = ? ORDER BY created_at, id",
                arguments: [tenantID]
            ).compactMap { try Self.group(db, $0, tenantID: tenantID) }
        }
    }

    public func group(_ id: String, tenantID: String) async throws -> PersonGroup? {
        try await read { db in try Self.group(db, id, tenantID: tenantID) }
    }

    public func updateGroup(
        _ id: String, tenantID: String, name: String?, externalID: String?, members: MembersChange, now: Date
    ) async throws -> PersonGroup? {
        try await write { db in
            guard let current = try Self.group(db, id, tenantID: tenantID) else { return nil }
            if let name, name != current.name {
                guard
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM person_groups WHERE tenant_id = ? AND name = ?",
                        arguments: [tenantID, name]) == nil
                else { throw FerryError(.usage, "a group named \(name) already exists") }
            }
            try db.execute(
                sql: "UPDATE person_groups SET name = ?, external_id = ? WHERE id = ?",
                arguments: [name ?? current.name, externalID ?? current.externalID, id])
            try Self.setMembers(db, group: id, tenantID: tenantID, members.applied(to: current.members))
            return try Self.group(db, id, tenantID: tenantID)
        }
    }

    public func deleteGroup(_ id: String, tenantID: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM group_members WHERE group_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM person_groups WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
            return db.changesCount == 1
        }
    }

    /// Sets the members to `ids` (only the tenant's people; in order).
    static func setMembers(_ db: Database, group: String, tenantID: String, _ ids: [String]) throws {
        try db.execute(sql: "DELETE FROM group_members WHERE group_id = ?", arguments: [group])
        for (position, person) in ids.enumerated() {
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO group_members (group_id, person_id, position)
                    SELECT ?, id, ? FROM people WHERE id = ? AND tenant_id = ?
                    """,
                arguments: [group, position, person, tenantID])
        }
    }

    static func group(_ db: Database, _ id: String, tenantID: String) throws -> PersonGroup? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM person_groups WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
        else { return nil }
        let members = try String.fetchAll(
            db, sql: "SELECT person_id FROM group_members WHERE group_id = ? ORDER BY position", arguments: [id])
        return PersonGroup(
            id: row["id"], tenantID: row["tenant_id"], name: row["name"], externalID: row["external_id"],
            members: members, createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }
}
