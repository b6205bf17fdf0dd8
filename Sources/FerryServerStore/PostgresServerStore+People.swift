import FerryCore
import Foundation
import Logging
import PostgresNIO

/// People, service accounts and their keys on PostgreSQL.
extension PostgresServerStore {
    public func createPerson(_ new: NewPerson, tenantID: String, now: Date) async throws -> Person {
        let person = Person(
            id: ServerIDs.newID(new.kind == .person ? "per" : "svc"), tenantID: tenantID, kind: new.kind,
            name: new.name, email: new.email, externalID: new.externalID, role: new.role, active: true,
            createdAt: now, deactivatedAt: nil)
        do {
            try await client.query(
                """
                INSERT INTO people (id, tenant_id, kind, name, email, external_id, role, active, created_at)
                VALUES (\(person.id), \(tenantID), \(person.kind.rawValue), \(person.name), \(person.email),
                    \(person.externalID), \(person.role.rawValue), true, \(now.timeIntervalSince1970))
                """)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw Self.duplicate(person)
        }
        return person
    }

    /// The unique indexes' refusal, said as the client's mistake it is.
    static func duplicate(_ person: Person) -> FerryError {
        FerryError(
            .usage,
            "someone in this tenant already has the "
                + (person.email.map { "email \($0)" } ?? "external id \(person.externalID ?? "")")
                + (person.email != nil && person.externalID != nil ? " or the external id \(person.externalID!)" : ""))
    }

    public func person(_ id: String, tenantID: String) async throws -> Person? {
        try await people("WHERE id = \(id) AND tenant_id = \(tenantID)").first
    }

    public func person(externalID: String?, email: String?, tenantID: String) async throws -> Person? {
        if let externalID,
            let found = try await people("WHERE tenant_id = \(tenantID) AND external_id = \(externalID)").first
        {
            return found
        }
        guard let email else { return nil }
        return try await people("WHERE tenant_id = \(tenantID) AND lower(email) = lower(\(email))").first
    }

    public func people(tenantID: String) async throws -> [Person] {
        try await people(
            "WHERE tenant_id = \(tenantID) ORDER BY id = \(Person.builtInID(tenantID: tenantID)) DESC, created_at, id")
    }

    public func updatePerson(_ id: String, tenantID: String, _ change: PersonChange, now: Date) async throws -> Person?
    {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                var current: Person?
                for try await row in try await connection.query(
                    "SELECT * FROM people WHERE id = \(id) AND tenant_id = \(tenantID) FOR UPDATE", logger: logger)
                {
                    current = try Self.person(row.makeRandomAccess())
                }
                guard let current else { return nil }
                let next = change.applied(to: current, now: now)
                try await connection.query(
                    """
                    UPDATE people SET name = \(next.name), email = \(next.email), external_id = \(next.externalID),
                        role = \(next.role.rawValue), active = \(next.active),
                        deactivated_at = \(next.deactivatedAt?.timeIntervalSince1970)
                    WHERE id = \(id)
                    """, logger: logger)
                if current.active && !next.active {
                    // Its keys and sessions end now, for good: reactivating someone gives back no key that was out
                    // while they were gone (authentication also refuses an inactive owner's keys).
                    try await connection.query("DELETE FROM sessions WHERE person_id = \(id)", logger: logger)
                    try await connection.query(
                        """
                        UPDATE api_keys SET revoked_at = \(now.timeIntervalSince1970)
                        WHERE owner_id = \(id) AND revoked_at IS NULL
                        """, logger: logger)
                }
                return next
            }
        } catch let error as PostgresTransactionError {
            if let psql = error.closureError as? PSQLError, psql.serverInfo?[.sqlState] == "23505" {
                throw FerryError(.usage, "someone in this tenant already has that email or external id")
            }
            throw error.closureError ?? error
        }
    }

    func people(_ clause: PostgresQuery) async throws -> [Person] {
        var query = PostgresQuery(unsafeSQL: "SELECT * FROM people ")
        query.sql += clause.sql
        query.binds = clause.binds
        var result: [Person] = []
        for try await row in try await client.query(query) {
            result.append(try Self.person(row.makeRandomAccess()))
        }
        return result
    }

    static func person(_ r: PostgresRandomAccessRow) throws -> Person {
        Person(
            id: try r["id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
            kind: AccountKind(rawValue: try r["kind"].decode(String.self)) ?? .service,
            name: try r["name"].decode(String.self), email: try r["email"].decode(String?.self),
            externalID: try r["external_id"].decode(String?.self),
            role: Role(rawValue: try r["role"].decode(String.self)) ?? .viewer,
            active: try r["active"].decode(Bool.self),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            deactivatedAt: try r["deactivated_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) })
    }

    // MARK: - Keys

    public func keys(tenantID: String) async throws -> [APIKeyInfo] {
        var result: [APIKeyInfo] = []
        for try await row in try await client.query(
            """
            SELECT id, role, created_at, revoked_at, owner_id, name, expires_at FROM api_keys WHERE tenant_id = \(tenantID)
            ORDER BY created_at, id
            """
        ) {
            let r = row.makeRandomAccess()
            result.append(
                APIKeyInfo(
                    id: try r["id"].decode(String.self),
                    role: Role(rawValue: try r["role"].decode(String.self)) ?? .viewer,
                    createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
                    revokedAt: try r["revoked_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) },
                    ownerID: try r["owner_id"].decode(String.self), name: try r["name"].decode(String.self),
                    expiresAt: try r["expires_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }))
        }
        return result
    }

    public func revokeKey(id: String, tenantID: String, now: Date) async throws -> Bool {
        for try await _ in try await client.query(
            """
            UPDATE api_keys SET revoked_at = \(now.timeIntervalSince1970)
            WHERE id = \(id) AND tenant_id = \(tenantID) AND revoked_at IS NULL RETURNING id
            """
        ) { return true }
        return false
    }

    public func rotateKey(id: String, tenantID: String, grace: Double, now: Date) async throws -> (
        id: String, key: String
    )? {
        let newID = ServerIDs.newID("key")
        let key = ServerIDs.secret("fy_")
        let at = now.timeIntervalSince1970
        return try await client.withTransaction(logger: logger) { connection in
            var found: (role: String, owner: String, name: String, created: Double, expires: Double?)?
            for try await row in try await connection.query(
                """
                SELECT role, owner_id, name, created_at, expires_at FROM api_keys
                WHERE id = \(id) AND tenant_id = \(tenantID) AND revoked_at IS NULL
                    AND (expires_at IS NULL OR expires_at > \(at)) FOR UPDATE
                """, logger: logger
            ).decode((String, String, String, Double, Double?).self) {
                found = (row.0, row.1, row.2, row.3, row.4)
            }
            guard let found else { return nil }
            let (newExpiry, oldExpiry) = KeyRules.rotation(
                createdAt: Date(timeIntervalSince1970: found.created),
                expiresAt: found.expires.map { Date(timeIntervalSince1970: $0) }, grace: grace, now: now)
            try await connection.query(
                """
                INSERT INTO api_keys (id, tenant_id, role, hash, created_at, owner_id, name, expires_at)
                VALUES (\(newID), \(tenantID), \(found.role), \(ServerIDs.hash(key)), \(at), \(found.owner), \(found.name),
                    \(newExpiry?.timeIntervalSince1970))
                """, logger: logger)
            try await connection.query(
                "UPDATE api_keys SET expires_at = \(oldExpiry.timeIntervalSince1970) WHERE id = \(id)", logger: logger)
            return (newID, key)
        }
    }
}
