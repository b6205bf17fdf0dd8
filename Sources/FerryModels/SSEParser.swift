/// One Server-Sent Event.
public struct SSEEvent: Hashable, Sendable {
    public var event: String?
    public var data: String

    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// Incremental Server-Sent Events parser: feed it bytes as they arrive, get whole events back.
public struct SSEParser: Sendable {
    private var buffer: [UInt8] = []
    private var event: String?
    private var dataLines: [String] = []

    public init() {}

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [SSEEvent] where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        var events: [SSEEvent] = []
        var lineStart = 0
        var index = 0
        while index < buffer.count {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if byte == UInt8(ascii: "\r") {
                    // A lone \r at the very end may be the first half of \r\n: wait for more bytes.
                    if index + 1 == buffer.count { break }
                }
                let line = String(decoding: buffer[lineStart..<index], as: UTF8.self)
                if byte == UInt8(ascii: "\r"), buffer[index + 1] == UInt8(ascii: "\n") { index += 1 }
                if let finished = handle(line: line) { events.append(finished) }
                lineStart = index + 1
            }
            index += 1
        }
        buffer.removeFirst(lineStart)
        return events
    }

    /// Call at end of stream: returns an event left without its blank line, if any.
    public mutating func finish() -> SSEEvent? {
        if !buffer.isEmpty {
            let line = String(decoding: buffer, as: UTF8.self)
            buffer.removeAll()
            _ = handle(line: line)
        }
        return handle(line: "")
    }

    private mutating func handle(line: String) -> SSEEvent? {
        if line.isEmpty {
            defer {
                event = nil
                dataLines.removeAll()
            }
            guard !dataLines.isEmpty else { return nil }
            return SSEEvent(event: event, data: dataLines.joined(separator: "\n"))
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "event": event = String(value)
        case "data": dataLines.append(String(value))
        default: break
        }
        return nil
    }
}
