import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a window of lines from a file without holding the file: it streams in chunks, keeps only the lines asked
/// for, and counts the rest. Memory stays near the window's size whatever the file's (a 300 MB file costs one chunk).
enum LineWindow {
    enum Result: Equatable {
        /// The lines from `start` (at most `maxLines`), and the file's line count.
        case lines([String], total: Int)
        case binary
        case tooLarge(Int)
        /// A FIFO, device or socket: opening it could block forever.
        case notRegular
    }

    static let chunkSize = 64 * 1024

    /// The size of a regular file, or nil for anything else (FIFO, device, socket, missing).
    static func regularFileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    static func read(path: String, start: Int, end: Int?, maxLines: Int, maxFileBytes: Int) throws -> Result {
        guard let size = regularFileSize(path) else { return .notRegular }
        if size > maxFileBytes { return .tooLarge(size) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoPermission)
        }
        defer { try? handle.close() }
        let last = min(end ?? Int.max, start + maxLines - 1)
        var lines: [String] = []
        var current: [UInt8] = []
        var lineNumber = 1
        var total = 0
        var checkedBinary = false
        var partial = false
        while true {
            let data = handle.readData(ofLength: chunkSize)
            if data.isEmpty { break }
            if !checkedBinary {
                if data.prefix(8000).contains(0) { return .binary }
                checkedBinary = true
            }
            for byte in data {
                partial = byte != 0x0A
                if byte == 0x0A {
                    if lineNumber >= start && lineNumber <= last {
                        lines.append(String(decoding: current, as: UTF8.self))
                    }
                    current.removeAll(keepingCapacity: true)
                    lineNumber += 1
                    total += 1
                } else if lineNumber >= start && lineNumber <= last {
                    current.append(byte)
                }
            }
        }
        // A last line without a newline still counts.
        if partial {
            total += 1
            if lineNumber >= start && lineNumber <= last { lines.append(String(decoding: current, as: UTF8.self)) }
        }
        return .lines(lines, total: total)
    }
}
