import Foundation
import GRDB

/// The embedded store's schema, versioned with GRDB's migrator: each version once, at open.
extension SQLiteServerStore {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: tenants, keys, projects, tasks") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
                    CREATE TABLE audit (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL,
                        object TEXT NOT NULL, detail TEXT NOT NULL, remote TEXT, at DOUBLE NOT NULL);
                    CREATE INDEX audit_tenant ON audit (tenant_id, at);
                    """)
        }
        migrator.registerMigration("v5: webhooks") { db in
            try db.execute(
                sql: """
                    ALTER TABLE projects ADD COLUMN webhook_url TEXT;
                    ALTER TABLE projects ADD COLUMN webhook_secret TEXT;
                    CREATE TABLE deliveries (
                        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, task_id TEXT NOT NULL, url TEXT NOT NULL,
                        secret TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                        next_at DOUBLE NOT NULL, last_status INTEGER, last_error TEXT, created_at DOUBLE NOT NULL,
                        delivered_at DOUBLE);
                    CREATE INDEX deliveries_due ON deliveries (state, next_at);
                    CREATE TABLE delivery_attempts (
                        delivery_id TEXT NOT NULL REFERENCES deliveries(id), attempt INTEGER NOT NULL, status INTEGER,
                        error TEXT, at DOUBLE NOT NULL, PRIMARY KEY (delivery_id, attempt));
                    """)
        }
        migrator.registerMigration("v6: pushing result branches") { db in
            try db.execute(
                sql: """
                    ALTER TABLE projects ADD COLUMN push INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE tasks ADD COLUMN pushed_to TEXT;
                    """)
        }
        migrator.registerMigration("v7: attempts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE attempts (
                        task_id TEXT NOT NULL REFERENCES tasks(id), attempt INTEGER NOT NULL, worker TEXT NOT NULL,
                        due_at DOUBLE NOT NULL, claimed_at DOUBLE NOT NULL, ended_at DOUBLE, outcome TEXT,
                        PRIMARY KEY (task_id, attempt))
                    """)
        }
        migrator.registerMigration("v8: authors, retries, steps, sessions, evals") { db in
            try db.execute(
                sql: """
                    ALTER TABLE tasks ADD COLUMN created_by TEXT;
                    ALTER TABLE tasks ADD COLUMN retry_of TEXT;
                    ALTER TABLE tasks ADD COLUMN steps INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE tasks ADD COLUMN wall_seconds DOUBLE;
                    CREATE TABLE sessions (
                        hash TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES api_keys(id), csrf TEXT NOT NULL,
                        created_at DOUBLE NOT NULL, expires_at DOUBLE NOT NULL);
                    CREATE TABLE evals (
                        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                        created_at DOUBLE NOT NULL, report TEXT NOT NULL);
                    CREATE INDEX evals_tenant ON evals (tenant_id, created_at);
                    """)
        }
        migrator.registerMigration("v9: people, key owners and expiry, sessions of people, the audit chain") { db in
            try db.execute(
                sql: """
                    CREATE TABLE people (
                        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), kind TEXT NOT NULL,
                        name TEXT NOT NULL, email TEXT, external_id TEXT, role TEXT NOT NULL, active INTEGER NOT NULL,
                        created_at DOUBLE NOT NULL, deactivated_at DOUBLE);
                    CREATE UNIQUE INDEX people_email ON people (tenant_id, lower(email)) WHERE email IS NOT NULL;
                    CREATE UNIQUE INDEX people_external ON people (tenant_id, external_id) WHERE external_id IS NOT NULL;
                    INSERT INTO people (id, tenant_id, kind, name, role, active, created_at)
                        SELECT 'svc_' || id, id, 'service', 'built-in', 'admin', 1, created_at FROM tenants;
                    ALTER TABLE api_keys ADD COLUMN owner_id TEXT REFERENCES people(id);
                    ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
                    ALTER TABLE api_keys ADD COLUMN expires_at DOUBLE;
                    UPDATE api_keys SET owner_id = 'svc_' || tenant_id;
                    CREATE INDEX api_keys_owner ON api_keys (owner_id);
                    DROP TABLE sessions;
                    CREATE TABLE sessions (
                        hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, person_id TEXT NOT NULL REFERENCES people(id),
                        key_id TEXT REFERENCES api_keys(id), csrf TEXT NOT NULL, created_at DOUBLE NOT NULL,
                        expires_at DOUBLE NOT NULL);
                    CREATE INDEX sessions_person ON sessions (person_id);
                    ALTER TABLE audit ADD COLUMN person_id TEXT;
                    ALTER TABLE audit ADD COLUMN surface TEXT NOT NULL DEFAULT 'api';
                    ALTER TABLE audit ADD COLUMN seq INTEGER;
                    ALTER TABLE audit ADD COLUMN prev_hash TEXT;
                    ALTER TABLE audit ADD COLUMN hash TEXT;
                    CREATE TABLE audit_heads (
                        tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, start_seq INTEGER NOT NULL,
                        start_hash TEXT NOT NULL);
                    """)
            try SQLiteServerStore.sealLegacyAudit(db)
            try db.execute(sql: "CREATE UNIQUE INDEX audit_chain ON audit (tenant_id, seq)")
        }
        migrator.registerMigration("v10: device grants") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device_grants (
                        device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, client TEXT NOT NULL,
                        state TEXT NOT NULL, tenant_id TEXT, person_id TEXT, created_at DOUBLE NOT NULL,
                        expires_at DOUBLE NOT NULL, interval DOUBLE NOT NULL, last_poll DOUBLE);
                    """)
        }
        migrator.registerMigration("v11: groups") { db in
            try db.execute(
                sql: """
                    CREATE TABLE person_groups (
                        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                        external_id TEXT, created_at DOUBLE NOT NULL, UNIQUE (tenant_id, name));
                    CREATE TABLE group_members (
                        group_id TEXT NOT NULL REFERENCES person_groups(id) ON DELETE CASCADE,
                        person_id TEXT NOT NULL REFERENCES people(id), position INTEGER NOT NULL,
                        PRIMARY KEY (group_id, person_id));
                    CREATE INDEX group_members_person ON group_members (person_id);
                    """)
        }
        migrator.registerMigration("v12: spend and tasks by person") { db in
            try db.execute(
                sql: """
                    ALTER TABLE tasks ADD COLUMN person_id TEXT;
                    ALTER TABLE spend ADD COLUMN person_id TEXT;
                    UPDATE tasks SET person_id = (SELECT owner_id FROM api_keys WHERE api_keys.id = tasks.created_by);
                    UPDATE spend SET person_id = (SELECT person_id FROM tasks WHERE tasks.id = spend.task_id);
                    CREATE INDEX spend_person ON spend (tenant_id, person_id, at);
                    """)
        }
        migrator.registerMigration("v13: audit sinks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_sinks (
                        tenant_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, after_seq INTEGER NOT NULL,
                        failures INTEGER NOT NULL, next_at DOUBLE NOT NULL, last_error TEXT);
                    """)
        }
        migrator.registerMigration("v14: forge deliveries") { db in
            try db.execute(
                sql: """
                    CREATE TABLE forge_deliveries (
                        project_id TEXT NOT NULL, delivery TEXT NOT NULL, tenant_id TEXT NOT NULL,
                        received_at DOUBLE NOT NULL, PRIMARY KEY (project_id, delivery));
                    """)
        }
        migrator.registerMigration("v15: project forges and forge links") { db in
            try db.execute(
                sql: """
                    ALTER TABLE forge_deliveries ADD COLUMN task_id TEXT;
                    CREATE TABLE project_forges (
                        project_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL, repository TEXT NOT NULL,
                        label TEXT NOT NULL, webhook_secret TEXT NOT NULL, token TEXT, installation_id INTEGER,
                        created_at DOUBLE NOT NULL);
                    CREATE TABLE forge_links (
                        task_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, project_id TEXT NOT NULL, issue INTEGER NOT NULL, title TEXT NOT NULL,
                        base_branch TEXT,
                        pull_request INTEGER, pull_request_url TEXT, head_branch TEXT, review_id INTEGER, instruction TEXT,
                        evidence TEXT, state TEXT NOT NULL, commented BOOLEAN NOT NULL, attempts INTEGER NOT NULL,
                        next_at DOUBLE NOT NULL, lease_until DOUBLE, last_error TEXT, calls TEXT NOT NULL);
                    CREATE INDEX forge_links_pull ON forge_links (project_id, pull_request);
                    CREATE INDEX forge_links_due ON forge_links (state, next_at);
                    """)
        }
        migrator.registerMigration("v16: accuracy watches") { db in
            try db.execute(
                sql: """
                    CREATE TABLE project_watches (
                        project_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, every_seconds DOUBLE NOT NULL,
                        monthly_usd DOUBLE NOT NULL, max_instances INTEGER NOT NULL, since_days INTEGER NOT NULL,
                        model TEXT, next_at DOUBLE NOT NULL, spent_usd DOUBLE NOT NULL, month DOUBLE NOT NULL,
                        last_run_at DOUBLE, last_eval_id TEXT, last_error TEXT, lease_until DOUBLE);
                    """)
        }
        return migrator
    }
}
