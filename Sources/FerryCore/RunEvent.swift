import Foundation

/// One entry of a run's trace: its place, its time and what happened. `trace.jsonl`, the store's events table and
/// the `--json` stream carry these, one JSON object a line: `{"seq", "time", "type", "data"}` (docs/EVENTS.md).
public struct RunEvent: Codable, Hashable, Sendable {
    /// The version of the trace's schema. `run.started` carries it; it goes up when a field changes meaning or goes.
    public static let schemaVersion = 1

    public var seq: Int
    /// Seconds since 1970.
    public var time: Double
    public var event: TraceEvent

    public init(seq: Int, time: Double, event: TraceEvent) {
        self.seq = seq
        self.time = time
        self.event = event
    }

    public var type: String { event.type }
    public var data: JSONValue { event.data }

    enum CodingKeys: String, CodingKey { case seq, time, type, data }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seq = try container.decode(Int.self, forKey: .seq)
        time = try container.decode(Double.self, forKey: .time)
        event = try TraceEvent(
            type: container.decode(String.self, forKey: .type), data: container.decode(JSONValue.self, forKey: .data))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seq, forKey: .seq)
        try container.encode(time, forKey: .time)
        try container.encode(type, forKey: .type)
        try container.encode(data, forKey: .data)
    }

    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// Reads a trace file's lines. A line that does not parse is an error naming it.
    public static func read(jsonLines text: String) throws -> [RunEvent] {
        try text.split(separator: "\n").enumerated().map { index, line in
            do {
                return try JSONDecoder().decode(RunEvent.self, from: Data(line.utf8))
            } catch {
                throw FerryError(.io, "trace line \(index + 1) is not a Ferry event: \(error)")
            }
        }
    }
}
