import FerryCore
import Foundation
import Logging
import PostgresNIO

/// The scale-out store: PostgreSQL is the queue and the source of truth, for a server and workers on many machines
/// (`ferry serve --database postgres://…`). Claims use `FOR UPDATE SKIP LOCKED`, so workers never wait on each other;
/// every write that must not race (claim, finish, rescue) is one statement or one transaction, fenced by the attempt.
/// Times are epoch seconds, as in the SQLite store, so both stores answer the same way.
public final class PostgresServerStore: ServerStore {
    let client: PostgresClient
    let logger = Logger(label: "ferry-postgres")
    public let workSignal = WorkSignal()

    /// The only way to a store: its lifetime is a scope. The client runs as a child of it, the schema is migrated,
    /// `body` gets the store, and the client stops when `body` returns or throws, so nothing of the store outlives
    /// the command, test or bench that opened it. `url` is `postgres://user:password@host:port/database`; an unreachable server is
    /// an error within `connectTimeout` seconds.
    public static func withStore<T: Sendable>(
        url: String, connectTimeout: Double = 20, _ body: @Sendable (PostgresServerStore) async throws -> T
    ) async throws -> T {
        let (client, endpoint) = try client(url)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = PostgresServerStore(client: client)
            try await store.migrate(within: connectTimeout, endpoint: endpoint)
            return try await body(store)
        }
    }

    private init(client: PostgresClient) {
        self.client = client
    }

    /// A client for `url`, not yet running, and `host:port` for errors.
    static func client(_ url: String) throws -> (PostgresClient, String) {
        guard let components = URLComponents(string: url),
            ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host
        else {
            throw FerryError(
                .config, "not a PostgreSQL URL: \(url) (expected postgres://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: .disable)
        return (PostgresClient(configuration: configuration), "\(host):\(components.port ?? 5432)")
    }

    /// Reaches the server, then migrates the schema. The pool retries a refused connection for ever; a server that
    /// is down or a wrong port must be an error that says so, within seconds. Only reaching it is bounded: a reached
    /// server that is busy (a loaded machine, another process holding the migration lock) is waited for.
    func migrate(within seconds: Double, endpoint: String) async throws {
        do {
            try await TimeLimit.run(seconds) { [self] in _ = try await self.client.query("SELECT 1") }
            try await migrate()
        } catch is TimeLimit.Exceeded {
            throw FerryError(
                .store,
                "cannot reach PostgreSQL at \(endpoint) within \(Int(seconds)) s (is it running, and is the URL right?)"
            )
        } catch {
            throw FerryError(.store, "cannot use the PostgreSQL database at \(endpoint): \(String(reflecting: error))")
        }
    }

    // MARK: - Tenants and keys

    public func createTenant(name: String) async throws -> Tenant {
        let tenant = Tenant(id: ServerIDs.newID("ten"), name: name, createdAt: Date())
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO tenants (id, name, created_at) VALUES (\(tenant.id), \(tenant.name), \(tenant.createdAt.timeIntervalSince1970))",
                logger: logger)
            try await connection.query(
                """
                INSERT INTO people (id, tenant_id, kind, name, role, active, created_at)
                VALUES (\(Person.builtInID(tenantID: tenant.id)), \(tenant.id), 'service', 'built-in', 'admin', true,
                    \(tenant.createdAt.timeIntervalSince1970))
                """, logger: logger)
        }
        return tenant
    }

    public func tenant(named name: String) async throws -> Tenant? {
        for try await (id, name, created) in try await client.query(
            "SELECT id, name, created_at FROM tenants WHERE name = \(name)"
        ).decode((String, String, Double).self) {
            return Tenant(id: id, name: name, createdAt: Date(timeIntervalSince1970: created))
        }
        return nil
    }

    public func createKey(_ new: NewKey, tenantID: String, now: Date) async throws -> (id: String, key: String) {
        let id = ServerIDs.newID("key")
        let key = ServerIDs.secret("fy_")
        let owner = new.ownerID ?? Person.builtInID(tenantID: tenantID)
        for try await _ in try await client.query(
            """
            INSERT INTO api_keys (id, tenant_id, role, hash, created_at, owner_id, name, expires_at)
            SELECT \(id), \(tenantID), \(new.role.rawValue), \(ServerIDs.hash(key)), \(now.timeIntervalSince1970), p.id,
                \(new.name), \(new.expiresAt?.timeIntervalSince1970)
            FROM people p WHERE p.id = \(owner) AND p.tenant_id = \(tenantID) RETURNING id
            """
        ) { return (id, key) }
        throw FerryError(.usage, "no person or service account \(owner) in this tenant")
    }

    public func authenticate(_ key: String, now: Date) async throws -> Principal? {
        for try await row in try await client.query(
            """
            SELECT k.id, k.tenant_id, k.role, k.revoked_at, k.expires_at, p.id AS person, p.role AS person_role, p.active
            FROM api_keys k JOIN people p ON p.id = k.owner_id WHERE k.hash = \(ServerIDs.hash(key))
            """
        ) {
            return try Self.principal(row.makeRandomAccess(), now: now)
        }
        return nil
    }

    /// The principal of a key (or session) row with `id`, `tenant_id`, `role`, `revoked_at`, `expires_at` (the
    /// key's, null for a session without one) and its owner's `person`, `person_role` and `active`, when
    /// `KeyRules` says it works.
    static func principal(_ r: PostgresRandomAccessRow, now: Date) throws -> Principal? {
        guard let owner = Role(rawValue: try r["person_role"].decode(String.self)) else { return nil }
        let keyRole = try r["role"].decode(String?.self)
        guard let role = keyRole.map({ Role(rawValue: $0) }) ?? owner,
            let effective = KeyRules.effectiveRole(
                key: role, revokedAt: try r["revoked_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) },
                expiresAt: try r["expires_at"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) },
                owner: owner, ownerActive: try r["active"].decode(Bool.self), now: now)
        else { return nil }
        return Principal(
            tenantID: try r["tenant_id"].decode(String.self), role: effective,
            keyID: try r["id"].decode(String?.self) ?? "ses_" + (try r["session"].decode(String.self)).prefix(12),
            personID: try r["person"].decode(String.self))
    }

    // MARK: - Projects

    public func createProject(_ project: Project) async throws -> Project {
        try await client.query(
            """
            INSERT INTO projects (id, tenant_id, name, repo, base, model, test_command, created_at, webhook_url, webhook_secret,
                push)
            VALUES (\(project.id), \(project.tenantID), \(project.name), \(project.repo), \(project.base), \(project.model),
                \(project.testCommand), \(project.createdAt.timeIntervalSince1970), \(project.webhookURL), \(project.webhookSecret),
                \(project.push))
            """)
        return project
    }

    public func project(_ idOrName: String, tenantID: String) async throws -> Project? {
        try await projects(
            "SELECT * FROM projects WHERE tenant_id = \(tenantID) AND (id = \(idOrName) OR name = \(idOrName)) ORDER BY (id = \(idOrName)) DESC LIMIT 1"
        ).first
    }

    public func project(id: String) async throws -> Project? {
        try await projects("SELECT * FROM projects WHERE id = \(id)").first
    }

    public func projects(tenantID: String) async throws -> [Project] {
        try await projects("SELECT * FROM projects WHERE tenant_id = \(tenantID) ORDER BY created_at, id")
    }

    public func localProjects() async throws -> [Project] {
        try await projects("SELECT * FROM projects WHERE repo LIKE '/%' ORDER BY created_at, id")
    }

    func projects(_ query: PostgresQuery) async throws -> [Project] {
        var result: [Project] = []
        for try await row in try await client.query(query) {
            let r = row.makeRandomAccess()
            result.append(
                Project(
                    id: try r["id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
                    name: try r["name"].decode(String.self), repo: try r["repo"].decode(String.self),
                    base: try r["base"].decode(String.self), model: try r["model"].decode(String?.self),
                    testCommand: try r["test_command"].decode(String?.self),
                    createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
                    webhookURL: try r["webhook_url"].decode(String?.self),
                    webhookSecret: try r["webhook_secret"].decode(String?.self),
                    push: try r["push"].decode(Bool.self)))
        }
        return result
    }

    // MARK: - Tasks

    public func createTask(_ new: NewTask, tenantID: String, now: Date) async throws -> (
        task: ServerTask, created: Bool
    ) {
        let id = ServerIDs.newID("task")
        let at = now.timeIntervalSince1970
        let inserted = try await tasks(Self.insertTask(id: id, new, tenantID: tenantID, at: at, onConflict: true))
        if let task = inserted.first {
            try await client.query("NOTIFY ferry_tasks")
            return (task, true)
        }
        guard let key = new.idempotencyKey, let task = try await task(idempotencyKey: key, tenantID: tenantID) else {
            throw FerryError(.store, "the task could not be created")
        }
        return (task, false)
    }

    /// A new task's row, returned; `onConflict` makes an idempotency key already used insert nothing.
    static func insertTask(id: String, _ new: NewTask, tenantID: String, at: Double, onConflict: Bool) -> PostgresQuery
    {
        """
        INSERT INTO tasks (id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt, max_attempts,
            priority, scheduled_at, idempotency_key, errors, cancel_requested, cost_usd, created_at, created_by, retry_of,
            person_id)
        VALUES (\(id), \(tenantID), \(new.projectID), \(new.task), \(new.base), \(new.model), \(new.maxCostUSD),
            'queued', 0, \(max(1, new.maxAttempts)), \(new.priority), \(at), \(new.idempotencyKey), '[]', false, 0, \(at),
            \(new.createdBy), \(new.retryOf), \(new.personID))
        \(unescaped: onConflict ? "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING" : "")
        RETURNING *
        """
    }

    public func task(_ id: String, tenantID: String) async throws -> ServerTask? {
        try await tasks("SELECT * FROM tasks WHERE id = \(id) AND tenant_id = \(tenantID)").first
    }

    public func task(id: String) async throws -> ServerTask? {
        try await tasks("SELECT * FROM tasks WHERE id = \(id)").first
    }

    public func task(idempotencyKey: String, tenantID: String) async throws -> ServerTask? {
        try await tasks("SELECT * FROM tasks WHERE tenant_id = \(tenantID) AND idempotency_key = \(idempotencyKey)")
            .first
    }

    public func tasks(tenantID: String, filter: TaskFilter, limit: Int, after: String?) async throws -> [ServerTask] {
        let cap = max(1, min(limit, 200))
        // No cursor: a point after every task.
        var cursorCreated = Double.greatestFiniteMagnitude
        var cursorID = ""
        if let after, let cursor = try await task(after, tenantID: tenantID) {
            cursorCreated = cursor.createdAt.timeIntervalSince1970
            cursorID = after
        }
        let text = filter.text.flatMap { $0.isEmpty ? nil : $0 }
        let since = filter.since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude
        let until = filter.until?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude
        return try await tasks(
            """
            SELECT id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt, max_attempts, priority,
                scheduled_at, attempted_by, lease_until, idempotency_key, errors, cancel_requested, run_id, branch, commit_sha,
                reason, cost_usd, created_at, finished_at, NULL::TEXT AS diff, pushed_to, created_by, retry_of, steps,
                wall_seconds, person_id
            FROM tasks WHERE tenant_id = \(tenantID) AND state = ANY(\(filter.states))
                AND (\(filter.projectID)::TEXT IS NULL OR project_id = \(filter.projectID))
                AND (\(filter.createdBy)::TEXT IS NULL OR created_by = \(filter.createdBy))
                AND (\(text)::TEXT IS NULL OR strpos(lower(task), lower(\(text))) > 0)
                AND created_at >= \(since) AND created_at < \(until)
                AND (created_at < \(cursorCreated) OR (created_at = \(cursorCreated) AND id < \(cursorID)))
            ORDER BY created_at DESC, id DESC LIMIT \(cap)
            """)
    }

    func tasks(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [ServerTask] {
        let rows: PostgresRowSequence
        if let connection {
            rows = try await connection.query(query, logger: logger)
        } else {
            rows = try await client.query(query)
        }
        var result: [ServerTask] = []
        for try await row in rows { result.append(try Self.task(row.makeRandomAccess())) }
        return result
    }

    static func task(_ r: PostgresRandomAccessRow) throws -> ServerTask {
        func date(_ column: String) throws -> Date? {
            try r[column].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }
        }
        let errors = ServerIDs.errors(try r["errors"].decode(String.self))
        return ServerTask(
            id: try r["id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
            projectID: try r["project_id"].decode(String.self), task: try r["task"].decode(String.self),
            base: try r["base"].decode(String?.self), model: try r["model"].decode(String?.self),
            maxCostUSD: try r["max_cost_usd"].decode(Double?.self),
            state: TaskState(rawValue: try r["state"].decode(String.self)) ?? .failed,
            attempt: try r["attempt"].decode(Int.self), maxAttempts: try r["max_attempts"].decode(Int.self),
            priority: try r["priority"].decode(Int.self), scheduledAt: try date("scheduled_at") ?? Date(),
            attemptedBy: try r["attempted_by"].decode(String?.self), leaseUntil: try date("lease_until"),
            idempotencyKey: try r["idempotency_key"].decode(String?.self), errors: errors,
            cancelRequested: try r["cancel_requested"].decode(Bool.self), runID: try r["run_id"].decode(String?.self),
            branch: try r["branch"].decode(String?.self), commitSHA: try r["commit_sha"].decode(String?.self),
            reason: try r["reason"].decode(String?.self), costUSD: try r["cost_usd"].decode(Double.self),
            createdAt: try date("created_at") ?? Date(), finishedAt: try date("finished_at"),
            diff: try r["diff"].decode(String?.self), pushedTo: try r["pushed_to"].decode(String?.self),
            createdBy: try r["created_by"].decode(String?.self), retryOf: try r["retry_of"].decode(String?.self),
            steps: try r["steps"].decode(Int.self), wallSeconds: try r["wall_seconds"].decode(Double?.self),
            personID: try r["person_id"].decode(String?.self))
    }
}
