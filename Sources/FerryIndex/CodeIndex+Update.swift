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
        let listed = try await listFiles()
        let known: [String: (id: Int64, size: Int, mtime: Double, hash: String)] = try await pool.read { db in
            var map: [String: (Int64, Int, Double, String)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, path, size, mtime, hash FROM files") {
                map[row["path"]] = (row["id"], row["size"], row["mtime"], row["hash"])
            }
            return map
        }
        var candidates: [Candidate] = []
        let fm = FileManager.default
        for relative in listed {
            if Self.isVendored(relative)
                || Self.binaryExtensions.contains((relative as NSString).pathExtension.lowercased())
            {
                stats.skipped += 1
                continue
            }
            guard let attributes = try? fm.attributesOfItem(atPath: root + "/" + relative),
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
        var changed: [Prepared] = []
        var binary: Set<String> = []
        var touchOnly: [(Int64, Double)] = []
        for (index, candidate) in candidates.enumerated() {
            if index % 500 == 0 { progress(IndexProgress(done: index, total: candidates.count, phase: "reading")) }
            if let old = known[candidate.path], old.size == candidate.size, old.mtime == candidate.mtime {
                stats.unchanged += 1
                continue
            }
            guard let data = fm.contents(atPath: root + "/" + candidate.path) else { continue }
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
        let present = Set(candidates.map(\.path)).subtracting(binary)
        let removed = known.filter { !present.contains($0.key) }.map(\.value.id)
        stats.files = present.count
        stats.changed = changed.count
        stats.removed = removed.count

        progress(IndexProgress(done: 0, total: changed.count, phase: "symbols"))
        let code = changed.filter { $0.kind == "code" }.map(\.path)
        var symbols: [String: [SymbolDefinition]] = [:]
        if !code.isEmpty {
            do {
                symbols = try await runCtags(code)
            } catch {
                stats.warning =
                    "ctags failed, so symbols are missing and chunks are windows: \((error as? FerryError)?.message ?? "\(error)")"
            }
            // Universal Ctags has no Swift parser: Ferry's own scanner gives Swift files their symbols and spans.
            for path in code where path.hasSuffix(".swift") && symbols[path]?.isEmpty != false {
                guard let text = try? String(contentsOfFile: root + "/" + path, encoding: .utf8) else { continue }
                symbols[path] = SwiftSymbols.scan(text)
            }
        }
        progress(IndexProgress(done: 0, total: changed.count, phase: "writing"))
        let changedIDs = changed.compactMap { known[$0.path]?.id }
        let (toWrite, touched, definitionsByPath) = (changed, touchOnly, symbols)
        let counts = try await pool.write { db -> (Int, Int) in
            for id in changedIDs + removed { try Self.deleteFile(id, db) }
            for (id, mtime) in touched {
                try db.execute(sql: "UPDATE files SET mtime = ? WHERE id = ?", arguments: [mtime, id])
            }
            var symbolCount = 0
            var chunkCount = 0
            let insertFile = try db.makeStatement(
                sql: "INSERT INTO files(path, language, kind, hash, size, mtime, lines) VALUES (?, ?, ?, ?, ?, ?, ?)")
            let insertSymbol = try db.makeStatement(
                sql:
                    "INSERT INTO symbols(file_id, name, kind, scope, line, end_line, signature) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            let insertChunk = try db.makeStatement(
                sql: "INSERT INTO chunks(file_id, start_line, end_line, symbol) VALUES (?, ?, ?, ?)")
            let insertFTS = try db.makeStatement(
                sql: "INSERT INTO chunks_fts(rowid, path, symbol, body) VALUES (?, ?, ?, ?)")
            let insertRef = try db.makeStatement(sql: "INSERT OR IGNORE INTO refs(name, file_id) VALUES (?, ?)")
            for file in toWrite {
                let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false)
                try insertFile.execute(arguments: [
                    file.path, file.language, file.kind, file.hash, file.size, file.mtime, lines.count,
                ])
                let fileID = db.lastInsertedRowID
                let definitions = definitionsByPath[file.path] ?? []
                for s in definitions {
                    try insertSymbol.execute(arguments: [
                        fileID, s.name, s.kind, s.scope, s.line, s.endLine, s.signature,
                    ])
                }
                symbolCount += definitions.count
                let chunks =
                    file.kind == "doc"
                    ? Chunker.documentChunks(lines: lines) : Chunker.chunks(lines: lines, symbols: definitions)
                let pathWords = Identifiers.expand(file.path.replacingOccurrences(of: "/", with: " "))
                for chunk in chunks {
                    try insertChunk.execute(arguments: [fileID, chunk.startLine, chunk.endLine, chunk.symbol])
                    let chunkID = db.lastInsertedRowID
                    try insertFTS.execute(arguments: [
                        chunkID, pathWords,
                        chunk.symbol.map { Identifiers.expand($0.replacingOccurrences(of: ".", with: " ")) } ?? "",
                        Identifiers.expand(chunk.text),
                    ])
                }
                chunkCount += chunks.count
                if file.kind == "code" {
                    for name in Set(Identifiers.scan(file.text).filter { $0.count >= 3 }) {
                        try insertRef.execute(arguments: [String(name), fileID])
                    }
                }
            }
            return (symbolCount, chunkCount)
        }
        stats.symbols = counts.0
        stats.chunks = counts.1
        stats.seconds = (ContinuousClock.now - started).inSeconds
        progress(IndexProgress(done: changed.count, total: changed.count, phase: "done"))
        return stats
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
