import Crypto
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
    private let runner: Task<Void, Never>
    let logger = Logger(label: "ferry-postgres")

    /// Connects to `url` (`postgres://user:password@host:port/database`) and migrates the schema.
    public init(url: String) async throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host
        else {
            throw FerryError(.config, "not a PostgreSQL URL: \(url) (expected postgres://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: .disable)
        let client = PostgresClient(configuration: configuration)
        self.client = client
        runner = Task { await client.run() }
        do {
            try await migrate()
        } catch {
            runner.cancel()
            throw FerryError(.store, "cannot use the PostgreSQL database at \(host): \(String(reflecting: error))")
        }
    }

    deinit { runner.cancel() }

    // MARK: - Schema

    static let migrations: [(version: Int, sql: [String])] = [
        (1, [
            "CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL)",
            """
            CREATE TABLE api_keys (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), role TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION)
            """,
            """
            CREATE TABLE projects (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                repo TEXT NOT NULL, base TEXT NOT NULL, model TEXT, test_command TEXT,
                created_at DOUBLE PRECISION NOT NULL, UNIQUE (tenant_id, name))
            """,
            """
            CREATE TABLE tasks (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                project_id TEXT NOT NULL REFERENCES projects(id), task TEXT NOT NULL, base TEXT, model TEXT,
                max_cost_usd DOUBLE PRECISION, state TEXT NOT NULL, attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
                priority INTEGER NOT NULL, scheduled_at DOUBLE PRECISION NOT NULL, attempted_by TEXT,
                lease_until DOUBLE PRECISION, idempotency_key TEXT, errors TEXT NOT NULL, cancel_requested BOOLEAN NOT NULL,
                run_id TEXT, branch TEXT, commit_sha TEXT, reason TEXT, cost_usd DOUBLE PRECISION NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION, UNIQUE (tenant_id, idempotency_key))
            """,
            "CREATE INDEX tasks_claim ON tasks (state, priority, scheduled_at, id)",
            "CREATE INDEX tasks_tenant ON tasks (tenant_id, created_at)",
        ]),
        (2, [
            """
            CREATE TABLE budgets (tenant_id TEXT NOT NULL REFERENCES tenants(id), project_id TEXT NOT NULL,
                monthly_usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (tenant_id, project_id))
            """,
            """
            CREATE TABLE spend (tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, task_id TEXT NOT NULL,
                attempt INTEGER NOT NULL, step INTEGER NOT NULL, model TEXT NOT NULL, input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL, at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (task_id, attempt, step))
            """,
            "CREATE INDEX spend_month ON spend (tenant_id, at)",
        ]),
        (3, [
            "ALTER TABLE tasks ADD COLUMN diff TEXT",
            """
            CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                record TEXT NOT NULL)
            """,
            "CREATE INDEX runs_status ON runs (status, created_at)",
            """
            CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
                time DOUBLE PRECISION NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, seq))
            """,
        ]),
        (4, [
            """
            CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL,
                action TEXT NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL, remote TEXT,
                at DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX audit_tenant ON audit (tenant_id, at)",
        ]),
    ]

    /// Applies the versions not yet applied, one transaction each, under an advisory lock so two starting servers
    /// do not race.
    func migrate() async throws {
        try await client.query("CREATE TABLE IF NOT EXISTS ferry_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
        for migration in Self.migrations {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(4242)", logger: logger)
                let applied = try await connection.query(
                    "SELECT 1 FROM ferry_migrations WHERE version = \(migration.version)", logger: logger)
                for try await _ in applied { return }
                for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query(
                    "INSERT INTO ferry_migrations (version, applied_at) VALUES (\(migration.version), \(Date().timeIntervalSince1970))",
                    logger: logger)
            }
        }
    }

    // MARK: - Tenants and keys

    public func createTenant(name: String) async throws -> Tenant {
        let tenant = Tenant(id: SQLiteServerStore.newID("ten"), name: name, createdAt: Date())
        try await client.query(
            "INSERT INTO tenants (id, name, created_at) VALUES (\(tenant.id), \(tenant.name), \(tenant.createdAt.timeIntervalSince1970))")
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

    public func createKey(tenantID: String, role: Role) async throws -> (id: String, key: String) {
        let id = SQLiteServerStore.newID("key")
        var bytes = [UInt8](repeating: 0, count: 24)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        let key = "fy_" + bytes.map { String(format: "%02x", $0) }.joined()
        try await client.query(
            """
            INSERT INTO api_keys (id, tenant_id, role, hash, created_at)
            VALUES (\(id), \(tenantID), \(role.rawValue), \(SQLiteServerStore.hash(key)), \(Date().timeIntervalSince1970))
            """)
        return (id, key)
    }

    public func authenticate(_ key: String) async throws -> Principal? {
        for try await (id, tenant, role) in try await client.query(
            "SELECT id, tenant_id, role FROM api_keys WHERE hash = \(SQLiteServerStore.hash(key)) AND revoked_at IS NULL"
        ).decode((String, String, String).self) {
            return Role(rawValue: role).map { Principal(tenantID: tenant, role: $0, keyID: id) }
        }
        return nil
    }

    // MARK: - Projects

    public func createProject(_ project: Project) async throws -> Project {
        try await client.query(
            """
            INSERT INTO projects (id, tenant_id, name, repo, base, model, test_command, created_at)
            VALUES (\(project.id), \(project.tenantID), \(project.name), \(project.repo), \(project.base), \(project.model),
                \(project.testCommand), \(project.createdAt.timeIntervalSince1970))
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

    func projects(_ query: PostgresQuery) async throws -> [Project] {
        var result: [Project] = []
        for try await row in try await client.query(query) {
            let r = row.makeRandomAccess()
            result.append(Project(
                id: try r["id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
                name: try r["name"].decode(String.self), repo: try r["repo"].decode(String.self),
                base: try r["base"].decode(String.self), model: try r["model"].decode(String?.self),
                testCommand: try r["test_command"].decode(String?.self),
                createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self))))
        }
        return result
    }

    // MARK: - Tasks

    public func createTask(_ new: NewTask, tenantID: String, now: Date) async throws -> (task: ServerTask, created: Bool) {
        let id = SQLiteServerStore.newID("task")
        let at = now.timeIntervalSince1970
        let inserted = try await tasks(
            """
            INSERT INTO tasks (id, tenant_id, project_id, task, base, model, max_cost_usd, state, attempt, max_attempts,
                priority, scheduled_at, idempotency_key, errors, cancel_requested, cost_usd, created_at)
            VALUES (\(id), \(tenantID), \(new.projectID), \(new.task), \(new.base), \(new.model), \(new.maxCostUSD),
                'queued', 0, \(max(1, new.maxAttempts)), \(new.priority), \(at), \(new.idempotencyKey), '[]', false, 0, \(at))
            ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
            RETURNING *
            """)
        if let task = inserted.first {
            try await client.query("NOTIFY ferry_tasks")
            return (task, true)
        }
        let existing = try await tasks(
            "SELECT * FROM tasks WHERE tenant_id = \(tenantID) AND idempotency_key = \(new.idempotencyKey)")
        guard let task = existing.first else { throw FerryError(.store, "the task could not be created") }
        return (task, false)
    }

    public func task(_ id: String, tenantID: String) async throws -> ServerTask? {
        try await tasks("SELECT * FROM tasks WHERE id = \(id) AND tenant_id = \(tenantID)").first
    }

    public func task(id: String) async throws -> ServerTask? {
        try await tasks("SELECT * FROM tasks WHERE id = \(id)").first
    }

    public func tasks(tenantID: String, state: TaskState?, limit: Int, after: String?) async throws -> [ServerTask] {
        let states = state.map { $0 == .queued ? ["queued", "retryable"] : [$0.rawValue] } ?? TaskState.allCases.map(\.rawValue)
        let cap = max(1, min(limit, 200))
        if let after, let cursor = try await task(after, tenantID: tenantID) {
            let created = cursor.createdAt.timeIntervalSince1970
            return try await tasks(
                """
                SELECT * FROM tasks WHERE tenant_id = \(tenantID) AND state = ANY(\(states))
                    AND (created_at < \(created) OR (created_at = \(created) AND id < \(after)))
                ORDER BY created_at DESC, id DESC LIMIT \(cap)
                """)
        }
        return try await tasks(
            "SELECT * FROM tasks WHERE tenant_id = \(tenantID) AND state = ANY(\(states)) ORDER BY created_at DESC, id DESC LIMIT \(cap)")
    }

    func tasks(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [ServerTask] {
        let rows: PostgresRowSequence
        if let connection { rows = try await connection.query(query, logger: logger) } else { rows = try await client.query(query) }
        var result: [ServerTask] = []
        for try await row in rows { result.append(try Self.task(row.makeRandomAccess())) }
        return result
    }

    static func task(_ r: PostgresRandomAccessRow) throws -> ServerTask {
        func date(_ column: String) throws -> Date? { try r[column].decode(Double?.self).map { Date(timeIntervalSince1970: $0) } }
        let errors = (try? JSONDecoder().decode([String].self, from: Data(try r["errors"].decode(String.self).utf8))) ?? []
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
            diff: try r["diff"].decode(String?.self))
    }

    // MARK: - The queue

    public func claim(worker: String, now: Date, policy: QueuePolicy) async throws -> ServerTask? {
        let at = now.timeIntervalSince1970
        return try await tasks(
            """
            WITH next AS (
                SELECT id FROM tasks WHERE state IN ('queued', 'retryable') AND scheduled_at <= \(at)
                ORDER BY priority DESC, scheduled_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
            UPDATE tasks SET state = 'running', attempt = tasks.attempt + 1, attempted_by = \(worker),
                lease_until = \(at + policy.leaseSeconds)
            FROM next WHERE tasks.id = next.id
            RETURNING tasks.*
            """
        ).first
    }

    public func heartbeat(id: String, attempt: Int, now: Date, policy: QueuePolicy) async throws
        -> (held: Bool, cancelRequested: Bool)
    {
        for try await cancel in try await client.query(
            """
            UPDATE tasks SET lease_until = \(now.timeIntervalSince1970 + policy.leaseSeconds)
            WHERE id = \(id) AND attempt = \(attempt) AND state = 'running' RETURNING cancel_requested
            """
        ).decode(Bool.self) {
            return (true, cancel)
        }
        let cancel = try await task(id: id)?.cancelRequested ?? false
        return (false, cancel)
    }

    public func attachRun(id: String, attempt: Int, runID: String) async throws {
        try await client.query(
            "UPDATE tasks SET run_id = \(runID) WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'")
    }

    public func finish(id: String, attempt: Int, outcome: TaskOutcome, now: Date) async throws -> Bool {
        try await !tasks(
            """
            UPDATE tasks SET state = \(outcome.state.rawValue), reason = \(outcome.reason), run_id = \(outcome.runID),
                branch = \(outcome.branch), commit_sha = \(outcome.commitSHA), cost_usd = cost_usd + \(outcome.costUSD),
                finished_at = \(now.timeIntervalSince1970), lease_until = NULL, diff = \(outcome.diff)
            WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'
            RETURNING *
            """
        ).isEmpty
    }

    public func rescueExpired(now: Date, policy: QueuePolicy) async throws -> [String] {
        let at = now.timeIntervalSince1970
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let expired = try await self.tasks(
                "SELECT * FROM tasks WHERE state = 'running' AND lease_until < \(at) FOR UPDATE SKIP LOCKED", on: connection)
            for task in expired {
                let (state, scheduledAt, error) = policy.rescue(task, now: now)
                let errors = String(decoding: try JSONEncoder().encode(task.errors + [error]), as: UTF8.self)
                let finished: Double? = state.isTerminal ? at : nil
                try await connection.query(
                    """
                    UPDATE tasks SET state = \(state.rawValue), scheduled_at = \(scheduledAt.timeIntervalSince1970),
                        errors = \(errors), lease_until = NULL, attempted_by = NULL, reason = \(error), finished_at = \(finished)
                    WHERE id = \(task.id) AND attempt = \(task.attempt)
                    """, logger: logger)
            }
            return expired.map(\.id)
        }
    }

    public func release(id: String, attempt: Int, reason: String, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            guard let task = try await self.tasks(
                "SELECT * FROM tasks WHERE id = \(id) AND attempt = \(attempt) AND state = 'running' FOR UPDATE", on: connection
            ).first else { return false }
            let errors = String(decoding: try JSONEncoder().encode(task.errors + [reason]), as: UTF8.self)
            try await connection.query(
                """
                UPDATE tasks SET state = 'retryable', scheduled_at = \(now.timeIntervalSince1970), errors = \(errors),
                    lease_until = NULL, attempted_by = NULL
                WHERE id = \(id) AND attempt = \(attempt)
                """, logger: logger)
            return true
        }
    }

    public func requestCancel(_ id: String, tenantID: String, now: Date) async throws -> ServerTask? {
        try await client.query(
            """
            UPDATE tasks SET state = 'cancelled', reason = 'cancelled before it started',
                finished_at = \(now.timeIntervalSince1970), cancel_requested = true
            WHERE id = \(id) AND tenant_id = \(tenantID) AND state IN ('queued', 'retryable')
            """)
        try await client.query(
            "UPDATE tasks SET cancel_requested = true WHERE id = \(id) AND tenant_id = \(tenantID) AND state = 'running'")
        return try await task(id, tenantID: tenantID)
    }

    public func stats() async throws -> ServerStats {
        var stats = ServerStats()
        for try await (state, count) in try await client.query("SELECT state, COUNT(*) FROM tasks GROUP BY state").decode((String, Int).self) {
            stats.tasksByState[state] = count
        }
        for try await (model, usd, input, output, calls) in try await client.query(
            "SELECT model, SUM(usd), SUM(input_tokens)::BIGINT, SUM(output_tokens)::BIGINT, COUNT(*) FROM spend GROUP BY model"
        ).decode((String, Double, Int, Int, Int).self) {
            stats.spendByModel[model] = ServerStats.Spend(usd: usd, inputTokens: input, outputTokens: output, calls: calls)
        }
        return stats
    }

    public func keys(tenantID: String) async throws -> [APIKeyInfo] {
        var result: [APIKeyInfo] = []
        for try await (id, role, created, revoked) in try await client.query(
            "SELECT id, role, created_at, revoked_at FROM api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at, id"
        ).decode((String, String, Double, Double?).self) {
            result.append(APIKeyInfo(
                id: id, role: Role(rawValue: role) ?? .viewer, createdAt: Date(timeIntervalSince1970: created),
                revokedAt: revoked.map { Date(timeIntervalSince1970: $0) }))
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

    public func audit(_ entry: AuditEntry) async throws {
        try await client.query(
            """
            INSERT INTO audit (tenant_id, key_id, action, object, detail, remote, at)
            VALUES (\(entry.tenantID), \(entry.keyID), \(entry.action), \(entry.object), \(entry.detail), \(entry.remote),
                \(entry.at.timeIntervalSince1970))
            """)
    }

    public func auditLog(tenantID: String, limit: Int) async throws -> [AuditEntry] {
        var result: [AuditEntry] = []
        for try await (tenant, key, action, object, detail, remote, at) in try await client.query(
            """
            SELECT tenant_id, key_id, action, object, detail, remote, at FROM audit WHERE tenant_id = \(tenantID)
            ORDER BY at DESC, id DESC LIMIT \(max(1, min(limit, 500)))
            """
        ).decode((String, String, String, String, String, String?, Double).self) {
            result.append(AuditEntry(
                tenantID: tenant, keyID: key, action: action, object: object, detail: detail, remote: remote,
                at: Date(timeIntervalSince1970: at)))
        }
        return result
    }

    // MARK: - Budgets and spend

    public func setBudget(tenantID: String, projectID: String?, monthlyUSD: Double?) async throws {
        let project = projectID ?? ""
        if let monthlyUSD {
            try await client.query(
                """
                INSERT INTO budgets (tenant_id, project_id, monthly_usd) VALUES (\(tenantID), \(project), \(monthlyUSD))
                ON CONFLICT (tenant_id, project_id) DO UPDATE SET monthly_usd = excluded.monthly_usd
                """)
        } else {
            try await client.query("DELETE FROM budgets WHERE tenant_id = \(tenantID) AND project_id = \(project)")
        }
    }

    public func budgets(tenantID: String, projectID: String?, now: Date) async throws -> [BudgetStatus] {
        let since = BudgetPolicy.monthStart(now).timeIntervalSince1970
        let project = projectID ?? ""
        var result: [BudgetStatus] = []
        for try await (scope, monthly, spent) in try await client.query(
            """
            SELECT b.project_id, b.monthly_usd,
                (SELECT COALESCE(SUM(s.usd), 0) FROM spend s WHERE s.tenant_id = b.tenant_id AND s.at >= \(since)
                    AND (b.project_id = '' OR s.project_id = b.project_id))
            FROM budgets b WHERE b.tenant_id = \(tenantID) AND (b.project_id = '' OR b.project_id = \(project))
            ORDER BY b.project_id
            """
        ).decode((String, Double, Double).self) {
            result.append(BudgetStatus(projectID: scope.isEmpty ? nil : scope, monthlyUSD: monthly, spentUSD: spent))
        }
        return result
    }

    public func recordSpend(_ spend: SpendRecord) async throws {
        try await client.query(
            """
            INSERT INTO spend (tenant_id, project_id, task_id, attempt, step, model, input_tokens, output_tokens, usd, at)
            VALUES (\(spend.tenantID), \(spend.projectID), \(spend.taskID), \(spend.attempt), \(spend.step), \(spend.model),
                \(spend.usage.inputTokens), \(spend.usage.outputTokens), \(spend.usd), \(spend.at.timeIntervalSince1970))
            ON CONFLICT (task_id, attempt, step) DO NOTHING
            """)
    }
}
