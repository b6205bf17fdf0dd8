import Crypto
import FerryCore
import Foundation
import GRDB

/// The embedded server store: one SQLite file (WAL) under the server's data directory. SQLite serialises writers,
/// so a claim is one write transaction: no two workers can take the same task.
public final class SQLiteServerStore: ServerStore {
    let pool: DatabasePool
    public let path: String

    public init(path: String) throws {
        self.path = path
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw FerryError(.store, "cannot open the server store at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: tenants, keys, projects, tasks") { db in
            try db.execute(sql: """
                CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at DOUBLE NOT NULL);
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), role TEXT NOT NULL,
                    hash TEXT NOT NULL UNIQUE, created_at DOUBLE NOT NULL, revoked_at DOUBLE);
                CREATE TABLE projects (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                    repo TEXT NOT NULL, base TEXT NOT NULL, model TEXT, test_command TEXT, created_at DOUBLE NOT NULL,
                    UNIQUE (tenant_id, name));
                CREATE TABLE tasks (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    project_id TEXT NOT NULL REFERENCES projects(id), task TEXT NOT NULL, base TEXT, model TEXT,
                    max_cost_usd DOUBLE, state TEXT NOT NULL, attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
                    priority INTEGER NOT NULL, scheduled_at DOUBLE NOT NULL, attempted_by TEXT, lease_until DOUBLE,
                    idempotency_key TEXT, errors TEXT NOT NULL, cancel_requested INTEGER NOT NULL, run_id TEXT,
                    branch TEXT, commit_sha TEXT, reason TEXT, cost_usd DOUBLE NOT NULL, created_at DOUBLE NOT NULL,
                    finished_at DOUBLE, UNIQUE (tenant_id, idempotency_key));
                CREATE INDEX tasks_claim ON tasks (state, priority, scheduled_at, id);
                CREATE INDEX tasks_tenant ON tasks (tenant_id, created_at);
                """)
        }
        migrator.registerMigration("v2: budgets and spend") { db in
            try db.execute(sql: """
                CREATE TABLE budgets (
                    tenant_id TEXT NOT NULL REFERENCES tenants(id), project_id TEXT NOT NULL, monthly_usd DOUBLE NOT NULL,
                    PRIMARY KEY (tenant_id, project_id));
                CREATE TABLE spend (
                    tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, task_id TEXT NOT NULL, attempt INTEGER NOT NULL,
                    step INTEGER NOT NULL, model TEXT NOT NULL, input_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL, usd DOUBLE NOT NULL, at DOUBLE NOT NULL,
                    PRIMARY KEY (task_id, attempt, step));
                CREATE INDEX spend_month ON spend (tenant_id, at);
                """)
        }
        migrator.registerMigration("v3: the change kept with its task") { db in
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN diff TEXT")
        }
        migrator.registerMigration("v4: audit log") { db in
            try db.execute(sql: """
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL,
                    object TEXT NOT NULL, detail TEXT NOT NULL, remote TEXT, at DOUBLE NOT NULL);
                CREATE INDEX audit_tenant ON audit (tenant_id, at);
                """)
        }
        return migrator
    }

    static func newID(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
    }

    static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Tenants and keys

    public func createTenant(name: String) async throws -> Tenant {
        let tenant = Tenant(id: Self.newID("ten"), name: name, createdAt: Date())
        try await write { db in
            try db.execute(
                sql: "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                arguments: [tenant.id, tenant.name, tenant.createdAt.timeIntervalSince1970])
        }
        return tenant
    }

    public func tenant(named name: String) async throws -> Tenant? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE name = ?", arguments: [name]).map {
                Tenant(id: $0["id"], name: $0["name"], createdAt: Date(timeIntervalSince1970: $0["created_at"]))
            }
        }
    }

    public func createKey(tenantID: String, role: Role) async throws -> (id: String, key: String) {
        let id = Self.newID("key")
        var bytes = [UInt8](repeating: 0, count: 24)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        let key = "fy_" + bytes.map { String(format: "%02x", $0) }.joined()
        let hash = Self.hash(key)
        try await write { db in
            try db.execute(
                sql: "INSERT INTO api_keys (id, tenant_id, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, tenantID, role.rawValue, hash, Date().timeIntervalSince1970])
        }
        return (id, key)
    }

    public func authenticate(_ key: String) async throws -> Principal? {
        let hash = Self.hash(key)
        return try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, tenant_id, role FROM api_keys WHERE hash = ? AND revoked_at IS NULL", arguments: [hash]
            ).flatMap { row in
                Role(rawValue: row["role"]).map { Principal(tenantID: row["tenant_id"], role: $0, keyID: row["id"]) }
            }
        }
    }

    // MARK: - Projects

    public func createProject(_ project: Project) async throws -> Project {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO projects (id, tenant_id, name, repo, base, model, test_command, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    project.id, project.tenantID, project.name, project.repo, project.base, project.model,
                    project.testCommand, project.createdAt.timeIntervalSince1970,
                ])
        }
        return project
    }

    public func project(_ idOrName: String, tenantID: String) async throws -> Project? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM projects WHERE tenant_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1",
                arguments: [tenantID, idOrName, idOrName, idOrName]
            ).map(Self.project)
        }
    }

    public func project(id: String) async throws -> Project? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM projects WHERE id = ?", arguments: [id]).map(Self.project) }
    }

    public func projects(tenantID: String) async throws -> [Project] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM projects WHERE tenant_id = ? ORDER BY created_at, id", arguments: [tenantID])
                .map(Self.project)
        }
    }

    static func project(_ row: Row) -> Project {
        Project(
            id: row["id"], tenantID: row["tenant_id"], name: row["name"], repo: row["repo"], base: row["base"],
            model: row["model"], testCommand: row["test_command"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    // MARK: - Tasks

    public func createTask(_ new: NewTask, tenantID: String, now: Date) async throws -> (task: ServerTask, created: Bool) {
        let id = Self.newID("task")
        return try await write { db in
            if let key = new.idempotencyKey,
                let existing = try Row.fetchOne(
                    db, sql: "SELECT * FROM tasks WHERE tenant_id = ? AND idempotency_key = ?", arguments: [tenantID, key])
            {
                return (Self.task(existing), false)
            }
            try db.execute(
                sql: """
                    INSERT INTO tasks (id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt,
                        max_attempts, priority, scheduled_at, idempotency_key, errors, cancel_requested, cost_usd, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, '[]', 0, 0, ?)
                    """,
                arguments: [
                    id, tenantID, new.projectID, new.task, new.base, new.model, new.maxCostUSD, max(1, new.maxAttempts),
                    new.priority, now.timeIntervalSince1970, new.idempotencyKey, now.timeIntervalSince1970,
                ])
            return (try Self.task(Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id])!), true)
        }
    }

    public func task(_ id: String, tenantID: String) async throws -> ServerTask? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]).map(Self.task)
        }
    }

    public func task(id: String) async throws -> ServerTask? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task) }
    }

    public func tasks(tenantID: String, state: TaskState?, limit: Int, after: String?) async throws -> [ServerTask] {
        try await read { db in
            var sql = "SELECT * FROM tasks WHERE tenant_id = ?"
            var arguments: StatementArguments = [tenantID]
            if let state {
                // The API's "queued" includes tasks waiting for a retry.
                sql += state == .queued ? " AND state IN ('queued', 'retryable')" : " AND state = ?"
                if state != .queued { _ = arguments.append(contentsOf: [state.rawValue]) }
            }
            if let after, let cursor = try Row.fetchOne(
                db, sql: "SELECT created_at, id FROM tasks WHERE id = ? AND tenant_id = ?", arguments: [after, tenantID])
            {
                let created: Double = cursor["created_at"]
                sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
                _ = arguments.append(contentsOf: [created, created, after])
            }
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            _ = arguments.append(contentsOf: [max(1, min(limit, 200))])
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.task)
        }
    }

    static func task(_ row: Row) -> ServerTask {
        func date(_ column: String) -> Date? { (row[column] as Double?).map { Date(timeIntervalSince1970: $0) } }
        let errors = (try? JSONDecoder().decode([String].self, from: Data((row["errors"] as String).utf8))) ?? []
        return ServerTask(
            id: row["id"], tenantID: row["tenant_id"], projectID: row["project_id"], task: row["task"], base: row["base"],
            model: row["model"], maxCostUSD: row["max_cost_usd"], state: TaskState(rawValue: row["state"]) ?? .failed,
            attempt: row["attempt"], maxAttempts: row["max_attempts"], priority: row["priority"],
            scheduledAt: date("scheduled_at") ?? Date(), attemptedBy: row["attempted_by"], leaseUntil: date("lease_until"),
            idempotencyKey: row["idempotency_key"], errors: errors, cancelRequested: row["cancel_requested"],
            runID: row["run_id"], branch: row["branch"], commitSHA: row["commit_sha"], reason: row["reason"],
            costUSD: row["cost_usd"], createdAt: date("created_at") ?? Date(), finishedAt: date("finished_at"),
            diff: row["diff"])
    }

    // MARK: - The queue

    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        try await write { db in
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT id FROM tasks WHERE state IN ('queued', 'retryable') AND scheduled_at <= ?
                    ORDER BY priority DESC, scheduled_at, id LIMIT 1
                    """,
                arguments: [now.timeIntervalSince1970])
            else { return nil }
            let id: String = row["id"]
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'running', attempt = attempt + 1, attempted_by = ?, lease_until = ?
                    WHERE id = ?
                    """,
                arguments: [worker, now.addingTimeInterval(policy.leaseSeconds).timeIntervalSince1970, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task)
        }
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        try await write { db in
            try db.execute(
                sql: "UPDATE tasks SET lease_until = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                arguments: [now.addingTimeInterval(policy.leaseSeconds).timeIntervalSince1970, id, attempt])
            let held = db.changesCount == 1
            let cancel = try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM tasks WHERE id = ?", arguments: [id]) ?? false
            return (held, cancel)
        }
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE tasks SET run_id = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                arguments: [runID, id, attempt])
        }
    }

    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE tasks SET state = ?, reason = ?, run_id = ?, branch = ?, commit_sha = ?,
                        cost_usd = cost_usd + ?, finished_at = ?, lease_until = NULL, diff = ?
                    WHERE id = ? AND attempt = ? AND state = 'running'
                    """,
                arguments: [
                    outcome.state.rawValue, outcome.reason, outcome.runID, outcome.branch, outcome.commitSHA,
                    outcome.costUSD, now.timeIntervalSince1970, outcome.diff, id, attempt,
                ])
            return db.changesCount == 1
        }
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [String] {
        try await write { db in
            let expired = try Row.fetchAll(
                db, sql: "SELECT * FROM tasks WHERE state = 'running' AND lease_until < ?",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.task)
            for task in expired {
                let (state, scheduledAt, error) = policy.rescue(task, now: now)
                let errors = String(decoding: try JSONEncoder().encode(task.errors + [error]), as: UTF8.self)
                try db.execute(
                    sql: """
                        UPDATE tasks SET state = ?, scheduled_at = ?, errors = ?, lease_until = NULL, attempted_by = NULL,
                            reason = ?, finished_at = ?
                        WHERE id = ? AND attempt = ?
                        """,
                    arguments: [
                        state.rawValue, scheduledAt.timeIntervalSince1970, errors, error,
                        state.isTerminal ? now.timeIntervalSince1970 : nil, task.id, task.attempt,
                    ])
            }
            return expired.map(\.id)
        }
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        try await write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT errors FROM tasks WHERE id = ? AND attempt = ? AND state = 'running'", arguments: [id, attempt])
            else { return false }
            let earlier = (try? JSONDecoder().decode([String].self, from: Data((row["errors"] as String).utf8))) ?? []
            let errors = String(decoding: try JSONEncoder().encode(earlier + [reason]), as: UTF8.self)
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'retryable', scheduled_at = ?, errors = ?, lease_until = NULL,
                        attempted_by = NULL
                    WHERE id = ? AND attempt = ? AND state = 'running'
                    """,
                arguments: [now.timeIntervalSince1970, errors, id, attempt])
            return db.changesCount == 1
        }
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE tasks SET state = 'cancelled', reason = 'cancelled before it started', finished_at = ?,
                        cancel_requested = 1
                    WHERE id = ? AND tenant_id = ? AND state IN ('queued', 'retryable')
                    """,
                arguments: [now.timeIntervalSince1970, id, tenantID])
            try db.execute(
                sql: "UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND tenant_id = ? AND state = 'running'",
                arguments: [id, tenantID])
            return try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
                .map(Self.task)
        }
    }

    // MARK: - Budgets and spend

    public func setBudget(tenantID: String, projectID: String?, monthlyUSD: Double?) async throws {
        try await write { db in
            if let monthlyUSD {
                try db.execute(
                    sql: """
                        INSERT INTO budgets (tenant_id, project_id, monthly_usd) VALUES (?, ?, ?)
                        ON CONFLICT (tenant_id, project_id) DO UPDATE SET monthly_usd = excluded.monthly_usd
                        """,
                    arguments: [tenantID, projectID ?? "", monthlyUSD])
            } else {
                try db.execute(
                    sql: "DELETE FROM budgets WHERE tenant_id = ? AND project_id = ?", arguments: [tenantID, projectID ?? ""])
            }
        }
    }

    public func budgets(tenantID: String, projectID: String?, now: Date) async throws -> [BudgetStatus] {
        let since = BudgetPolicy.monthStart(now).timeIntervalSince1970
        return try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT b.project_id, b.monthly_usd,
                        (SELECT COALESCE(SUM(s.usd), 0) FROM spend s WHERE s.tenant_id = b.tenant_id AND s.at >= ?
                            AND (b.project_id = '' OR s.project_id = b.project_id)) AS spent
                    FROM budgets b WHERE b.tenant_id = ? AND (b.project_id = '' OR b.project_id = ?)
                    ORDER BY b.project_id
                    """,
                arguments: [since, tenantID, projectID ?? ""]
            ).map { row in
                let project: String = row["project_id"]
                return BudgetStatus(
                    projectID: project.isEmpty ? nil : project, monthlyUSD: row["monthly_usd"], spentUSD: row["spent"])
            }
        }
    }

    public func recordSpend(_ spend: SpendRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO spend (tenant_id, project_id, task_id, attempt, step, model, input_tokens,
                        output_tokens, usd, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spend.tenantID, spend.projectID, spend.taskID, spend.attempt, spend.step, spend.model,
                    spend.usage.inputTokens, spend.usage.outputTokens, spend.usd, spend.at.timeIntervalSince1970,
                ])
        }
    }

    public func stats() async throws -> ServerStats {
        try await read { db in
            var stats = ServerStats()
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM tasks GROUP BY state") {
                stats.tasksByState[row["state"]] = row["n"]
            }
            for row in try Row.fetchAll(
                db, sql: "SELECT model, SUM(usd) AS usd, SUM(input_tokens) AS i, SUM(output_tokens) AS o, COUNT(*) AS n FROM spend GROUP BY model")
            {
                stats.spendByModel[row["model"]] = ServerStats.Spend(
                    usd: row["usd"], inputTokens: row["i"], outputTokens: row["o"], calls: row["n"])
            }
            return stats
        }
    }

    public func keys(tenantID: String) async throws -> [APIKeyInfo] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, role, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id",
                arguments: [tenantID]
            ).map { row in
                APIKeyInfo(
                    id: row["id"], role: Role(rawValue: row["role"]) ?? .viewer,
                    createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    revokedAt: (row["revoked_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
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

    public func audit(_ entry: AuditEntry) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO audit (tenant_id, key_id, action, object, detail, remote, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    entry.tenantID, entry.keyID, entry.action, entry.object, entry.detail, entry.remote,
                    entry.at.timeIntervalSince1970,
                ])
        }
    }

    public func auditLog(tenantID: String, limit: Int) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM audit WHERE tenant_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                arguments: [tenantID, max(1, min(limit, 500))]
            ).map { row in
                AuditEntry(
                    tenantID: row["tenant_id"], keyID: row["key_id"], action: row["action"], object: row["object"],
                    detail: row["detail"], remote: row["remote"], at: Date(timeIntervalSince1970: row["at"]))
            }
        }
    }

    // MARK: - Access

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch { throw FerryError(.store, "server store write failed: \(error)") }
    }

    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw FerryError(.store, "server store read failed: \(error)") }
    }
}
