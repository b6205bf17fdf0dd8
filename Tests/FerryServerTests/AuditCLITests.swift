import FerryCore
import FerryTesting
import Foundation
import GRDB
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// `ferry audit verify` (the real binary) on the embedded store and on an export, and the server's retention.
@Suite struct AuditCLITests {
    @Test func theVerifyCommandNamesATamperedEntryAndChecksAnExport() async throws {
        let binary = CrashTests.packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the ferry binary first")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-audit-cli-\(UUID().uuidString.prefix(8))"
        ).path
        let environment = ["XDG_DATA_HOME": root + "/data", "XDG_CONFIG_HOME": root + "/config"]
        let server = try TeamServer(dataDirectory: root + "/data/ferry/server", policy: .tests(data: root))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let principal = Principal(
            tenantID: tenant.id, role: .admin, keyID: "key_cli", personID: Person.builtInID(tenantID: tenant.id))
        let api = ServerAPI(store: server.store, runStore: server.runStore)
        for index in 1...5 {
            try await api.record(principal, "budget.set", tenant.id, "monthly $\(index)", "127.0.0.1")
        }
        let good = try await ChildProcess.run(binary, ["audit", "verify"], environment: environment)
        #expect(good.status == 0 && good.output.contains("tenant \(tenant.id): intact, 5 entries"), "\(good.output)")

        // The export, checked anywhere; an edited line and a cut tail are caught.
        let entries = try await server.store.auditChain(tenantID: tenant.id, after: 0, limit: 100)
        let export = root + "/audit.jsonl"
        try entries.map { AuditLine.line($0) + "\n" }.joined().write(toFile: export, atomically: true, encoding: .utf8)
        let file = try await ChildProcess.run(binary, ["audit", "verify", "--file", export], environment: environment)
        #expect(file.status == 0 && file.output.contains("intact, 5 entries after 0 through 5"), "\(file.output)")
        let anchor = "5:\(entries[4].hash)"
        let cut = root + "/cut.jsonl"
        try entries.prefix(3).map { AuditLine.line($0) + "\n" }.joined().write(
            toFile: cut, atomically: true, encoding: .utf8)
        let cutCheck = try await ChildProcess.run(
            binary, ["audit", "verify", "--file", cut, "--head", anchor], environment: environment)
        #expect(cutCheck.status == 1 && cutCheck.output.contains("entries 4…5 are missing"), "\(cutCheck.output)")
        let edited = root + "/edited.jsonl"
        try entries.map { AuditLine.line($0) + "\n" }.joined()
            .replacingOccurrences(of: "monthly $2", with: "monthly $0")
            .write(toFile: edited, atomically: true, encoding: .utf8)
        let editCheck = try await ChildProcess.run(
            binary, ["audit", "verify", "--file", edited], environment: environment)
        #expect(editCheck.status == 1 && editCheck.output.contains("entry 2: its contents do not match"))

        // The stored chain, edited in the database behind the server's back.
        let store = try #require(server.store as? SQLiteServerStore)
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE audit SET remote = '10.6.6.6' WHERE seq = 3")
        }
        let bad = try await ChildProcess.run(
            binary, ["audit", "verify", "--tenant", "default"], environment: environment)
        #expect(bad.status == 1 && bad.output.contains("entry 3: its contents do not match its hash"), "\(bad.output)")
        let unknown = try await ChildProcess.run(
            binary, ["audit", "verify", "--tenant", "nope"], environment: environment)
        #expect(unknown.status == 2 && unknown.output.contains("no tenant named nope"))
    }

    @Test func retentionRemovesOldEntriesAndSaysSoInTheChain() async throws {
        try await QueueTests.withFixture(.sqlite) { f in
            let now = Date()
            for day in [40.0, 35, 20, 1] {
                try await f.store.audit(
                    AuditEntry(
                        tenantID: f.tenant.id, keyID: "key_1", action: "task.create", object: "t\(day)", detail: "",
                        remote: nil, at: now.addingTimeInterval(-day * 86_400)))
            }
            let retention = AuditRetention(store: f.store, days: 30)
            #expect(await retention.pruneOnce(now: now) == 2)
            #expect(await retention.pruneOnce(now: now) == 0, "nothing more to remove")
            let kept = try await f.store.auditChain(tenantID: f.tenant.id, after: 0, limit: 10)
            #expect(kept.map(\.object) == ["t20.0", "t1.0", f.tenant.id])
            #expect(kept.last?.action == "audit.prune" && kept.last?.surface == .system)
            #expect(kept.last?.detail == "entries through 2 removed (older than 30 days)")
            #expect(try await ServerAPI.checkChain(f.store, tenantID: f.tenant.id).report.intact)
        }
    }
}
