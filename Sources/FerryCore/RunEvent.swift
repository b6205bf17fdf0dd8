import Foundation

/// One entry of a run's trace: what happened, when, and its data. `trace.jsonl`, the store's events table and the
/// `--json` stream all carry these.
public struct RunEvent: Codable, Hashable, Sendable {
    public var seq: Int
    /// Seconds since 1970.
    public var time: Double
    public var type: String
    public var data: JSONValue

    public init(seq: Int, time: Double, type: String, data: JSONValue) {
        self.seq = seq
        self.time = time
        self.type = type
        self.data = data
    }

    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}
