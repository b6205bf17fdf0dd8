import FerryCore
import Foundation
import GRDB

/// The audit chain on SQLite: an entry is sealed against its tenant's head in the write transaction that stores it
/// (SQLite has one writer, so the head cannot move meanwhile).
extension SQLiteServerStore {
    @discardableResult
    public func audit(_ entry: AuditEntry) async throws -> AuditEntry {
        try await write { db in try Self.append(db, entry) }
    }

    @discardableResult
    static func append(_ db: Database, _ entry: AuditEntry) throws -> AuditEntry {
        let head = try Row.fetchOne(
            db, sql: "SELECT seq, hash FROM audit_heads WHERE tenant_id = ?", arguments: [entry.tenantID])
        let sealed = AuditChain.seal(entry, after: (head?["seq"] ?? 0, head?["hash"] ?? AuditChain.genesis))
        try db.execute(
            sql: """
                INSERT INTO audit (tenant_id, key_id, person_id, surface, action, object, detail, remote, at, seq,
                    prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                sealed.tenantID, sealed.keyID, sealed.personID, sealed.surface.rawValue, sealed.action, sealed.object,
                sealed.detail, sealed.remote, sealed.at.timeIntervalSince1970, sealed.seq, sealed.prevHash,
                sealed.hash,
            ])
        try db.execute(
            sql: """
                INSERT INTO audit_heads (tenant_id, seq, hash, start_seq, start_hash) VALUES (?, ?, ?, 0, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
                """,
            arguments: [sealed.tenantID, sealed.seq, sealed.hash, AuditChain.genesis])
        return sealed
    }

    public func auditLog(tenantID: String, filter: AuditFilter, limit: Int) async throws -> [AuditEntry] {
        var clauses = ["tenant_id = ?"]
        var arguments: StatementArguments = [tenantID]
        if let action = filter.action {
            if action.hasSuffix(".") {
                clauses.append("substr(action, 1, ?) = ?")
                arguments += [action.count, action]
            } else {
                clauses.append("action = ?")
                arguments += [action]
            }
        }
        if let person = filter.personID {
            clauses.append("person_id = ?")
            arguments += [person]
        }
        if let object = filter.object {
            clauses.append("object = ?")
            arguments += [object]
        }
        if let surface = filter.surface {
            clauses.append("surface = ?")
            arguments += [surface.rawValue]
        }
        if let since = filter.since {
            clauses.append("at >= ?")
            arguments += [since.timeIntervalSince1970]
        }
        if let until = filter.until {
            clauses.append("at < ?")
            arguments += [until.timeIntervalSince1970]
        }
        if let before = filter.before {
            clauses.append("seq < ?")
            arguments += [before]
        }
        arguments += [max(1, min(limit, 1000))]
        let sql = "SELECT * FROM audit WHERE \(clauses.joined(separator: " AND ")) ORDER BY seq DESC LIMIT ?"
        let bound = arguments
        return try await read { db in try Row.fetchAll(db, sql: sql, arguments: bound).map(Self.auditEntry) }
    }

    public func auditChain(tenantID: String, after: Int, limit: Int) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM audit WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [tenantID, after, max(1, min(limit, 10_000))]
            ).map(Self.auditEntry)
        }
    }

    public func auditHead(tenantID: String) async throws -> AuditHead {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM audit_heads WHERE tenant_id = ?", arguments: [tenantID]).map {
                AuditHead(seq: $0["seq"], hash: $0["hash"], startSeq: $0["start_seq"], startHash: $0["start_hash"])
            } ?? AuditHead()
        }
    }

    public func pruneAudit(before: Date) async throws -> Int {
        try await write { db in
            var removed = 0
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT tenant_id, MAX(seq) AS seq FROM audit WHERE at < ? GROUP BY tenant_id
                    """,
                arguments: [before.timeIntervalSince1970])
            {
                let tenant: String = row["tenant_id"]
                let last: Int = row["seq"]
                let hash = try String.fetchOne(
                    db, sql: "SELECT hash FROM audit WHERE tenant_id = ? AND seq = ?", arguments: [tenant, last])
                try db.execute(
                    sql: "DELETE FROM audit WHERE tenant_id = ? AND seq <= ?", arguments: [tenant, last])
                removed += db.changesCount
                try db.execute(
                    sql: "UPDATE audit_heads SET start_seq = ?, start_hash = ? WHERE tenant_id = ?",
                    arguments: [last, hash ?? AuditChain.genesis, tenant])
            }
            return removed
        }
    }

    public func auditedTenants() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT tenant_id FROM audit_heads ORDER BY tenant_id") }
    }

    public func setAuditSink(tenantID: String, url: String?, secret: String?, fromStart: Bool) async throws {
        try await write { db in
            guard let url, let secret else {
                try db.execute(sql: "DELETE FROM audit_sinks WHERE tenant_id = ?", arguments: [tenantID])
                return
            }
            let head =
                fromStart
                ? 0
                : try Int.fetchOne(db, sql: "SELECT seq FROM audit_heads WHERE tenant_id = ?", arguments: [tenantID])
                    ?? 0
            try db.execute(
                sql: """
                    INSERT INTO audit_sinks (tenant_id, url, secret, after_seq, failures, next_at) VALUES (?, ?, ?, ?, 0, 0)
                    ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
                        after_seq = excluded.after_seq, failures = 0, next_at = 0, last_error = NULL
                    """,
                arguments: [tenantID, url, secret, head])
        }
    }

    public func auditSinks() async throws -> [AuditSink] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_sinks ORDER BY tenant_id").map { row in
                AuditSink(
                    tenantID: row["tenant_id"], url: row["url"], secret: row["secret"], after: row["after_seq"],
                    failures: row["failures"], nextAt: Date(timeIntervalSince1970: row["next_at"]),
                    lastError: row["last_error"])
            }
        }
    }

    public func recordAuditPush(tenantID: String, after: Int?, error: String?, retryAt: Date?) async throws {
        try await write { db in
            if let after {
                try db.execute(
                    sql: """
                        UPDATE audit_sinks SET after_seq = MAX(after_seq, ?), failures = 0, next_at = 0, last_error = NULL
                        WHERE tenant_id = ?
                        """,
                    arguments: [after, tenantID])
            } else {
                try db.execute(
                    sql:
                        "UPDATE audit_sinks SET failures = failures + 1, next_at = ?, last_error = ? WHERE tenant_id = ?",
                    arguments: [retryAt?.timeIntervalSince1970 ?? 0, error, tenantID])
            }
        }
    }

    static func auditEntry(_ row: Row) -> AuditEntry {
        AuditEntry(
            tenantID: row["tenant_id"], keyID: row["key_id"], personID: row["person_id"],
            surface: Surface(rawValue: row["surface"]) ?? .api, action: row["action"], object: row["object"],
            detail: row["detail"], remote: row["remote"], at: Date(timeIntervalSince1970: row["at"]),
            seq: row["seq"] ?? 0, prevHash: row["prev_hash"] ?? "", hash: row["hash"] ?? "")
    }

    /// Seals the entries written before the chain existed, in the order they were written, each tenant's after its
    /// head, and names their key's owner (an upgrade's one-time step, in the migration's transaction).
    static func sealLegacyAudit(_ db: Database) throws {
        try db.execute(
            sql: "UPDATE audit SET person_id = (SELECT owner_id FROM api_keys WHERE api_keys.id = audit.key_id)")
        for row in try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE hash IS NULL ORDER BY tenant_id, id") {
            let id: Int64 = row["id"]
            let entry = auditEntry(row)
            try db.execute(sql: "DELETE FROM audit WHERE id = ?", arguments: [id])
            try append(db, entry)
        }
    }
}
