import FerryCore
import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode, under `$XDG_DATA_HOME/ferry/` by default.
public final class SQLiteRunStore: RunStore {
    let pool: DatabasePool
    public let path: String

    /// Whether runs of several tenants share this store (a team server's): then it keeps no loop record.
    let sharedByTenants: Bool

    public init(path: String, sharedByTenants: Bool = false) throws {
        self.path = path
        self.sharedByTenants = sharedByTenants
        pool = try Self.openPool(path: path, migrator: Self.migrator, what: "the run store")
    }

    /// A WAL-mode pool on `path` (its folder made), migrated; what Ferry's SQLite stores open with.
    public static func openPool(path: String, migrator: DatabaseMigrator, what: String) throws -> DatabasePool {
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let pool = try DatabasePool(path: path, configuration: configuration)
            try migrator.migrate(pool)
            return pool
        } catch {
            throw FerryError(.store, "cannot open \(what) at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "runs") { t in
                t.primaryKey("id", .text)
                t.column("repo", .text).notNull()
                t.column("base", .text).notNull()
                t.column("branch", .text).notNull()
                t.column("task", .text).notNull()
                t.column("model", .text).notNull()
                t.column("provider", .text).notNull()
                t.column("status", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("steps", .integer).notNull()
                t.column("inputTokens", .integer).notNull()
                t.column("outputTokens", .integer).notNull()
                t.column("cachedTokens", .integer).notNull()
                t.column("cacheWriteTokens", .integer).notNull()
                t.column("costUSD", .double).notNull()
                t.column("wallSeconds", .double).notNull()
                t.column("commitSHA", .text)
                t.column("sandbox", .text).notNull()
                t.column("runDirectory", .text).notNull()
                t.column("summary", .text).notNull()
                t.column("createdAt", .datetime).notNull().indexed()
                t.column("finishedAt", .datetime)
            }
            try db.create(table: "events") { t in
                t.column("runID", .text).notNull().references("runs", onDelete: .cascade)
                t.column("seq", .integer).notNull()
                t.column("time", .double).notNull()
                t.column("type", .text).notNull()
                t.column("data", .text).notNull()
                t.primaryKey(["runID", "seq"])
            }
        }
        migrator.registerMigration("v2: run owner") { db in
            try db.alter(table: "runs") { t in t.add(column: "owner", .text) }
            try db.create(index: "runs_status", on: "runs", columns: ["status"])
        }
        migrator.registerMigration("v3: tool loop") { db in
            try db.alter(table: "runs") { t in t.add(column: "toolLoop", .text) }
        }
        migrator.registerMigration("v4: attempt retries") { db in
            try db.alter(table: "runs") { t in
                t.add(column: "retries", .text)
                t.add(column: "retryKept", .boolean)
            }
        }
        return migrator
    }

    public func insert(_ run: RunRecord) async throws {
        try await write { db in try run.insert(db) }
    }

    public func update(_ run: RunRecord) async throws {
        try await write { db in try run.update(db) }
    }

    public func append(_ event: RunEvent, to runID: String) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO events (runID, seq, time, type, data) VALUES (?, ?, ?, ?, ?)",
                arguments: [runID, event.seq, event.time, event.type, event.dataJSON])
        }
    }

    public func runs(limit: Int) async throws -> [RunRecord] {
        try await read { db in
            try RunRecord.order(Column("createdAt").desc).limit(limit).fetchAll(db)
        }
    }

    public func run(_ idOrPrefix: String) async throws -> RunRecord? {
        try await read { db in
            if let exact = try RunRecord.fetchOne(db, key: idOrPrefix) { return exact }
            let matches = try RunRecord.filter(Column("id").like(idOrPrefix + "%")).limit(2).fetchAll(db)
            return matches.count == 1 ? matches[0] : nil
        }
    }

    public func runs(ids: [String]) async throws -> [RunRecord] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in try RunRecord.fetchAll(db, keys: ids) }
    }

    public func runningRuns() async throws -> [RunRecord] {
        try await read { db in
            try RunRecord.filter(Column("status") == RunStatus.running.rawValue).order(Column("createdAt")).fetchAll(db)
        }
    }

    public func gateHistories(_ stages: Set<LoopGate.Stage>, model: String, provider: String, limit: Int)
        async throws -> [LoopGate.Stage: [LoopGate.Past]]
    {
        guard !sharedByTenants else { return [:] }
        return try await read { db in
            var histories: [LoopGate.Stage: [LoopGate.Past]] = [:]
            for stage in stages {
                let use = Column(stage == .toolLoop ? "toolLoop" : "retries")
                // The runs `LoopGate.Past` counts (not running, not interrupted), so that `limit` counts only them.
                histories[stage] = try RunRecord.filter(
                    Column("model") == model && Column("provider") == provider && use != nil
                        && ![RunStatus.running.rawValue, RunStatus.interrupted.rawValue].contains(Column("status"))
                )
                .order(Column("createdAt").desc).limit(limit).fetchAll(db)
                .compactMap { LoopGate.Past($0, stage: stage) }
            }
            return histories
        }
    }

    public func events(of runID: String) async throws -> [RunEvent] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, time, type, data FROM events WHERE runID = ? ORDER BY seq", arguments: [runID]
            )
            .map { row in
                let type: String = row["type"]
                let data = JSONValue.parse(row["data"] as String) ?? .null
                // A row an older or newer Ferry wrote is kept as it is rather than lost.
                let event = (try? TraceEvent(type: type, data: data)) ?? .unknown(type: type, data: data)
                return RunEvent(seq: row["seq"], time: row["time"], event: event)
            }
        }
    }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch { throw FerryError(.store, "run store write failed: \(error)") }
    }

    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw FerryError(.store, "run store read failed: \(error)") }
    }
}

extension RunRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "runs"
}

extension RunStatus: DatabaseValueConvertible {}
