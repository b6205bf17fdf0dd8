import FerryCore
import FerryServerStore
import FerryStore
import FerryTesting
import Foundation

/// What the gates' record costs a task's start on the team server (`ferry-server-bench --gate N`): the worker reads
/// the runs of up to `LoopGate.fetched` of the project's tasks. Each store holds N runs; the table compares reading
/// them one id at a time (as the worker did) with `RunStore.runs(ids:)` a page of 200 ids at a time (as it does),
/// in one sitting so the ratio holds on a noisy machine.
enum GateBench {
    static let page = 200

    static func run(runs count: Int, rounds: Int = 5) async throws -> String {
        var lines = [
            "| store | runs read | one id at a time (median ms) | pages of \(page) ids (median ms) | ratio |",
            "|---|---:|---:|---:|---:|",
        ]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-gate-bench-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sqlite = try SQLiteRunStore(path: directory + "/runs.sqlite", sharedByTenants: true)
        lines.append(try await measure("SQLite", sqlite, count: count, rounds: rounds, directory: directory))
        let url = try await PostgresCluster.freshDatabase()
        let line = try await PostgresServerStore.withStore(url: url) { store in
            try await measure("PostgreSQL", PostgresRunStore(store), count: count, rounds: rounds, directory: directory)
        }
        lines.append(line)
        return lines.joined(separator: "\n") + "\n"
    }

    static func measure(_ name: String, _ store: any RunStore, count: Int, rounds: Int, directory: String)
        async throws -> String
    {
        var ids: [String] = []
        for index in 0..<count {
            let id = String(format: "20261206-%06d-%08x", index, index &* 2_654_435_761 & 0xffff_ffff)
            var record = RunRecord(
                id: id, repo: "/srv/shop", base: "b", branch: "ferry/\(id)", task: "task \(index)", model: "qwen",
                provider: "local", sandbox: "bubblewrap", runDirectory: directory + "/" + id,
                createdAt: Date(timeIntervalSince1970: 1_796_000_000 + Double(index)))
            record.status = index % 3 == 0 ? .verified : .failed
            record.toolLoop = .ran
            record.retries = .skipped
            record.summary = String(repeating: "A change to the shop's cart. ", count: 8)
            try await store.insert(record)
            ids.append(id)
        }
        var single: [Double] = []
        var batched: [Double] = []
        for _ in 0..<rounds {
            var started = Date()
            var read = 0
            for id in ids { if try await store.run(id) != nil { read += 1 } }
            single.append(Date().timeIntervalSince(started) * 1000)
            precondition(read == count, "\(name): read \(read) of \(count) one at a time")
            started = Date()
            read = 0
            for start in stride(from: 0, to: ids.count, by: page) {
                read += try await store.runs(ids: Array(ids[start..<min(start + page, ids.count)])).count
            }
            batched.append(Date().timeIntervalSince(started) * 1000)
            precondition(read == count, "\(name): read \(read) of \(count) in pages")
        }
        let one = percentile(single, 50) ?? 0
        let many = percentile(batched, 50) ?? 0
        return "| \(name) | \(count) | \(fmt(one)) | \(fmt(many)) | \(fmt(one / max(many, 0.001)))× |"
    }
}
