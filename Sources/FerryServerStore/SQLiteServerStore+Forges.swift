import FerryCore
import Foundation
import GRDB

extension SQLiteServerStore {
    public func setForge(_ forge: ProjectForge) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO project_forges (project_id, tenant_id, kind, repository, label, webhook_secret, token,
                        installation_id, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (project_id) DO UPDATE SET kind = excluded.kind, repository = excluded.repository,
                        label = excluded.label, webhook_secret = excluded.webhook_secret, token = excluded.token,
                        installation_id = excluded.installation_id
                    """,
                arguments: [
                    forge.projectID, forge.tenantID, forge.kind, forge.repository, forge.label, forge.webhookSecret,
                    forge.token, forge.installationID, forge.createdAt.timeIntervalSince1970,
                ])
        }
    }

    public func forge(projectID: String) async throws -> ProjectForge? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM project_forges WHERE project_id = ?", arguments: [projectID]).map {
                ProjectForge(
                    projectID: $0["project_id"], tenantID: $0["tenant_id"], kind: $0["kind"],
                    repository: $0["repository"],
                    label: $0["label"], webhookSecret: $0["webhook_secret"], token: $0["token"],
                    installationID: $0["installation_id"], createdAt: Date(timeIntervalSince1970: $0["created_at"]))
            }
        }
    }

    public func deleteForge(projectID: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM project_forges WHERE project_id = ?", arguments: [projectID])
        }
    }

    public func admitForgeTask(_ new: NewTask, tenantID: String, delivery: String, link: ForgeLink, now: Date)
        async throws -> (task: ServerTask, created: Bool)
    {
        let id = ServerIDs.newID("task")
        let result: (task: ServerTask, created: Bool) = try await write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO forge_deliveries (project_id, delivery, tenant_id, received_at, task_id)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [new.projectID, delivery, tenantID, now.timeIntervalSince1970, id])
            guard db.changesCount == 1 else {
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT t.* FROM forge_deliveries d JOIN tasks t ON t.id = d.task_id
                            WHERE d.project_id = ? AND d.delivery = ?
                            """, arguments: [new.projectID, delivery])
                else { throw FerryError(.store, "delivery \(delivery) was taken before without a task") }
                return (Self.task(row), false)
            }
            let task = try Self.insertTask(db, id: id, new, tenantID: tenantID, now: now)
            var link = link
            link.taskID = id
            try Self.insertLink(db, link)
            return (task, true)
        }
        if result.created { workSignal.notify() }
        return result
    }

    static func insertLink(_ db: Database, _ link: ForgeLink) throws {
        try db.execute(
            sql: """
                INSERT INTO forge_links (task_id, tenant_id, project_id, issue, title, base_branch, pull_request, pull_request_url, head_branch,
                    review_id, instruction, evidence, state, commented, attempts, next_at, last_error, calls)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                link.taskID, link.tenantID, link.projectID, link.issue, link.title, link.baseBranch, link.pullRequest,
                link.pullRequestURL,
                link.headBranch, link.reviewID, link.instruction, link.evidence, link.state, link.commented,
                link.attempts, link.nextAt.timeIntervalSince1970, link.lastError, link.calls,
            ])
    }

    static func link(_ row: Row) -> ForgeLink {
        ForgeLink(
            taskID: row["task_id"], tenantID: row["tenant_id"], projectID: row["project_id"], issue: row["issue"],
            title: row["title"], baseBranch: row["base_branch"], pullRequest: row["pull_request"],
            pullRequestURL: row["pull_request_url"], headBranch: row["head_branch"],
            reviewID: row["review_id"], instruction: row["instruction"], evidence: row["evidence"], state: row["state"],
            commented: row["commented"], attempts: row["attempts"],
            nextAt: Date(timeIntervalSince1970: row["next_at"]), lastError: row["last_error"], calls: row["calls"])
    }

    public func forgeLink(taskID: String) async throws -> ForgeLink? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM forge_links WHERE task_id = ?", arguments: [taskID]).map(Self.link)
        }
    }

    public func forgeLinks(projectID: String, pullRequest: Int) async throws -> [ForgeLink] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT l.* FROM forge_links l JOIN tasks t ON t.id = l.task_id
                    WHERE l.project_id = ? AND l.pull_request = ? ORDER BY t.created_at, t.id
                    """, arguments: [projectID, pullRequest]
            ).map(Self.link)
        }
    }

    public func setForgeEvidence(taskID: String, evidence: String, calls: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE forge_links SET evidence = ?, calls = calls || ? WHERE task_id = ?",
                arguments: [evidence, calls, taskID])
        }
    }

    public func claimForgeLink(now: Date, leaseSeconds: Double) async throws -> ForgeLink? {
        let ended = TaskState.allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let due = """
            SELECT l.* FROM forge_links l JOIN tasks t ON t.id = l.task_id
            WHERE l.state = 'pending' AND l.next_at <= ? AND (l.lease_until IS NULL OR l.lease_until <= ?)
                AND t.state IN (\(ended))
            ORDER BY l.next_at LIMIT 1
            """
        let at = now.timeIntervalSince1970
        // Most polls find nothing: a read first, so an idle publisher never takes the writer's lock.
        guard try await read({ db in try Row.fetchOne(db, sql: due, arguments: [at, at]) != nil }) else { return nil }
        return try await write { db in
            guard let row = try Row.fetchOne(db, sql: due, arguments: [at, at]) else { return nil }
            let link = Self.link(row)
            try db.execute(
                sql: "UPDATE forge_links SET lease_until = ? WHERE task_id = ?",
                arguments: [now.timeIntervalSince1970 + leaseSeconds, link.taskID])
            return link
        }
    }

    public func recordForgeLink(_ link: ForgeLink, release: Bool) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE forge_links SET pull_request = ?, pull_request_url = ?, state = ?, commented = ?, attempts = ?,
                        next_at = ?, last_error = ?, calls = ?,
                        lease_until = CASE WHEN ? THEN NULL ELSE lease_until END
                    WHERE task_id = ?
                    """,
                arguments: [
                    link.pullRequest, link.pullRequestURL, link.state, link.commented, link.attempts,
                    link.nextAt.timeIntervalSince1970, link.lastError, link.calls, release, link.taskID,
                ])
        }
    }
}
