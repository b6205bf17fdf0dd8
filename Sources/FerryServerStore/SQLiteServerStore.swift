import FerryCore
import FerryStore
import Foundation
import GRDB

/// The embedded server store: one SQLite file (WAL) under the server's data directory. SQLite serialises writers,
/// so a claim is one write transaction: no two workers can take the same task.
public final class SQLiteServerStore: ServerStore {
    let pool: DatabasePool
    public let path: String
    /// Every writer of this file is in this process, so a signal here reaches every worker.
    public let workSignal = WorkSignal()

    public func listenForWork() async {}

    public init(path: String) throws {
        self.path = path
        pool = try SQLiteRunStore.openPool(path: path, migrator: Self.migrator, what: "the server store")
    }

    // MARK: - Tenants and keys

    public func createTenant(name: String) async throws -> Tenant {
        let tenant = Tenant(id: ServerIDs.newID("ten"), name: name, createdAt: Date())
        try await write { db in
            try db.execute(
                sql: "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                arguments: [tenant.id, tenant.name, tenant.createdAt.timeIntervalSince1970])
            try Self.insertBuiltIn(db, tenantID: tenant.id, at: tenant.createdAt)
        }
        return tenant
    }

    static func insertBuiltIn(_ db: Database, tenantID: String, at: Date) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO people (id, tenant_id, kind, name, role, active, created_at)
                VALUES (?, ?, 'service', 'built-in', 'admin', 1, ?)
                """,
            arguments: [Person.builtInID(tenantID: tenantID), tenantID, at.timeIntervalSince1970])
    }

    public func tenant(named name: String) async throws -> Tenant? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE name = ?", arguments: [name]).map {
                Tenant(id: $0["id"], name: $0["name"], createdAt: Date(timeIntervalSince1970: $0["created_at"]))
            }
        }
    }

    public func createKey(_ new: NewKey, tenantID: String, now: Date) async throws -> (id: String, key: String) {
        let id = ServerIDs.newID("key")
        let key = ServerIDs.secret("fy_")
        let hash = ServerIDs.hash(key)
        let owner = new.ownerID ?? Person.builtInID(tenantID: tenantID)
        try await write { db in
            guard
                try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM people WHERE id = ? AND tenant_id = ?", arguments: [owner, tenantID])
                    != nil
            else { throw FerryError(.usage, "no person or service account \(owner) in this tenant") }
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, tenant_id, role, hash, created_at, owner_id, name, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, tenantID, new.role.rawValue, hash, now.timeIntervalSince1970, owner, new.name,
                    new.expiresAt?.timeIntervalSince1970,
                ])
        }
        return (id, key)
    }

    public func authenticate(_ key: String, now: Date) async throws -> Principal? {
        let hash = ServerIDs.hash(key)
        return try await read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT k.id, k.tenant_id, k.role, k.revoked_at, k.expires_at, p.id AS person, p.role AS person_role,
                        p.active FROM api_keys k JOIN people p ON p.id = k.owner_id WHERE k.hash = ?
                    """,
                arguments: [hash]
            ).flatMap { row in
                Self.principal(
                    row, key: row["id"], keyRole: row["role"], revokedAt: row["revoked_at"],
                    expiresAt: row["expires_at"],
                    now: now)
            }
        }
    }

    /// The principal of a key (or session) row with its owner's `person`, `person_role` and `active` columns, when
    /// `KeyRules` says it works.
    static func principal(
        _ row: Row, key: String, keyRole: String?, revokedAt: Double?, expiresAt: Double?, now: Date
    ) -> Principal? {
        guard let owner = Role(rawValue: row["person_role"]) else { return nil }
        let role = keyRole.map { Role(rawValue: $0) } ?? owner
        guard let role,
            let effective = KeyRules.effectiveRole(
                key: role, revokedAt: revokedAt.map { Date(timeIntervalSince1970: $0) },
                expiresAt: expiresAt.map { Date(timeIntervalSince1970: $0) }, owner: owner, ownerActive: row["active"],
                now: now)
        else { return nil }
        return Principal(tenantID: row["tenant_id"], role: effective, keyID: key, personID: row["person"])
    }

    // MARK: - Projects

    public func createProject(_ project: Project) async throws -> Project {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO projects (id, tenant_id, name, repo, base, model, test_command, created_at, webhook_url,
                        webhook_secret, push)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    project.id, project.tenantID, project.name, project.repo, project.base, project.model,
                    project.testCommand, project.createdAt.timeIntervalSince1970, project.webhookURL,
                    project.webhookSecret,
                    project.push,
                ])
        }
        return project
    }

    public func project(_ idOrName: String, tenantID: String) async throws -> Project? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT * FROM projects WHERE tenant_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1",
                arguments: [tenantID, idOrName, idOrName, idOrName]
            ).map(Self.project)
        }
    }

    public func project(id: String) async throws -> Project? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM projects WHERE id = ?", arguments: [id]).map(Self.project)
        }
    }

    public func projects(tenantID: String) async throws -> [Project] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM projects WHERE tenant_id = ? ORDER BY created_at, id", arguments: [tenantID]
            )
            .map(Self.project)
        }
    }

    public func localProjects() async throws -> [Project] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM projects WHERE repo LIKE '/%' ORDER BY created_at, id").map(
                Self.project)
        }
    }

    static func project(_ row: Row) -> Project {
        Project(
            id: row["id"], tenantID: row["tenant_id"], name: row["name"], repo: row["repo"], base: row["base"],
            model: row["model"], testCommand: row["test_command"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            webhookURL: row["webhook_url"], webhookSecret: row["webhook_secret"], push: row["push"])
    }

    // MARK: - Tasks

    public func createTask(_ new: NewTask, tenantID: String, now: Date) async throws -> (
        task: ServerTask, created: Bool
    ) {
        let id = ServerIDs.newID("task")
        let result: (task: ServerTask, created: Bool) = try await write { db in
            if let key = new.idempotencyKey,
                let existing = try Row.fetchOne(
                    db, sql: "SELECT * FROM tasks WHERE tenant_id = ? AND idempotency_key = ?",
                    arguments: [tenantID, key])
            {
                return (Self.task(existing), false)
            }
            return (try Self.insertTask(db, id: id, new, tenantID: tenantID, now: now), true)
        }
        if result.created { workSignal.notify() }
        return result
    }

    static func insertTask(_ db: Database, id: String, _ new: NewTask, tenantID: String, now: Date) throws -> ServerTask
    {
        try db.execute(
            sql: """
                INSERT INTO tasks (id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt,
                    max_attempts, priority, scheduled_at, idempotency_key, errors, cancel_requested, cost_usd, created_at,
                    created_by, retry_of, person_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, '[]', 0, 0, ?, ?, ?, ?)
                """,
            arguments: [
                id, tenantID, new.projectID, new.task, new.base, new.model, new.maxCostUSD, max(1, new.maxAttempts),
                new.priority, now.timeIntervalSince1970, new.idempotencyKey, now.timeIntervalSince1970,
                new.createdBy, new.retryOf, new.personID,
            ])
        return try Self.task(Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id])!)
    }

    public func task(_ id: String, tenantID: String) async throws -> ServerTask? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
                .map(Self.task)
        }
    }

    public func task(id: String) async throws -> ServerTask? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task)
        }
    }

    public func task(idempotencyKey: String, tenantID: String) async throws -> ServerTask? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM tasks WHERE tenant_id = ? AND idempotency_key = ?",
                arguments: [tenantID, idempotencyKey]
            ).map(Self.task)
        }
    }

    public func tasks(tenantID: String, filter: TaskFilter, limit: Int, after: String?) async throws -> [ServerTask] {
        try await read { db in
            let states = filter.states
            var sql =
                "SELECT \(Self.listColumns) FROM tasks WHERE tenant_id = ? AND state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
            var arguments: StatementArguments = [tenantID]
            _ = arguments.append(contentsOf: StatementArguments(states))
            if let project = filter.projectID {
                sql += " AND project_id = ?"
                _ = arguments.append(contentsOf: [project])
            }
            if let author = filter.createdBy {
                sql += " AND created_by = ?"
                _ = arguments.append(contentsOf: [author])
            }
            if let text = filter.text, !text.isEmpty {
                sql += " AND instr(lower(task), lower(?)) > 0"
                _ = arguments.append(contentsOf: [text])
            }
            if let since = filter.since {
                sql += " AND created_at >= ?"
                _ = arguments.append(contentsOf: [since.timeIntervalSince1970])
            }
            if let until = filter.until {
                sql += " AND created_at < ?"
                _ = arguments.append(contentsOf: [until.timeIntervalSince1970])
            }
            if let after,
                let cursor = try Row.fetchOne(
                    db, sql: "SELECT created_at, id FROM tasks WHERE id = ? AND tenant_id = ?",
                    arguments: [after, tenantID])
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

    /// Every column but the diff, which a list never shows.
    static let listColumns = """
        id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt, max_attempts, priority, scheduled_at,
        attempted_by, lease_until, idempotency_key, errors, cancel_requested, run_id, branch, commit_sha, reason, cost_usd,
        created_at, finished_at, NULL AS diff, pushed_to, created_by, retry_of, steps, wall_seconds, person_id
        """

    static func task(_ row: Row) -> ServerTask {
        func date(_ column: String) -> Date? { (row[column] as Double?).map { Date(timeIntervalSince1970: $0) } }
        let errors = ServerIDs.errors(row["errors"] as String)
        return ServerTask(
            id: row["id"], tenantID: row["tenant_id"], projectID: row["project_id"], task: row["task"],
            base: row["base"],
            model: row["model"], maxCostUSD: row["max_cost_usd"], state: TaskState(rawValue: row["state"]) ?? .failed,
            attempt: row["attempt"], maxAttempts: row["max_attempts"], priority: row["priority"],
            scheduledAt: date("scheduled_at") ?? Date(), attemptedBy: row["attempted_by"],
            leaseUntil: date("lease_until"),
            idempotencyKey: row["idempotency_key"], errors: errors, cancelRequested: row["cancel_requested"],
            runID: row["run_id"], branch: row["branch"], commitSHA: row["commit_sha"], reason: row["reason"],
            costUSD: row["cost_usd"], createdAt: date("created_at") ?? Date(), finishedAt: date("finished_at"),
            diff: row["diff"], pushedTo: row["pushed_to"], createdBy: row["created_by"], retryOf: row["retry_of"],
            steps: row["steps"] ?? 0, wallSeconds: row["wall_seconds"], personID: row["person_id"])
    }

    // MARK: - Access

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as FerryError { throw error } catch {
            throw FerryError(.store, "server store write failed: \(error)")
        }
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw FerryError(.store, "server store read failed: \(error)") }
    }
}
