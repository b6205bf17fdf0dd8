import FerryServer
import Foundation

/// The queue alone on the same PostgreSQL: `claimers` concurrent loops that claim and finish (no run) until
/// `tasks` tasks are done — the headroom the queue has over the workers' real pipeline.
enum QueueOnly {
    static func run(url: String, tasks: Int, claimers: Int) async throws -> String {
        try await PostgresServerStore.withStore(url: url) { store in
            try await run(store, tasks: tasks, claimers: claimers)
        }
    }

    static func run(_ store: PostgresServerStore, tasks: Int, claimers: Int) async throws -> String {
        let tenant = try await store.createTenant(name: "queue-only")
        let project = try await store.createProject(
            Project(
                id: "prj_queue_only", tenantID: tenant.id, name: "q", repo: "/nowhere", base: "main", model: nil,
                testCommand: nil,
                createdAt: Date()))
        for index in 0..<tasks {
            _ = try await store.createTask(
                NewTask(projectID: project.id, task: "t\(index)"), tenantID: tenant.id, now: Date())
        }
        let policy = QueuePolicy(leaseSeconds: 60)
        let started = Date()
        let claimMillis = try await withThrowingTaskGroup(of: [Double].self) { group in
            for index in 0..<claimers {
                group.addTask {
                    var millis: [Double] = []
                    while true {
                        let asked = Date()
                        guard let task = try await store.claim(worker: "q\(index)", now: asked, policy: policy) else {
                            return millis
                        }
                        millis.append(Date().timeIntervalSince(asked) * 1000)
                        let outcome = TaskOutcome(
                            state: .verified, reason: "ok", runID: nil, branch: nil, commitSHA: nil, costUSD: 0)
                        _ = try await store.finish(id: task.id, attempt: task.attempt, outcome: outcome, now: Date())
                    }
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = Date().timeIntervalSince(started)
        return """

            ## The queue alone

            \(claimers) concurrent claimers on the same database claim and finish \(tasks) tasks with no run between (the \
            finish includes the attempt row, the webhook outbox check and the NOTIFY): **\(fmt(Double(tasks) / elapsed, 0)) \
            tasks per second**, claim statement p50 \(fmt(percentile(claimMillis, 50), 2)) ms, p99 \
            \(fmt(percentile(claimMillis, 99), 2)) ms. That is the queue's ceiling on this machine, against the \
            workers' end-to-end rate above.

            """
    }
}
