import FerryCore
import Foundation
import Logging
import PostgresNIO

/// Forges on PostgreSQL: a delivery's task and link in one transaction (the delivery's key serialises two servers
/// taking the same one); links claimed with `FOR UPDATE SKIP LOCKED`, so two publishers never tell one end twice.
extension PostgresServerStore {
    public func setForge(_ forge: ProjectForge) async throws {
        try await client.query(
            """
            INSERT INTO project_forges (project_id, tenant_id, kind, repository, label, webhook_secret, token,
                installation_id, created_at)
            VALUES (\(forge.projectID), \(forge.tenantID), \(forge.kind), \(forge.repository), \(forge.label),
                \(forge.webhookSecret), \(forge.token), \(forge.installationID), \(forge.createdAt.timeIntervalSince1970))
            ON CONFLICT (project_id) DO UPDATE SET kind = excluded.kind, repository = excluded.repository,
                label = excluded.label, webhook_secret = excluded.webhook_secret, token = excluded.token,
                installation_id = excluded.installation_id
            """)
    }

    public func forge(projectID: String) async throws -> ProjectForge? {
        for try await row in try await client.query("SELECT * FROM project_forges WHERE project_id = \(projectID)") {
            let r = row.makeRandomAccess()
            return ProjectForge(
                projectID: try r["project_id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
                kind: try r["kind"].decode(String.self), repository: try r["repository"].decode(String.self),
                label: try r["label"].decode(String.self), webhookSecret: try r["webhook_secret"].decode(String.self),
                token: try r["token"].decode(String?.self), installationID: try r["installation_id"].decode(Int?.self),
                createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)))
        }
        return nil
    }

    public func deleteForge(projectID: String) async throws {
        try await client.query("DELETE FROM project_forges WHERE project_id = \(projectID)")
    }

    public func admitForgeTask(_ new: NewTask, tenantID: String, delivery: String, link: ForgeLink, now: Date)
        async throws -> (task: ServerTask, created: Bool)
    {
        let id = ServerIDs.newID("task")
        let at = now.timeIntervalSince1970
        let result: (task: ServerTask, created: Bool) = try await client.withTransaction(logger: logger) { connection in
            var taken = false
            for try await _ in try await connection.query(
                """
                INSERT INTO forge_deliveries (project_id, delivery, tenant_id, received_at, task_id)
                VALUES (\(new.projectID), \(delivery), \(tenantID), \(at), \(id))
                ON CONFLICT DO NOTHING RETURNING delivery
                """, logger: logger)
            {
                taken = true
            }
            guard taken else {
                guard
                    let task = try await tasks(
                        """
                        SELECT t.* FROM forge_deliveries d JOIN tasks t ON t.id = d.task_id
                        WHERE d.project_id = \(new.projectID) AND d.delivery = \(delivery)
                        """, on: connection
                    ).first
                else { throw FerryError(.store, "delivery \(delivery) was taken before without a task") }
                return (task, false)
            }
            guard
                let task = try await tasks(
                    Self.insertTask(id: id, new, tenantID: tenantID, at: at, onConflict: false), on: connection
                ).first
            else { throw FerryError(.store, "the task could not be created") }
            var link = link
            link.taskID = id
            try await connection.query(
                """
                INSERT INTO forge_links (task_id, tenant_id, project_id, issue, title, base_branch, pull_request, pull_request_url, head_branch,
                    review_id, instruction, evidence, state, commented, attempts, next_at, last_error, calls)
                VALUES (\(link.taskID), \(link.tenantID), \(link.projectID), \(link.issue), \(link.title),
                    \(link.baseBranch), \(link.pullRequest),
                    \(link.pullRequestURL), \(link.headBranch), \(link.reviewID), \(link.instruction), \(link.evidence),
                    \(link.state), \(link.commented), \(link.attempts), \(link.nextAt.timeIntervalSince1970),
                    \(link.lastError), \(link.calls))
                """, logger: logger)
            return (task, true)
        }
        if result.created { try await client.query("NOTIFY ferry_tasks") }
        return result
    }

    static func link(_ r: PostgresRandomAccessRow) throws -> ForgeLink {
        ForgeLink(
            taskID: try r["task_id"].decode(String.self), tenantID: try r["tenant_id"].decode(String.self),
            projectID: try r["project_id"].decode(String.self), issue: try r["issue"].decode(Int.self),
            title: try r["title"].decode(String.self), baseBranch: try r["base_branch"].decode(String?.self),
            pullRequest: try r["pull_request"].decode(Int?.self),
            pullRequestURL: try r["pull_request_url"].decode(String?.self),
            headBranch: try r["head_branch"].decode(String?.self), reviewID: try r["review_id"].decode(Int?.self),
            instruction: try r["instruction"].decode(String?.self), evidence: try r["evidence"].decode(String?.self),
            state: try r["state"].decode(String.self), commented: try r["commented"].decode(Bool.self),
            attempts: try r["attempts"].decode(Int.self),
            nextAt: Date(timeIntervalSince1970: try r["next_at"].decode(Double.self)),
            lastError: try r["last_error"].decode(String?.self), calls: try r["calls"].decode(String.self))
    }

    func links(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [ForgeLink] {
        let rows: PostgresRowSequence
        if let connection {
            rows = try await connection.query(query, logger: logger)
        } else {
            rows = try await client.query(query)
        }
        var result: [ForgeLink] = []
        for try await row in rows { result.append(try Self.link(row.makeRandomAccess())) }
        return result
    }

    public func forgeLink(taskID: String) async throws -> ForgeLink? {
        try await links("SELECT * FROM forge_links WHERE task_id = \(taskID)").first
    }

    public func forgeLinks(projectID: String, pullRequest: Int) async throws -> [ForgeLink] {
        try await links(
            """
            SELECT l.* FROM forge_links l JOIN tasks t ON t.id = l.task_id
            WHERE l.project_id = \(projectID) AND l.pull_request = \(pullRequest) ORDER BY t.created_at, t.id
            """)
    }

    public func setForgeEvidence(taskID: String, evidence: String, calls: String) async throws {
        try await client.query(
            "UPDATE forge_links SET evidence = \(evidence), calls = calls || \(calls) WHERE task_id = \(taskID)")
    }

    public func claimForgeLink(now: Date, leaseSeconds: Double) async throws -> ForgeLink? {
        let at = now.timeIntervalSince1970
        let ended = TaskState.allCases.filter(\.isTerminal).map(\.rawValue)
        return try await links(
            """
            UPDATE forge_links SET lease_until = \(at + leaseSeconds)
            WHERE task_id = (
                SELECT l.task_id FROM forge_links l JOIN tasks t ON t.id = l.task_id
                WHERE l.state = 'pending' AND l.next_at <= \(at) AND (l.lease_until IS NULL OR l.lease_until <= \(at))
                    AND t.state = ANY(\(ended))
                ORDER BY l.next_at LIMIT 1 FOR UPDATE OF l SKIP LOCKED)
            RETURNING *
            """
        ).first
    }

    public func recordForgeLink(_ link: ForgeLink, release: Bool) async throws {
        try await client.query(
            """
            UPDATE forge_links SET pull_request = \(link.pullRequest), pull_request_url = \(link.pullRequestURL),
                state = \(link.state), commented = \(link.commented), attempts = \(link.attempts),
                next_at = \(link.nextAt.timeIntervalSince1970), last_error = \(link.lastError), calls = \(link.calls),
                lease_until = CASE WHEN \(release) THEN NULL ELSE lease_until END
            WHERE task_id = \(link.taskID)
            """)
    }
}
