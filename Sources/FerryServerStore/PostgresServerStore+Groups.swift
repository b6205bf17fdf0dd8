import FerryCore
import Foundation
import Logging
import PostgresNIO

/// Groups of people on PostgreSQL: each change in one transaction, the group's row locked.
extension PostgresServerStore {
    public func createGroup(name: String, externalID: String?, members: [String], tenantID: String, now: Date)
        async throws -> PersonGroup
    {
        let id = ServerIDs.newID("grp")
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO person_groups (id, tenant_id, name, external_id, created_at)
                    VALUES (\(id), \(tenantID), \(name), \(externalID), \(now.timeIntervalSince1970))
                    """, logger: logger)
                try await Self.setMembers(
                    connection, group: id, tenantID: tenantID, MembersChange(replace: members).applied(to: []),
                    logger: logger)
            }
        } catch let error as PostgresTransactionError {
            if let psql = error.closureError as? PSQLError, psql.serverInfo?[.sqlState] == "23505" {
                throw FerryError(.usage, "a group named \(name) already exists")
            }
            throw error.closureError ?? error
        }
        guard let group = try await group(id, tenantID: tenantID) else {
            throw FerryError(.store, "the group \(id) was not stored")
        }
        return group
    }

    public func groups(tenantID: String) async throws -> [PersonGroup] {
        var ids: [String] = []
        for try await (id, ) in try await client.query(
            "SELECT id FROM person_groups WHERE tenant_id = \(tenantID) ORDER BY created_at, id"
        ).decode((String).self) {
            ids.append(id)
        }
        var result: [PersonGroup] = []
        for id in ids { if let group = try await group(id, tenantID: tenantID) { result.append(group) } }
        return result
    }

    public func group(_ id: String, tenantID: String) async throws -> PersonGroup? {
        var group: PersonGroup?
        for try await (name, external, created) in try await client.query(
            "SELECT name, external_id, created_at FROM person_groups WHERE id = \(id) AND tenant_id = \(tenantID)"
        ).decode((String, String?, Double).self) {
            group = PersonGroup(
                id: id, tenantID: tenantID, name: name, externalID: external, members: [],
                createdAt: Date(timeIntervalSince1970: created))
        }
        guard var group else { return nil }
        for try await (person, ) in try await client.query(
            "SELECT person_id FROM group_members WHERE group_id = \(id) ORDER BY position"
        ).decode((String).self) {
            group.members.append(person)
        }
        return group
    }

    public func updateGroup(
        _ id: String, tenantID: String, name: String?, externalID: String?, members: MembersChange, now: Date
    ) async throws -> PersonGroup? {
        let found: Bool
        do {
            found = try await client.withTransaction(logger: logger) { connection in
                var current: (name: String, external: String?)?
                for try await (name, external) in try await connection.query(
                    "SELECT name, external_id FROM person_groups WHERE id = \(id) AND tenant_id = \(tenantID) FOR UPDATE",
                    logger: logger
                ).decode((String, String?).self) {
                    current = (name, external)
                }
                guard let current else { return false }
                var present: [String] = []
                for try await (person, ) in try await connection.query(
                    "SELECT person_id FROM group_members WHERE group_id = \(id) ORDER BY position", logger: logger
                ).decode((String).self) {
                    present.append(person)
                }
                try await connection.query(
                    """
                    UPDATE person_groups SET name = \(name ?? current.name), external_id = \(externalID ?? current.external)
                    WHERE id = \(id)
                    """, logger: logger)
                try await Self.setMembers(
                    connection, group: id, tenantID: tenantID, members.applied(to: present), logger: logger)
                return true
            }
        } catch let error as PostgresTransactionError {
            if let psql = error.closureError as? PSQLError, psql.serverInfo?[.sqlState] == "23505" {
                throw FerryError(.usage, "a group named \(name ?? "") already exists")
            }
            throw error.closureError ?? error
        }
        return found ? try await group(id, tenantID: tenantID) : nil
    }

    public func deleteGroup(_ id: String, tenantID: String) async throws -> Bool {
        for try await _ in try await client.query(
            "DELETE FROM person_groups WHERE id = \(id) AND tenant_id = \(tenantID) RETURNING id"
        ) { return true }
        return false
    }

    static func setMembers(
        _ connection: PostgresConnection, group: String, tenantID: String, _ ids: [String], logger: Logger
    ) async throws {
        try await connection.query("DELETE FROM group_members WHERE group_id = \(group)", logger: logger)
        for (position, person) in ids.enumerated() {
            try await connection.query(
                """
                INSERT INTO group_members (group_id, person_id, position)
                SELECT \(group), id, \(position) FROM people WHERE id = \(person) AND tenant_id = \(tenantID)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }
}
