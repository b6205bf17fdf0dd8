import FerryCore
import FerryServerStore
import Foundation
import Logging
import Synchronization

/// One JSON object per line on standard error, for log collectors: `time` (RFC 3339, milliseconds, UTC), `level`,
/// `logger`, `message`, then the metadata's fields. Every line passes through the redactor first, so a key that
/// reaches an error message is not written out.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let redactor: Redactor
    let write: @Sendable (String) -> Void

    public init(
        label: String, level: Logger.Level = .info, redactor: Redactor,
        write: @escaping @Sendable (String) -> Void = Self.standardError
    ) {
        self.label = label
        self.logLevel = level
        self.redactor = redactor
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: JSONValue] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = Self.json(value)
        }
        object["time"] = .string(Self.timestamp(Date()))
        object["level"] = .string(event.level.rawValue)
        object["logger"] = .string(label)
        object["message"] = .string(event.message.description)
        write(redactor(JSONValue.object(object)).jsonString + "\n")
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: .number(Double(number))
            case let number as Double: number.isFinite ? .number(number) : .string("\(number)")
            case let flag as Bool: .bool(flag)
            default: .string(convertible.description)
            }
        case .array(let items): .array(items.map(json))
        case .dictionary(let fields): .object(fields.mapValues(json))
        }
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    private static let lock = Mutex(())

    /// One `write` per line, under a lock, so lines from many tasks never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }
}
