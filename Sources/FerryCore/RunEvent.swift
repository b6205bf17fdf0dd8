import Foundation

/// One entry of a run's trace: its place, its time and what happened. `trace.jsonl`, the store's events table and
/// the `--json` stream carry these, one JSON object a line: `{"seq", "time", "type", "data"}` (docs/EVENTS.md).
public struct RunEvent: Codable, Hashable, Sendable {
    /// The version of the trace's schema. `run.started` carries it; it goes up when a field changes meaning or goes.
    public static let schemaVersion = 1

    public let seq: Int
    /// Seconds since 1970.
    public let time: Double
    public let event: TraceEvent
    /// The payload's JSON text, encoded once: the trace line, the store row and the live stream all write it.
    public let dataJSON: String

    public init(seq: Int, time: Double, event: TraceEvent) {
        self.seq = seq
        self.time = time
        self.event = event
        dataJSON = event.dataJSON
    }

    public var type: String { event.type }
    /// The payload as a JSON value.
    public var data: JSONValue { JSONValue.parse(dataJSON) ?? .null }

    public static func == (lhs: RunEvent, rhs: RunEvent) -> Bool {
        lhs.seq == rhs.seq && lhs.time == rhs.time && lhs.event == rhs.event
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(seq)
        hasher.combine(time)
        hasher.combine(event)
    }

    enum CodingKeys: String, CodingKey { case seq, time, type, data }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seq = try container.decode(Int.self, forKey: .seq)
        time = try container.decode(Double.self, forKey: .time)
        let data = try container.decode(JSONValue.self, forKey: .data)
        event = try TraceEvent(type: container.decode(String.self, forKey: .type), data: data)
        dataJSON = data.jsonString
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seq, forKey: .seq)
        try container.encode(time, forKey: .time)
        try container.encode(type, forKey: .type)
        try container.encode(data, forKey: .data)
    }

    /// The event as one line of `trace.jsonl` (keys sorted), built around the payload's encoded text.
    public var jsonLine: String {
        // A whole number of seconds is written as JSONEncoder writes it (`2`, not `2.0`).
        let seconds = time == time.rounded() && abs(time) < 1e15 ? String(Int64(time)) : "\(time)"
        return "{\"data\":\(dataJSON),\"seq\":\(seq),\"time\":\(seconds),\"type\":\(JSONValue.string(type).jsonString)}"
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
