import Crypto
import FerryCore
import FerryWorkspace
import Foundation
import GRDB

/// Bringing the index up to date with the tree: list, read, parse (ctags) and store what changed.
extension CodeIndex {
    // MARK: - Update

    struct Candidate {
        var path: String
        var size: Int
        var mtime: Double
    }

    struct Prepared {
        var path: String
        var language: String
        var kind: String
        var hash: String
        var size: Int
        var mtime: Double
        var text: String
    }

    /// Brings the index up to date with the tree: new and changed files are (re)indexed, deleted ones dropped.
    public func update(progress: @Sendable (IndexProgress) -> Void = { _ in }) async throws -> IndexStats {
        let started = ContinuousClock.now
        var stats = IndexStats()
        let known: [String: Known] = try await pool.read { db in
            var map: [String: Known] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, path, size, mtime, hash FROM files") {
                map[row["path"]] = Known(id: row["id"], size: row["size"], mtime: row["mtime"], hash: row["hash"])
            }
            return map
        }
        let candidates = candidates(try await listFiles(), stats: &stats)
        let read = read(candidates, known: known, stats: &stats, progress: progress)
        let present = Set(candidates.map(\.path)).subtracting(read.binary)
        let removed = known.filter { !present.contains($0.key) }.map(\.value.id)
        stats.files = present.count
        stats.changed = read.changed.count
        stats.removed = removed.count

        progress(IndexProgress(done: 0, total: read.changed.count, phase: "symbols"))
        let symbols = await symbols(of: read.changed.filter { $0.kind == "code" }, stats: &stats)
        progress(IndexProgress(done: 0, total: read.changed.count, phase: "writing"))
        let stale = read.changed.compactMap { known[$0.path]?.id } + removed
        let (changed, touched) = (read.changed, read.touchOnly)
        let counts = try await pool.write { db -> (symbols: Int, chunks: Int) in
            for id in stale { try Self.deleteFile(id, db) }
            for (id, mtime) in touched {
                try db.execute(sql: "UPDATE files SET mtime = ? WHERE id = ?", arguments: [mtime, id])
            }
            let writer = try FileWriter(db)
            var counts = (symbols: 0, chunks: 0)
            for file in changed {
                let written = try writer.insert(file, definitions: symbols[file.path] ?? [])
                counts.symbols += written.symbols
                counts.chunks += written.chunks
            }
            return counts
        }
        stats.symbols = counts.symbols
        stats.chunks = counts.chunks
        stats.seconds = (ContinuousClock.now - started).inSeconds
        progress(IndexProgress(done: read.changed.count, total: read.changed.count, phase: "done"))
        return stats
    }

    /// What the index holds of a file, to tell whether it changed.
    struct Known {
        var id: Int64
        var size: Int
        var mtime: Double
        var hash: String
    }

    /// The listed files worth indexing: regular files, not vendored, not binary by their extension, not too big.
    func candidates(_ listed: [String], stats: inout IndexStats) -> [Candidate] {
        var candidates: [Candidate] = []
        for relative in listed {
            if Self.isVendored(relative)
                || Self.binaryExtensions.contains((relative as NSString).pathExtension.lowercased())
            {
                stats.skipped += 1
                continue
            }
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: root + "/" + relative),
                (attributes[.type] as? FileAttributeType) == .typeRegular
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            if size > Self.maxFileBytes {
                stats.skipped += 1
                continue
            }
            let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            candidates.append(Candidate(path: relative, size: size, mtime: mtime))
        }
        return candidates
    }

    /// Reads the candidates that may have changed: the ones to (re)index, the binary ones found by their bytes, and
    /// the ones whose content is the same under a new time (only their time is updated).
    func read(
        _ candidates: [Candidate], known: [String: Known], stats: inout IndexStats,
        progress: @Sendable (IndexProgress) -> Void
    ) -> (changed: [Prepared], binary: Set<String>, touchOnly: [(Int64, Double)]) {
        var changed: [Prepared] = []
        var binary: Set<String> = []
        var touchOnly: [(Int64, Double)] = []
        for (index, candidate) in candidates.enumerated() {
            if index % 500 == 0 { progress(IndexProgress(done: index, total: candidates.count, phase: "reading")) }
            if let old = known[candidate.path], old.size == candidate.size, old.mtime == candidate.mtime {
                stats.unchanged += 1
                continue
            }
            guard let data = FileManager.default.contents(atPath: root + "/" + candidate.path) else { continue }
            if data.prefix(8192).contains(0) {
                stats.skipped += 1
                binary.insert(candidate.path)
                continue
            }
            let hash = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            if let old = known[candidate.path], old.hash == hash {
                touchOnly.append((old.id, candidate.mtime))
                stats.unchanged += 1
                continue
            }
            let ext = (candidate.path as NSString).pathExtension.lowercased()
            changed.append(
                Prepared(
                    path: candidate.path, language: Self.languages[ext] ?? (ext.isEmpty ? "text" : ext),
                    kind: Self.docExtensions.contains(ext) ? "doc" : "code", hash: hash, size: candidate.size,
                    mtime: candidate.mtime, text: String(decoding: data, as: UTF8.self)))
        }
        return (changed, binary, touchOnly)
    }

    /// The definitions in the code files, from ctags; Swift files (which Universal Ctags cannot parse) from Ferry's
    /// own scanner; a Python module's variables, to which ctags gives no end, end where their statement does. A ctags
    /// failure is a warning: chunks then fall back to windows.
    func symbols(of code: [Prepared], stats: inout IndexStats) async -> [String: [SymbolDefinition]] {
        guard !code.isEmpty else { return [:] }
        var symbols: [String: [SymbolDefinition]] = [:]
        do {
            symbols = try await runCtags(code.map(\.path))
        } catch {
            stats.warning =
                "ctags failed, so symbols are missing and chunks are windows: \((error as? FerryError)?.message ?? "\(error)")"
        }
        for file in code {
            if file.path.hasSuffix(".swift"), symbols[file.path]?.isEmpty != false {
                symbols[file.path] = SwiftSymbols.scan(file.text)
            } else if file.path.hasSuffix(".py") || file.path.hasSuffix(".pyi"),
                let definitions = symbols[file.path],
                definitions.contains(where: { $0.kind == "variable" && $0.endLine == nil })
            {
                let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false)
                symbols[file.path] = definitions.map { definition in
                    guard definition.kind == "variable", definition.endLine == nil else { return definition }
                    var ended = definition
                    ended.endLine = StatementEnd.python(startingAt: definition.line, lines: lines)
                    return ended
                }
            }
        }
        return symbols
    }

    /// Writes files into the index inside one transaction, with its statements prepared once.
    struct FileWriter {
        let db: Database
        let insertFile: Statement
        let insertSymbol: Statement
        let insertChunk: Statement
        let insertFTS: Statement
        let insertRef: Statement

        init(_ db: Database) throws {
            self.db = db
            insertFile = try db.makeStatement(
                sql: "INSERT INTO files(path, language, kind, hash, size, mtime, lines) VALUES (?, ?, ?, ?, ?, ?, ?)")
            insertSymbol = try db.makeStatement(
                sql:
                    "INSERT INTO symbols(file_id, name, kind, scope, line, end_line, signature) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            insertChunk = try db.makeStatement(
                sql: "INSERT INTO chunks(file_id, start_line, end_line, symbol) VALUES (?, ?, ?, ?)")
            insertFTS = try db.makeStatement(
                sql: "INSERT INTO chunks_fts(rowid, path, symbol, body) VALUES (?, ?, ?, ?)")
            insertRef = try db.makeStatement(sql: "INSERT OR IGNORE INTO refs(name, file_id) VALUES (?, ?)")
        }

        /// One file: its row, its definitions, its chunks (and their full-text rows), and the names it mentions.
        func insert(_ file: Prepared, definitions: [SymbolDefinition]) throws -> (symbols: Int, chunks: Int) {
            let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false)
            try insertFile.execute(arguments: [
                file.path, file.language, file.kind, file.hash, file.size, file.mtime, lines.count,
            ])
            let fileID = db.lastInsertedRowID
            for s in definitions {
                try insertSymbol.execute(arguments: [fileID, s.name, s.kind, s.scope, s.line, s.endLine, s.signature])
            }
            let chunks =
                file.kind == "doc"
                ? Chunker.documentChunks(lines: lines) : Chunker.chunks(lines: lines, symbols: definitions)
            let pathWords = Identifiers.expand(file.path.replacingOccurrences(of: "/", with: " "))
            for chunk in chunks {
                try insertChunk.execute(arguments: [fileID, chunk.startLine, chunk.endLine, chunk.symbol])
                try insertFTS.execute(arguments: [
                    db.lastInsertedRowID, pathWords,
                    chunk.symbol.map { Identifiers.expand($0.replacingOccurrences(of: ".", with: " ")) } ?? "",
                    Identifiers.expand(chunk.text),
                ])
            }
            if file.kind == "code" {
                for name in Set(Identifiers.scan(file.text).filter { $0.count >= 3 }) {
                    try insertRef.execute(arguments: [String(name), fileID])
                }
            }
            return (definitions.count, chunks.count)
        }
    }

    static func deleteFile(_ id: Int64, _ db: Database) throws {
        try db.execute(
            sql: "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE file_id = ?)", arguments: [id])
        try db.execute(sql: "DELETE FROM chunks WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM symbols WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM refs WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM files WHERE id = ?", arguments: [id])
    }

    static func isVendored(_ path: String) -> Bool {
        let parts = path.split(separator: "/").dropLast()
        return parts.contains { vendored.contains(String($0)) } || path.hasSuffix(".min.js")
            || path.hasSuffix(".min.css")
    }

    /// Files under the root: git's view (tracked plus untracked-not-ignored, so .gitignore holds) in a git repo,
    /// a walk otherwise.
    func listFiles() async throws -> [String] {
        // Inside any git work tree (its root or a subdirectory) git lists paths relative to the directory.
        if let output = try? await HostCommand.run(
            "git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], in: root),
            output.status == 0
        {
            return Array(Set(output.stdout.split(separator: "\0").map(String.init))).sorted()
        }
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let next = enumerator?.nextObject() as? String {
            let name = (next as NSString).lastPathComponent
            if name.hasPrefix(".") || Self.vendored.contains(name) {
                if (enumerator?.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory {
                    enumerator?.skipDescendants()
                }
                continue
            }
            if (enumerator?.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { files.append(next) }
        }
        return files.sorted()
    }

    /// Runs Universal Ctags once over the files (JSON output with end lines).
    func runCtags(_ files: [String]) async throws -> [String: [SymbolDefinition]] {
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ctags-\(UUID().uuidString).txt")
            .path
        try Data(files.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: list))
        defer { try? FileManager.default.removeItem(atPath: list) }
        let output = try await HostCommand.run(
            ctags, ["--output-format=json", "--fields=+neKS", "--extras=-F", "-f", "-", "-L", list], in: root)
        guard output.status == 0 else {
            throw FerryError(.io, "\(ctags) exited \(output.status): \(output.stderr.prefix(300))")
        }
        var result: [String: [SymbolDefinition]] = [:]
        for line in output.stdout.split(separator: "\n") {
            guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                json["_type"] as? String == "tag", let path = json["path"] as? String,
                let name = json["name"] as? String,
                let lineNumber = json["line"] as? Int
            else { continue }
            let kind = json["kind"] as? String ?? "unknown"
            if kind == "unknown" || kind == "variable" && json["scope"] != nil { continue }
            result[path, default: []].append(
                SymbolDefinition(
                    name: name, kind: kind, scope: json["scope"] as? String, line: lineNumber,
                    endLine: json["end"] as? Int,
                    signature: json["signature"] as? String))
        }
        return result
    }
}
