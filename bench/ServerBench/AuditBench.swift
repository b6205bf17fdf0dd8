import FerryCore
import FerryServer
import FerryServerStore
import FerryTesting
import Foundation

/// What the audit chain costs (`ferry-server-bench --audit N`): appends per second on each store, one writer and
/// eight at once over two tenants (each append seals against its tenant's head in one transaction), and the time to
/// check a chain of N entries.
enum AuditBench {
    static func run(entries: Int) async throws -> String {
        var lines = [
            "| store | writers | appends | seconds | appends/s | check of the chain |", "|---|---|---|---|---|---|",
        ]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-audit-bench-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for writers in [1, 8] {
            let sqlite = try SQLiteServerStore(path: directory + "/audit-\(writers).sqlite")
            lines.append(try await measure("SQLite", sqlite, writers: writers, entries: entries))
        }
        for writers in [1, 8] {
            let url = try await PostgresCluster.freshDatabase()
            let line = try await PostgresServerStore.withStore(url: url) { store in
                try await measure("PostgreSQL", store, writers: writers, entries: entries)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func measure(_ name: String, _ store: any ServerStore, writers: Int, entries: Int) async throws -> String {
        let tenants = [try await store.createTenant(name: "a").id, try await store.createTenant(name: "b").id]
        let started = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in stride(from: writer, to: entries, by: writers) {
                        try await store.audit(
                            AuditEntry(
                                tenantID: tenants[index % 2], keyID: "key_\(writer)", personID: "per_\(writer)",
                                action: "task.create", object: "task_\(index)", detail: "project shop",
                                remote: "10.0.0.1", at: Date()))
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Date().timeIntervalSince(started)
        let checkStarted = Date()
        var intact = true
        for tenant in tenants {
            intact = try await ServerAPI.checkChain(store, tenantID: tenant).report.intact && intact
        }
        let check = Date().timeIntervalSince(checkStarted)
        return "| \(name) | \(writers) | \(entries) | \(String(format: "%.2f", seconds)) | "
            + "\(Int(Double(entries) / seconds)) | \(String(format: "%.0f ms", check * 1000))\(intact ? "" : " BROKEN") |"
    }
}
