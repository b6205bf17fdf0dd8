import Crypto
import FerryCore
import Foundation

/// Progress of a long operation, for the CLI's progress bar.
public struct TransferProgress: Sendable, Hashable {
    public var phase: String
    public var done: Int64
    public var total: Int64
    public init(phase: String, done: Int64, total: Int64) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}

/// Joins the pieces of a model into one file and checks it, never leaving a half-written file behind: it writes
/// to a temporary file beside the target and renames it only after the size and SHA-256 match.
public enum ModelAssembler {
    /// Piece files in numeric order of the number in their name (`part2.bin` before `part10.bin`).
    public static func ordered(_ paths: [String]) -> [String] {
        func number(_ path: String) -> Int {
            let name = (path as NSString).lastPathComponent
            let digits = name.reversed().drop { !$0.isNumber }.prefix { $0.isNumber }
            return Int(String(digits.reversed())) ?? 0
        }
        return paths.sorted { (number($0), $0) < (number($1), $1) }
    }

    public static func assemble(
        pieces: [String], to target: String, expectedSize: Int64, expectedSHA256: String,
        progress: @Sendable (TransferProgress) -> Void = { _ in }
    ) throws {
        let fm = FileManager.default
        guard !pieces.isEmpty else { throw FerryError(.io, "no model pieces to assemble") }
        var total: Int64 = 0
        for piece in pieces {
            guard let size = (try? fm.attributesOfItem(atPath: piece))?[.size] as? Int64 else {
                throw FerryError(.io, "model piece \(piece) is missing")
            }
            total += size
        }
        guard total == expectedSize else {
            throw FerryError(
                .io,
                "the \(pieces.count) model pieces add up to \(total) bytes, not the expected \(expectedSize); "
                    + "a piece is missing, truncated or extra. Delete \((pieces[0] as NSString).deletingLastPathComponent) "
                    + "and install again")
        }
        try fm.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = target + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        fm.createFile(atPath: temporary, contents: nil)
        var succeeded = false
        defer { if !succeeded { try? fm.removeItem(atPath: temporary) } }
        guard let output = FileHandle(forWritingAtPath: temporary) else {
            throw FerryError(.io, "cannot write \(temporary)")
        }
        var hasher = SHA256()
        var done: Int64 = 0
        for piece in pieces {
            guard let input = FileHandle(forReadingAtPath: piece) else { throw FerryError(.io, "cannot read \(piece)") }
            defer { try? input.close() }
            while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                try output.write(contentsOf: chunk)
                done += Int64(chunk.count)
                progress(TransferProgress(phase: "assembling", done: done, total: total))
            }
        }
        try output.synchronize()
        try output.close()
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard digest == expectedSHA256.lowercased() else {
            throw FerryError(
                .io,
                "the assembled model's SHA-256 is \(digest), not \(expectedSHA256): a piece is corrupt. Nothing "
                    + "was kept; delete \((pieces[0] as NSString).deletingLastPathComponent) and install again")
        }
        if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
        try fm.moveItem(atPath: temporary, toPath: target)
        succeeded = true
        try Verification(size: expectedSize, sha256: digest).write(for: target)
    }

    /// Hashes a model that is already in place (copied in by hand, or verified by an older Ferry) and records it as
    /// verified; a mismatch is an error and the file is left alone.
    public static func verifyInPlace(
        _ path: String, expectedSize: Int64, expectedSHA256: String,
        progress: @Sendable (TransferProgress) -> Void = { _ in }
    ) throws {
        guard let input = FileHandle(forReadingAtPath: path) else { throw FerryError(.io, "cannot read \(path)") }
        defer { try? input.close() }
        var hasher = SHA256()
        var done: Int64 = 0
        while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            done += Int64(chunk.count)
            progress(TransferProgress(phase: "verifying", done: done, total: expectedSize))
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard done == expectedSize, digest == expectedSHA256.lowercased() else {
            throw FerryError(
                .io, "\(path) is not the expected model (size \(done), SHA-256 \(digest)); delete it and install again")
        }
        try Verification(size: expectedSize, sha256: digest).write(for: path)
    }

    /// Whether `path` is a model that was verified before and has not changed since (same size and mtime), so a
    /// second run reuses it without hashing a gigabyte again.
    public static func isVerified(_ path: String, size: Int64, sha256: String) -> Bool {
        guard let marker = Verification.read(for: path), marker.sha256 == sha256.lowercased(), marker.size == size,
            let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.size] as? Int64 == size,
            let modified = attributes[.modificationDate] as? Date
        else { return false }
        let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        return modified.timeIntervalSince1970 == marker.modified && inode == marker.inode
    }

    struct Verification: Codable {
        var size: Int64
        var sha256: String
        var modified: Double = 0
        var inode: UInt64 = 0

        init(size: Int64, sha256: String) {
            self.size = size
            self.sha256 = sha256
        }

        static func markerPath(for path: String) -> String { path + ".verified.json" }

        func write(for path: String) throws {
            var copy = self
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            copy.modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            copy.inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
            try JSONEncoder().encode(copy).write(to: URL(fileURLWithPath: Self.markerPath(for: path)))
        }

        static func read(for path: String) -> Verification? {
            guard let data = FileManager.default.contents(atPath: markerPath(for: path)) else { return nil }
            return try? JSONDecoder().decode(Verification.self, from: data)
        }
    }
}
