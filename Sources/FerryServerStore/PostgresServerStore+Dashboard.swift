import FerryCore
import Foundation
import PostgresNIO

/// Sessions, eval reports and spend by day on PostgreSQL.
extension PostgresServerStore {
    public func createSession(keyID: String, now: Date, lifetime: Double) async throws -> (token: String, csrf: String)
    {
        let token = ServerIDs.secret("fs_")
        let csrf = ServerIDs.secret("")
        let at = now.timeIntervalSince1970
        try await client.query("DELETE FROM sessions WHERE expires_at < \(at)")
        try await client.query(
            """
            INSERT INTO sessions (hash, tenant_id, person_id, key_id, csrf, created_at, expires_at)
            SELECT \(ServerIDs.hash(token)), tenant_id, owner_id, id, \(csrf), \(at), \(at + lifetime) FROM api_keys
            WHERE id = \(keyID)
            """)
        return (token, csrf)
    }

    public func createSession(personID: String, tenantID: String, now: Date, lifetime: Double) async throws -> (
        token: String, csrf: String
    ) {
        let token = ServerIDs.secret("fs_")
        let csrf = ServerIDs.secret("")
        let at = now.timeIntervalSince1970
        try await client.query("DELETE FROM sessions WHERE expires_at < \(at)")
        for try await _ in try await client.query(
            """
            INSERT INTO sessions (hash, tenant_id, person_id, key_id, csrf, created_at, expires_at)
            SELECT \(ServerIDs.hash(token)), tenant_id, id, NULL, \(csrf), \(at), \(at + lifetime) FROM people
            WHERE id = \(personID) AND tenant_id = \(tenantID) AND active RETURNING hash
            """
        ) { return (token, csrf) }
        throw FerryError(.usage, "no active person \(personID) in the tenant")
    }

    public func session(_ token: String, now: Date) async throws -> (principal: Principal, csrf: String)? {
        for try await row in try await client.query(
            """
            SELECT s.tenant_id, s.key_id AS id, s.hash AS session, s.csrf, k.role, k.revoked_at, k.expires_at, p.id AS person,
                p.role AS person_role, p.active
            FROM sessions s JOIN people p ON p.id = s.person_id LEFT JOIN api_keys k ON k.id = s.key_id
            WHERE s.hash = \(ServerIDs.hash(token)) AND s.expires_at > \(now.timeIntervalSince1970)
            """
        ) {
            let r = row.makeRandomAccess()
            guard let principal = try Self.principal(r, now: now) else { return nil }
            return (principal, try r["csrf"].decode(String.self))
        }
        return nil
    }

    public func deleteSession(_ token: String) async throws {
        try await client.query("DELETE FROM sessions WHERE hash = \(ServerIDs.hash(token))")
    }

    public func addEval(tenantID: String, name: String, report: String, at: Date) async throws -> String {
        let id = ServerIDs.newID("eval")
        try await client.query(
            """
            INSERT INTO evals (id, tenant_id, name, created_at, report)
            VALUES (\(id), \(tenantID), \(name), \(at.timeIntervalSince1970), \(report))
            """)
        return id
    }

    public func evals(tenantID: String) async throws -> [EvalRecord] {
        var result: [EvalRecord] = []
        for try await (id, name, at, report) in try await client.query(
            "SELECT id, name, created_at, report FROM evals WHERE tenant_id = \(tenantID) ORDER BY created_at, id"
        ).decode((String, String, Double, String).self) {
            result.append(EvalRecord(id: id, name: name, at: Date(timeIntervalSince1970: at), report: report))
        }
        return result
    }

    public func taskCounts(tenantID: String, since: Date) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for try await (state, count) in try await client.query(
            "SELECT state, COUNT(*) FROM tasks WHERE tenant_id = \(tenantID) AND created_at >= \(since.timeIntervalSince1970) GROUP BY state"
        ).decode((String, Int).self) {
            counts[state] = count
        }
        return counts
    }

    public func spendByDay(tenantID: String, since: Date) async throws -> [SpendRow] {
        var result: [SpendRow] = []
        for try await (day, model, project, usd, calls) in try await client.query(
            """
            SELECT to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, model, project_id, SUM(usd), COUNT(*)
            FROM spend WHERE tenant_id = \(tenantID) AND at >= \(since.timeIntervalSince1970)
            GROUP BY day, model, project_id ORDER BY day
            """
        ).decode((String, String, String, Double, Int).self) {
            result.append(SpendRow(day: day, model: model, projectID: project, usd: usd, calls: calls))
        }
        return result
    }
}
