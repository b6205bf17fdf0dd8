import FerryCore
import Foundation
import GRDB

/// Sessions, eval reports and spend by day on SQLite.
extension SQLiteServerStore {
    public func createSession(keyID: String, now: Date, lifetime: Double) async throws -> (token: String, csrf: String)
    {
        let token = ServerIDs.secret("fs_")
        let csrf = ServerIDs.secret("")
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ?", arguments: [now.timeIntervalSince1970])
            try db.execute(
                sql: """
                    INSERT INTO sessions (hash, tenant_id, person_id, key_id, csrf, created_at, expires_at)
                    SELECT ?, tenant_id, owner_id, id, ?, ?, ? FROM api_keys WHERE id = ?
                    """,
                arguments: [
                    ServerIDs.hash(token), csrf, now.timeIntervalSince1970, now.timeIntervalSince1970 + lifetime, keyID,
                ])
        }
        return (token, csrf)
    }

    public func createSession(personID: String, tenantID: String, now: Date, lifetime: Double) async throws -> (
        token: String, csrf: String
    ) {
        let token = ServerIDs.secret("fs_")
        let csrf = ServerIDs.secret("")
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ?", arguments: [now.timeIntervalSince1970])
            try db.execute(
                sql: """
                    INSERT INTO sessions (hash, tenant_id, person_id, key_id, csrf, created_at, expires_at)
                    SELECT ?, tenant_id, id, NULL, ?, ?, ? FROM people WHERE id = ? AND tenant_id = ? AND active
                    """,
                arguments: [
                    ServerIDs.hash(token), csrf, now.timeIntervalSince1970, now.timeIntervalSince1970 + lifetime,
                    personID, tenantID,
                ])
            guard db.changesCount == 1 else { throw FerryError(.usage, "no active person \(personID) in the tenant") }
        }
        return (token, csrf)
    }

    public func session(_ token: String, now: Date) async throws -> (principal: Principal, csrf: String)? {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT s.tenant_id, s.key_id, s.hash, s.csrf, k.role, k.revoked_at, k.expires_at, p.id AS person,
                            p.role AS person_role, p.active
                        FROM sessions s JOIN people p ON p.id = s.person_id LEFT JOIN api_keys k ON k.id = s.key_id
                        WHERE s.hash = ? AND s.expires_at > ?
                        """,
                    arguments: [ServerIDs.hash(token), now.timeIntervalSince1970])
            else { return nil }
            let key: String? = row["key_id"]
            let hash: String = row["hash"]
            guard
                let principal = Self.principal(
                    row, key: key ?? "ses_" + hash.prefix(12), keyRole: row["role"], revokedAt: row["revoked_at"],
                    expiresAt: row["expires_at"], now: now)
            else { return nil }
            return (principal, row["csrf"])
        }
    }

    public func deleteSession(_ token: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE hash = ?", arguments: [ServerIDs.hash(token)])
        }
    }

    public func addEval(tenantID: String, name: String, report: String, at: Date) async throws -> String {
        let id = ServerIDs.newID("eval")
        try await write { db in
            try db.execute(
                sql: "INSERT INTO evals (id, tenant_id, name, created_at, report) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, tenantID, name, at.timeIntervalSince1970, report])
        }
        return id
    }

    public func evals(tenantID: String) async throws -> [EvalRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, name, created_at, report FROM evals WHERE tenant_id = ? ORDER BY created_at, id",
                arguments: [tenantID]
            ).map {
                EvalRecord(
                    id: $0["id"], name: $0["name"], at: Date(timeIntervalSince1970: $0["created_at"]),
                    report: $0["report"])
            }
        }
    }

    public func taskCounts(tenantID: String, since: Date) async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT state, COUNT(*) AS n FROM tasks WHERE tenant_id = ? AND created_at >= ? GROUP BY state",
                arguments: [tenantID, since.timeIntervalSince1970])
            {
                counts[row["state"]] = row["n"]
            }
            return counts
        }
    }

    public func spendByDay(tenantID: String, since: Date) async throws -> [SpendRow] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT strftime('%Y-%m-%d', at, 'unixepoch') AS day, model, project_id, SUM(usd) AS usd, COUNT(*) AS calls
                    FROM spend WHERE tenant_id = ? AND at >= ? GROUP BY day, model, project_id ORDER BY day
                    """,
                arguments: [tenantID, since.timeIntervalSince1970]
            ).map {
                SpendRow(
                    day: $0["day"], model: $0["model"], projectID: $0["project_id"], usd: $0["usd"], calls: $0["calls"])
            }
        }
    }
}
