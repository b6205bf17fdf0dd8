import FerryCore
import FerryStore
import Foundation
import PostgresNIO

/// Runs and their events in PostgreSQL, beside the queue, so every API server sees every worker's runs (the live
/// event stream of a task running on another machine). A run's record is kept as its JSON document.
public final class PostgresRunStore: RunStore {
    let store: PostgresServerStore
    var client: PostgresClient { store.client }

    /// Uses the server store's connection pool and schema (migration 3 holds these tables).
    public init(_ store: PostgresServerStore) {
        self.store = store
    }

    static func document(_ run: RunRecord) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(run), as: UTF8.self)
    }

    static func record(_ text: String) throws -> RunRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(RunRecord.self, from: Data(text.utf8))
    }

    public func insert(_ run: RunRecord) async throws {
        try await client.query(
            """
            INSERT INTO runs (id, status, created_at, record)
            VALUES (\(run.id), \(run.status.rawValue), \(run.createdAt.timeIntervalSince1970), \(try Self.document(run)))
            """)
    }

    public func update(_ run: RunRecord) async throws {
        try await client.query(
            "UPDATE runs SET status = \(run.status.rawValue), record = \(try Self.document(run)) WHERE id = \(run.id)")
    }

    public func append(_ event: RunEvent, to runID: String) async throws {
        try await client.query(
            """
            INSERT INTO events (run_id, seq, time, type, data)
            VALUES (\(runID), \(event.seq), \(event.time), \(event.type), \(event.dataJSON))
            """)
    }

    public func runs(limit: Int) async throws -> [RunRecord] {
        try await records("SELECT record FROM runs ORDER BY created_at DESC LIMIT \(max(1, limit))")
    }

    public func run(_ idOrPrefix: String) async throws -> RunRecord? {
        let found = try await records(
            "SELECT record FROM runs WHERE id = \(idOrPrefix) OR id LIKE \(idOrPrefix + "%") ORDER BY (id = \(idOrPrefix)) DESC LIMIT 2"
        )
        if let exact = found.first, exact.id == idOrPrefix { return exact }
        return found.count == 1 ? found[0] : nil
    }

    public func runs(ids: [String]) async throws -> [RunRecord] {
        guard !ids.isEmpty else { return [] }
        return try await records("SELECT record FROM runs WHERE id = ANY(\(ids))")
    }

    public func events(of runID: String) async throws -> [RunEvent] {
        var events: [RunEvent] = []
        for try await (seq, time, type, data) in try await client.query(
            "SELECT seq, time, type, data FROM events WHERE run_id = \(runID) ORDER BY seq"
        ).decode((Int, Double, String, String).self) {
            let value = JSONValue.parse(data) ?? .null
            let event = (try? TraceEvent(type: type, data: value)) ?? .unknown(type: type, data: value)
            events.append(RunEvent(seq: seq, time: time, event: event))
        }
        return events
    }

    public func runningRuns() async throws -> [RunRecord] {
        try await records("SELECT record FROM runs WHERE status = 'running' ORDER BY created_at")
    }

    func records(_ query: PostgresQuery) async throws -> [RunRecord] {
        var result: [RunRecord] = []
        for try await text in try await client.query(query).decode(String.self) { result.append(try Self.record(text)) }
        return result
    }
}
