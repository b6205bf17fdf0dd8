import FerryCore
import Foundation

/// `results.jsonl`: one line per finished instance, appended and flushed as each one ends, so a suite stopped
/// half-way keeps what it finished.
actor ResultsFile {
    let path: String
    private let handle: FileHandle

    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw FerryError(.io, "cannot write \(path)") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func append(_ result: InstanceResult) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(result)
        line.append(UInt8(ascii: "\n"))
        handle.write(line)
        try handle.synchronize()
    }

    func close() { try? handle.close() }

    /// The results already in a file; a torn last line (from a kill mid-write) is ignored.
    static func read(_ path: String) -> [InstanceResult] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(InstanceResult.self, from: Data($0.utf8))
        }
    }
}
