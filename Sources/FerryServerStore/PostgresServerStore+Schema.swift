import FerryCore
import Foundation
import Logging
import PostgresNIO

/// The schema, versioned: each version once, in its own transaction, under an advisory lock.
extension PostgresServerStore {
    // MARK: - Schema

    static let migrations: [(version: Int, sql: [String])] = [
        (
            1,
            [
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
            ]
        ),
        (
            2,
            [
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
            ]
        ),
        (
            3,
            [
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
            ]
        ),
        (
            4,
            [
                """
                CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL,
                    action TEXT NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL, remote TEXT,
                    at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX audit_tenant ON audit (tenant_id, at)",
            ]
        ),
        (
            5,
            [
                "ALTER TABLE projects ADD COLUMN webhook_url TEXT",
                "ALTER TABLE projects ADD COLUMN webhook_secret TEXT",
                """
                CREATE TABLE deliveries (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, task_id TEXT NOT NULL, url TEXT NOT NULL,
                    secret TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                    next_at DOUBLE PRECISION NOT NULL, last_status INTEGER, last_error TEXT,
                    created_at DOUBLE PRECISION NOT NULL, delivered_at DOUBLE PRECISION)
                """,
                "CREATE INDEX deliveries_due ON deliveries (state, next_at)",
                """
                CREATE TABLE delivery_attempts (delivery_id TEXT NOT NULL REFERENCES deliveries(id), attempt INTEGER NOT NULL,
                    status INTEGER, error TEXT, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (delivery_id, attempt))
                """,
            ]
        ),
        (
            6,
            [
                "ALTER TABLE projects ADD COLUMN push BOOLEAN NOT NULL DEFAULT false",
                "ALTER TABLE tasks ADD COLUMN pushed_to TEXT",
            ]
        ),
        (
            7,
            [
                """
                CREATE TABLE attempts (task_id TEXT NOT NULL REFERENCES tasks(id), attempt INTEGER NOT NULL, worker TEXT NOT NULL,
                    due_at DOUBLE PRECISION NOT NULL, claimed_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION,
                    outcome TEXT, PRIMARY KEY (task_id, attempt))
                """
            ]
        ),
        (
            8,
            [
                "ALTER TABLE tasks ADD COLUMN created_by TEXT",
                "ALTER TABLE tasks ADD COLUMN retry_of TEXT",
                "ALTER TABLE tasks ADD COLUMN steps INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE tasks ADD COLUMN wall_seconds DOUBLE PRECISION",
                """
                CREATE TABLE sessions (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES api_keys(id), csrf TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE evals (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, report TEXT NOT NULL)
                """,
                "CREATE INDEX evals_tenant ON evals (tenant_id, created_at)",
            ]
        ),
        (
            9,
            [
                """
                CREATE TABLE people (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), kind TEXT NOT NULL,
                    name TEXT NOT NULL, email TEXT, external_id TEXT, role TEXT NOT NULL, active BOOLEAN NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, deactivated_at DOUBLE PRECISION)
                """,
                "CREATE UNIQUE INDEX people_email ON people (tenant_id, lower(email)) WHERE email IS NOT NULL",
                "CREATE UNIQUE INDEX people_external ON people (tenant_id, external_id) WHERE external_id IS NOT NULL",
                """
                INSERT INTO people (id, tenant_id, kind, name, role, active, created_at)
                    SELECT 'svc_' || id, id, 'service', 'built-in', 'admin', true, created_at FROM tenants
                """,
                "ALTER TABLE api_keys ADD COLUMN owner_id TEXT REFERENCES people(id)",
                "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE api_keys ADD COLUMN expires_at DOUBLE PRECISION",
                "UPDATE api_keys SET owner_id = 'svc_' || tenant_id",
                "CREATE INDEX api_keys_owner ON api_keys (owner_id)",
                "DROP TABLE sessions",
                """
                CREATE TABLE sessions (hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
                    person_id TEXT NOT NULL REFERENCES people(id), key_id TEXT REFERENCES api_keys(id), csrf TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX sessions_person ON sessions (person_id)",
                "ALTER TABLE audit ADD COLUMN person_id TEXT",
                "ALTER TABLE audit ADD COLUMN surface TEXT NOT NULL DEFAULT 'api'",
                "ALTER TABLE audit ADD COLUMN seq INTEGER",
                "ALTER TABLE audit ADD COLUMN prev_hash TEXT",
                "ALTER TABLE audit ADD COLUMN hash TEXT",
                """
                CREATE TABLE audit_heads (tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
                    start_seq INTEGER NOT NULL, start_hash TEXT NOT NULL)
                """,
                "UPDATE audit SET person_id = (SELECT owner_id FROM api_keys WHERE api_keys.id = audit.key_id)",
            ]
        ),
        (
            10,
            [
                """
                CREATE TABLE device_grants (device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE,
                    client TEXT NOT NULL, state TEXT NOT NULL, tenant_id TEXT, person_id TEXT,
                    created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
                    interval DOUBLE PRECISION NOT NULL, last_poll DOUBLE PRECISION)
                """
            ]
        ),
        (
            11,
            [
                """
                CREATE TABLE person_groups (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL, external_id TEXT, created_at DOUBLE PRECISION NOT NULL, UNIQUE (tenant_id, name))
                """,
                """
                CREATE TABLE group_members (group_id TEXT NOT NULL REFERENCES person_groups(id) ON DELETE CASCADE,
                    person_id TEXT NOT NULL REFERENCES people(id), position INTEGER NOT NULL,
                    PRIMARY KEY (group_id, person_id))
                """,
                "CREATE INDEX group_members_person ON group_members (person_id)",
            ]
        ),
        (
            12,
            [
                "ALTER TABLE tasks ADD COLUMN person_id TEXT",
                "ALTER TABLE spend ADD COLUMN person_id TEXT",
                "UPDATE tasks SET person_id = (SELECT owner_id FROM api_keys WHERE api_keys.id = tasks.created_by)",
                "UPDATE spend SET person_id = (SELECT person_id FROM tasks WHERE tasks.id = spend.task_id)",
                "CREATE INDEX spend_person ON spend (tenant_id, person_id, at)",
            ]
        ),
        (
            13,
            [
                """
                CREATE TABLE audit_sinks (tenant_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,
                    after_seq INTEGER NOT NULL, failures INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL, last_error TEXT)
                """
            ]
        ),
        (
            14,
            [
                """
                CREATE TABLE forge_deliveries (project_id TEXT NOT NULL, delivery TEXT NOT NULL, tenant_id TEXT NOT NULL,
                    received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (project_id, delivery))
                """
            ]
        ),
        (
            15,
            [
                "ALTER TABLE forge_deliveries ADD COLUMN task_id TEXT",
                """
                CREATE TABLE project_forges (project_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL,
                    repository TEXT NOT NULL, label TEXT NOT NULL, webhook_secret TEXT NOT NULL, token TEXT,
                    installation_id BIGINT, created_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE forge_links (task_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, project_id TEXT NOT NULL,
                    issue BIGINT NOT NULL, title TEXT NOT NULL, base_branch TEXT, pull_request BIGINT, pull_request_url TEXT, head_branch TEXT, review_id BIGINT,
                    instruction TEXT, evidence TEXT, state TEXT NOT NULL, commented BOOLEAN NOT NULL, attempts INTEGER NOT NULL,
                    next_at DOUBLE PRECISION NOT NULL, lease_until DOUBLE PRECISION, last_error TEXT, calls TEXT NOT NULL)
                """,
                "CREATE INDEX forge_links_pull ON forge_links (project_id, pull_request)",
                "CREATE INDEX forge_links_due ON forge_links (state, next_at)",
            ]
        ),
        (
            16,
            [
                """
                CREATE TABLE project_watches (project_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
                    every_seconds DOUBLE PRECISION NOT NULL, monthly_usd DOUBLE PRECISION NOT NULL,
                    max_instances INTEGER NOT NULL, since_days INTEGER NOT NULL, model TEXT,
                    next_at DOUBLE PRECISION NOT NULL, spent_usd DOUBLE PRECISION NOT NULL, month DOUBLE PRECISION NOT NULL,
                    last_run_at DOUBLE PRECISION, last_eval_id TEXT, last_error TEXT, lease_until DOUBLE PRECISION)
                """
            ]
        ),
    ]

    /// Applies the versions not yet applied, one transaction each, under an advisory lock so two starting servers
    /// do not race.
    func migrate() async throws {
        try await client.query(
            "CREATE TABLE IF NOT EXISTS ferry_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        for migration in Self.migrations {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(4242)", logger: logger)
                let applied = try await connection.query(
                    "SELECT 1 FROM ferry_migrations WHERE version = \(migration.version)", logger: logger)
                for try await _ in applied { return }
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                if migration.version == 9 {
                    // The entries written before the chain existed are sealed into it, in the order written.
                    try await Self.sealLegacyAudit(connection, logger: logger)
                    try await connection.query(
                        "CREATE UNIQUE INDEX audit_chain ON audit (tenant_id, seq)", logger: logger)
                }
                try await connection.query(
                    "INSERT INTO ferry_migrations (version, applied_at) VALUES (\(migration.version), \(Date().timeIntervalSince1970))",
                    logger: logger)
            }
        }
    }
}
