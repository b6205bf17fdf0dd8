import FerryCore
import FerryTesting
import Foundation
import Logging
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The server's logs: one JSON object per line, typed fields, secrets masked.
@Suite struct JSONLogHandlerTests {
    @Test func eachLineIsOneObjectWithTypedFieldsAndNoSecret() throws {
        let lines = Locked<[String]>([])
        var logger = Logger(label: "ferry.worker") { label in
            JSONLogHandler(label: label, level: .info, redactor: Redactor(secrets: ["sk-live-123456"])) { line in
                lines.withLock { $0.append(line) }
            }
        }
        logger[metadataKey: "worker"] = "host/w1"
        logger.debug("not written at info")
        logger.error(
            "model call failed",
            metadata: [
                "attempt": .stringConvertible(2), "seconds": .stringConvertible(1.5), "ok": .stringConvertible(false),
                "error": "401 for key sk-live-123456", "tags": ["a", "b"], "message\"quote": "x\ny",
            ])
        let written = lines.withLock { $0 }
        #expect(written.count == 1 && written[0].hasSuffix("}\n") && written[0].filter { $0 == "\n" }.count == 1)
        let line = try #require(JSONValue.parse(written[0]))
        #expect(line["level"] == "error" && line["logger"] == "ferry.worker" && line["message"] == "model call failed")
        #expect(
            line["worker"] == "host/w1" && line["attempt"] == 2 && line["seconds"]?.doubleValue == 1.5
                && line["ok"] == false)
        #expect(
            line["error"] == "401 for key [REDACTED]" && line["tags"] == ["a", "b"] && line["message\"quote"] == "x\ny")
        let time = try #require(line["time"]?.stringValue)
        #expect(time.hasSuffix("Z") && time.contains("T") && time.contains("."), "\(time)")
        #expect(!written[0].contains("sk-live-123456"))
    }
}
