import FerryCore
import Foundation
import Logging
import PostgresNIO

/// The audit chain on PostgreSQL: an entry is sealed against its tenant's head row, locked (`FOR UPDATE`) in the
/// transaction that stores it, so two servers appending at once take turns and the chain never forks.
extension PostgresServerStore {
    @discardableResult
    public func audit(_ entry: AuditEntry) async throws -> AuditEntry {
        try await client.withTransaction(logger: logger) { connection in
            try await Self.append(connection, entry, logger: logger)
        }
    }

    @discardableResult
    static func append(_ connection: PostgresConnection, _ entry: AuditEntry, logger: Logger) async throws
        -> AuditEntry
    {
        try await connection.query(
            """
            INSERT INTO audit_heads (tenant_id, seq, hash, start_seq, start_hash)
            VALUES (\(entry.tenantID), 0, \(AuditChain.genesis), 0, \(AuditChain.genesis)) ON CONFLICT DO NOTHING
            """, logger: logger)
        var head = (seq: 0, hash: AuditChain.genesis)
        for try await (seq, hash) in try await connection.query(
            "SELECT seq, hash FROM audit_heads WHERE tenant_id = \(entry.tenantID) FOR UPDATE", logger: logger
        ).decode((Int, String).self) {
            head = (seq, hash)
        }
        let sealed = AuditChain.seal(entry, after: head)
        try await connection.query(
            """
            INSERT INTO audit (tenant_id, key_id, person_id, surface, action, object, detail, remote, at, seq, prev_hash,
                hash)
            VALUES (\(sealed.tenantID), \(sealed.keyID), \(sealed.personID), \(sealed.surface.rawValue), \(sealed.action),
                \(sealed.object), \(sealed.detail), \(sealed.remote), \(sealed.at.timeIntervalSince1970), \(sealed.seq),
                \(sealed.prevHash), \(sealed.hash))
            """, logger: logger)
        try await connection.query(
            "UPDATE audit_heads SET seq = \(sealed.seq), hash = \(sealed.hash) WHERE tenant_id = \(sealed.tenantID)",
            logger: logger)
        return sealed
    }

    public func auditLog(tenantID: String, filter: AuditFilter, limit: Int) async throws -> [AuditEntry] {
        var bindings = PostgresBindings()
        bindings.append(tenantID)
        var clauses = ["tenant_id = $1"]
        func add(_ clause: (String) -> String, _ value: some PostgresEncodable & Sendable) throws {
            try bindings.append(value)
            clauses.append(clause("$\(bindings.count)"))
        }
        if let action = filter.action {
            if action.hasSuffix(".") {
                try add({ "starts_with(action, \($0))" }, action)
            } else {
                try add({ "action = \($0)" }, action)
            }
        }
        if let person = filter.personID { try add({ "person_id = \($0)" }, person) }
        if let object = filter.object { try add({ "object = \($0)" }, object) }
        if let surface = filter.surface { try add({ "surface = \($0)" }, surface.rawValue) }
        if let since = filter.since { try add({ "at >= \($0)" }, since.timeIntervalSince1970) }
        if let until = filter.until { try add({ "at < \($0)" }, until.timeIntervalSince1970) }
        if let before = filter.before { try add({ "seq < \($0)" }, before) }
        bindings.append(max(1, min(limit, 1000)))
        let sql =
            "SELECT * FROM audit WHERE \(clauses.joined(separator: " AND ")) ORDER BY seq DESC LIMIT $\(bindings.count)"
        return try await entries(PostgresQuery(unsafeSQL: sql, binds: bindings))
    }

    public func auditChain(tenantID: String, after: Int, limit: Int) async throws -> [AuditEntry] {
        try await entries(
            """
            SELECT * FROM audit WHERE tenant_id = \(tenantID) AND seq > \(after) ORDER BY seq
            LIMIT \(max(1, min(limit, 10_000)))
            """)
    }

    func entries(_ query: PostgresQuery) async throws -> [AuditEntry] {
        var result: [AuditEntry] = []
        for try await row in try await client.query(query) {
            result.append(try Self.auditEntry(row.makeRandomAccess()))
        }
        return result
    }

    public func auditHead(tenantID: String) async throws -> AuditHead {
        for try await (seq, hash, startSeq, startHash) in try await client.query(
            "SELECT seq, hash, start_seq, start_hash FROM audit_heads WHERE tenant_id = \(tenantID)"
        ).decode((Int, String, Int, String).self) {
            return AuditHead(seq: seq, hash: hash, startSeq: startSeq, startHash: startHash)
        }
        return AuditHead()
    }

    public func pruneAudit(before: Date) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            var removed = 0
            var lasts: [(String, Int)] = []
            for try await (tenant, seq) in try await connection.query(
                "SELECT tenant_id, MAX(seq) FROM audit WHERE at < \(before.timeIntervalSince1970) GROUP BY tenant_id",
                logger: logger
            ).decode((String, Int).self) {
                lasts.append((tenant, seq))
            }
            for (tenant, last) in lasts {
                // The head row is locked first, as appends lock it, so pruning and appending take turns.
                try await connection.query(
                    "SELECT 1 FROM audit_heads WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger)
                var hash = AuditChain.genesis
                for try await (value, ) in try await connection.query(
                    "SELECT hash FROM audit WHERE tenant_id = \(tenant) AND seq = \(last)", logger: logger
                ).decode((String).self) {
                    hash = value
                }
                for try await _ in try await connection.query(
                    "DELETE FROM audit WHERE tenant_id = \(tenant) AND seq <= \(last) RETURNING seq", logger: logger)
                {
                    removed += 1
                }
                try await connection.query(
                    "UPDATE audit_heads SET start_seq = \(last), start_hash = \(hash) WHERE tenant_id = \(tenant)",
                    logger: logger)
            }
            return removed
        }
    }

    public func auditedTenants() async throws -> [String] {
        var result: [String] = []
        for try await (tenant, ) in try await client.query("SELECT tenant_id FROM audit_heads ORDER BY tenant_id")
            .decode((String).self)
        {
            result.append(tenant)
        }
        return result
    }

    public func setAuditSink(tenantID: String, url: String?, secret: String?, fromStart: Bool) async throws {
        guard let url, let secret else {
            try await client.query("DELETE FROM audit_sinks WHERE tenant_id = \(tenantID)")
            return
        }
        let head = fromStart ? 0 : try await auditHead(tenantID: tenantID).seq
        try await client.query(
            """
            INSERT INTO audit_sinks (tenant_id, url, secret, after_seq, failures, next_at)
            VALUES (\(tenantID), \(url), \(secret), \(head), 0, 0)
            ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
                after_seq = excluded.after_seq, failures = 0, next_at = 0, last_error = NULL
            """)
    }

    public func auditSinks() async throws -> [AuditSink] {
        var result: [AuditSink] = []
        for try await (tenant, url, secret, after, failures, next, error) in try await client.query(
            "SELECT tenant_id, url, secret, after_seq, failures, next_at, last_error FROM audit_sinks ORDER BY tenant_id"
        ).decode((String, String, String, Int, Int, Double, String?).self) {
            result.append(
                AuditSink(
                    tenantID: tenant, url: url, secret: secret, after: after, failures: failures,
                    nextAt: Date(timeIntervalSince1970: next), lastError: error))
        }
        return result
    }

    public func recordAuditPush(tenantID: String, after: Int?, error: String?, retryAt: Date?) async throws {
        if let after {
            try await client.query(
                """
                UPDATE audit_sinks SET after_seq = GREATEST(after_seq, \(after)), failures = 0, next_at = 0, last_error = NULL
                WHERE tenant_id = \(tenantID)
                """)
        } else {
            try await client.query(
                """
                UPDATE audit_sinks SET failures = failures + 1, next_at = \(retryAt?.timeIntervalSince1970 ?? 0),
                    last_error = \(error) WHERE tenant_id = \(tenantID)
                """)
        }
    }

    static func auditEntry(_ r: PostgresRandomAccessRow) throws -> AuditEntry {
        AuditEntry(
            tenantID: try r["tenant_id"].decode(String.self), keyID: try r["key_id"].decode(String.self),
            personID: try r["person_id"].decode(String?.self),
            surface: Surface(rawValue: try r["surface"].decode(String.self)) ?? .api,
            action: try r["action"].decode(String.self), object: try r["object"].decode(String.self),
            detail: try r["detail"].decode(String.self), remote: try r["remote"].decode(String?.self),
            at: Date(timeIntervalSince1970: try r["at"].decode(Double.self)),
            seq: try r["seq"].decode(Int?.self) ?? 0, prevHash: try r["prev_hash"].decode(String?.self) ?? "",
            hash: try r["hash"].decode(String?.self) ?? "")
    }

    /// Seals the entries written before the chain existed, in the order written (an upgrade's one-time step, in the
    /// migration's transaction).
    static func sealLegacyAudit(_ connection: PostgresConnection, logger: Logger) async throws {
        var legacy: [(Int64, AuditEntry)] = []
        for try await row in try await connection.query(
            "SELECT * FROM audit WHERE hash IS NULL ORDER BY tenant_id, id", logger: logger)
        {
            let r = row.makeRandomAccess()
            legacy.append((try r["id"].decode(Int64.self), try auditEntry(r)))
        }
        for (id, entry) in legacy {
            try await connection.query("DELETE FROM audit WHERE id = \(id)", logger: logger)
            try await append(connection, entry, logger: logger)
        }
    }
}
