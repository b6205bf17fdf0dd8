import Foundation
import Testing

/// docs/EVENTS.md is the contract for the trace, the `--json` stream and the server's `/v1/tasks/{id}/events` (the
/// OpenAPI document points there): every event type the decoder knows must be in it.
@Suite struct EventsDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func everyEventTypeTheTraceCanCarryIsDocumented() throws {
        let source = try String(
            contentsOf: Self.root.appendingPathComponent("Sources/FerryCore/TraceEvent.swift"), encoding: .utf8)
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/EVENTS.md"), encoding: .utf8)
        let regex = try NSRegularExpression(pattern: #"case "([a-z_.]+)": self = "#)
        let types = regex.matches(in: source, range: NSRange(source.startIndex..., in: source)).compactMap {
            Range($0.range(at: 1), in: source).map { String(source[$0]) }
        }
        #expect(types.count >= 25)
        #expect(types.contains("tests.wider"))
        let missing = types.filter { !doc.contains("`\($0)`") }
        #expect(missing.isEmpty, "not in docs/EVENTS.md: \(missing)")
    }
}
