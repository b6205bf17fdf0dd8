import Crypto
import FerryCore
import FerryWorkspace
import Foundation
import GRDB

/// What one `update` did.
public struct IndexStats: Codable, Sendable, Hashable {
    public var files = 0
    public var changed = 0
    public var removed = 0
    public var unchanged = 0
    public var skipped = 0
    public var symbols = 0
    public var chunks = 0
    public var seconds = 0.0
    /// Set when ctags could not run: symbols are missing, chunks fall back to windows.
    public var warning: String?
}

public struct IndexProgress: Sendable {
    public var done: Int
    public var total: Int
    public var phase: String
}

/// A per-repository knowledge index in SQLite: files (language, hash, size), ctags symbols with spans, BM25
/// full-text search over function-sized chunks with identifiers split, docs as knowledge, and identifier references
/// for the repo map's graph. `update` re-reads only files whose size, mtime or hash changed.
public final class CodeIndex: Sendable {
    public let root: String
    public let path: String
    let pool: DatabasePool
    let ctags: String

    public static let maxFileBytes = 1_000_000
    static let vendored: Set<String> = [
        "node_modules", "vendor", "vendored", "third_party", "thirdparty", "bower_components", "Pods", "Carthage",
        ".build", "site-packages", "__pycache__", ".git", ".tox", ".venv", "venv", "dist", "build",
    ]
    static let binaryExtensions: Set<String> = [
        "png", "jpg", "jpeg", "gif", "ico", "pdf", "zip", "gz", "tgz", "bz2", "xz", "7z", "jar", "class", "so", "dylib",
        "dll", "exe", "o", "a", "pyc", "whl", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "mov", "wav", "gguf",
        "bin", "sqlite", "db", "npy", "npz", "pkl", "parquet", "lock",
    ]
    static let docExtensions: Set<String> = ["md", "markdown", "rst", "txt", "adoc"]
    static let languages: [String: String] = [
        "py": "python", "swift": "swift", "js": "javascript", "mjs": "javascript", "cjs": "javascript", "ts": "typescript",
        "tsx": "typescript", "jsx": "javascript", "go": "go", "rs": "rust", "java": "java", "kt": "kotlin", "c": "c",
        "h": "c", "cc": "c++", "cpp": "c++", "hpp": "c++", "rb": "ruby", "php": "php", "sh": "shell", "bash": "shell",
        "cs": "csharp", "scala": "scala", "lua": "lua", "pl": "perl", "r": "r", "sql": "sql", "toml": "toml",
        "yaml": "yaml", "yml": "yaml", "json": "json", "md": "markdown", "markdown": "markdown", "rst": "rst",
        "txt": "text", "adoc": "asciidoc", "html": "html", "css": "css", "m": "objc", "mm": "objc",
    ]

    /// Opens (creating if needed) the index of `root` at `path`, by default inside the repository's git dir
    /// (`.git/ferry/index.sqlite`, never committed) or `.ferry/index.sqlite` outside git.
    public init(root: String, path: String? = nil, ctags: String = "ctags") throws {
        self.root = (root as NSString).standardizingPath
        self.path = path ?? Self.defaultPath(for: root)
        self.ctags = ctags
        do {
            try FileManager.default.createDirectory(
                atPath: (self.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: self.path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw FerryError(.store, "cannot open the index at \(self.path): \(error)")
        }
    }

    public static func defaultPath(for root: String) -> String {
        let gitPath = root + "/.git"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: gitPath, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return gitPath + "/ferry/index.sqlite" }
            // A worktree: `.git` is a file naming its git dir.
            if let text = try? String(contentsOfFile: gitPath, encoding: .utf8), text.hasPrefix("gitdir:") {
                var dir = text.dropFirst(7).trimmingCharacters(in: .whitespacesAndNewlines)
                if !dir.hasPrefix("/") { dir = root + "/" + dir }
                return dir + "/ferry/index.sqlite"
            }
        }
        // A directory inside a git work tree: keep the index in that repository's git dir, never in its tree.
        var parent = (root as NSString).deletingLastPathComponent
        while parent != "/" && !parent.isEmpty {
            if FileManager.default.fileExists(atPath: parent + "/.git") {
                let relative = String(root.dropFirst(parent.count + 1))
                let name = relative.map { $0.isLetter || $0.isNumber ? $0 : "_" }
                let enclosing = (defaultPath(for: parent) as NSString).deletingLastPathComponent
                return enclosing + "/index-" + String(name) + ".sqlite"
            }
            parent = (parent as NSString).deletingLastPathComponent
        }
        return root + "/.ferry/index.sqlite"
    }

    /// For a linked worktree, the index of its main repository (`<common git dir>/ferry/index.sqlite`), a good
    /// seed: the same project at another commit.
    public static func mainRepositoryIndexPath(for root: String) -> String? {
        let own = defaultPath(for: root)
        guard let range = own.range(of: "/worktrees/", options: .backwards) else { return nil }
        return String(own[..<range.lowerBound]) + "/ferry/index.sqlite"
    }

    /// Opens the index at its default place, first copying the main repository's index there when this is a fresh
    /// worktree of it, so only the files that differ are read.
    public static func openSeeded(root: String, ctags: String = "ctags") throws -> CodeIndex {
        let path = defaultPath(for: root)
        if let main = mainRepositoryIndexPath(for: root) { seed(path, from: main) }
        return try CodeIndex(root: root, path: path, ctags: ctags)
    }

    public var exists: Bool {
        (try? pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM files") ?? 0 }) ?? 0 > 0
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, language TEXT NOT NULL,
                    kind TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL,
                    lines INTEGER NOT NULL);
                CREATE TABLE symbols(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, name TEXT NOT NULL,
                    kind TEXT NOT NULL, scope TEXT, line INTEGER NOT NULL, end_line INTEGER, signature TEXT);
                CREATE INDEX symbols_name ON symbols(name);
                CREATE INDEX symbols_file ON symbols(file_id);
                CREATE TABLE chunks(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, start_line INTEGER NOT NULL,
                    end_line INTEGER NOT NULL, symbol TEXT);
                CREATE INDEX chunks_file ON chunks(file_id);
                CREATE VIRTUAL TABLE chunks_fts USING fts5(path, symbol, body, tokenize = 'porter unicode61');
                CREATE TABLE refs(name TEXT NOT NULL, file_id INTEGER NOT NULL, PRIMARY KEY(name, file_id)) WITHOUT ROWID;
                CREATE INDEX refs_file ON refs(file_id);
                """)
        }
        return migrator
    }

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
            if Self.isVendored(relative) || Self.binaryExtensions.contains((relative as NSString).pathExtension.lowercased()) {
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
                stats.warning = "ctags failed, so symbols are missing and chunks are windows: \((error as? FerryError)?.message ?? "\(error)")"
            }
        }
        progress(IndexProgress(done: 0, total: changed.count, phase: "writing"))
        let changedIDs = changed.compactMap { known[$0.path]?.id }
        let (toWrite, touched, definitionsByPath) = (changed, touchOnly, symbols)
        let counts = try await pool.write { db -> (Int, Int) in
            for id in changedIDs + removed { try Self.deleteFile(id, db) }
            for (id, mtime) in touched { try db.execute(sql: "UPDATE files SET mtime = ? WHERE id = ?", arguments: [mtime, id]) }
            var symbolCount = 0
            var chunkCount = 0
            let insertFile = try db.makeStatement(
                sql: "INSERT INTO files(path, language, kind, hash, size, mtime, lines) VALUES (?, ?, ?, ?, ?, ?, ?)")
            let insertSymbol = try db.makeStatement(
                sql: "INSERT INTO symbols(file_id, name, kind, scope, line, end_line, signature) VALUES (?, ?, ?, ?, ?, ?, ?)")
            let insertChunk = try db.makeStatement(sql: "INSERT INTO chunks(file_id, start_line, end_line, symbol) VALUES (?, ?, ?, ?)")
            let insertFTS = try db.makeStatement(sql: "INSERT INTO chunks_fts(rowid, path, symbol, body) VALUES (?, ?, ?, ?)")
            let insertRef = try db.makeStatement(sql: "INSERT OR IGNORE INTO refs(name, file_id) VALUES (?, ?)")
            for file in toWrite {
                let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false)
                try insertFile.execute(arguments: [file.path, file.language, file.kind, file.hash, file.size, file.mtime, lines.count])
                let fileID = db.lastInsertedRowID
                let definitions = definitionsByPath[file.path] ?? []
                for s in definitions {
                    try insertSymbol.execute(arguments: [fileID, s.name, s.kind, s.scope, s.line, s.endLine, s.signature])
                }
                symbolCount += definitions.count
                let chunks = file.kind == "doc" ? Chunker.documentChunks(lines: lines) : Chunker.chunks(lines: lines, symbols: definitions)
                let pathWords = Identifiers.expand(file.path.replacingOccurrences(of: "/", with: " "))
                for chunk in chunks {
                    try insertChunk.execute(arguments: [fileID, chunk.startLine, chunk.endLine, chunk.symbol])
                    let chunkID = db.lastInsertedRowID
                    try insertFTS.execute(arguments: [
                        chunkID, pathWords, chunk.symbol.map { Identifiers.expand($0.replacingOccurrences(of: ".", with: " ")) } ?? "",
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
        try db.execute(sql: "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE file_id = ?)", arguments: [id])
        try db.execute(sql: "DELETE FROM chunks WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM symbols WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM refs WHERE file_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM files WHERE id = ?", arguments: [id])
    }

    static func isVendored(_ path: String) -> Bool {
        let parts = path.split(separator: "/").dropLast()
        return parts.contains { vendored.contains(String($0)) } || path.hasSuffix(".min.js") || path.hasSuffix(".min.css")
    }

    /// Files under the root: git's view (tracked plus untracked-not-ignored, so .gitignore holds) in a git repo,
    /// a walk otherwise.
    func listFiles() async throws -> [String] {
        // Inside any git work tree (its root or a subdirectory) git lists paths relative to the directory.
        if let output = try? await HostCommand.run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], in: root),
            output.status == 0
        {
            return Array(Set(output.stdout.split(separator: "\0").map(String.init))).sorted()
        }
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let next = enumerator?.nextObject() as? String {
            let name = (next as NSString).lastPathComponent
            if name.hasPrefix(".") || Self.vendored.contains(name) {
                if (enumerator?.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory { enumerator?.skipDescendants() }
                continue
            }
            if (enumerator?.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { files.append(next) }
        }
        return files.sorted()
    }

    /// Runs Universal Ctags once over the files (JSON output with end lines).
    func runCtags(_ files: [String]) async throws -> [String: [SymbolDefinition]] {
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ctags-\(UUID().uuidString).txt").path
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
                json["_type"] as? String == "tag", let path = json["path"] as? String, let name = json["name"] as? String,
                let lineNumber = json["line"] as? Int
            else { continue }
            let kind = json["kind"] as? String ?? "unknown"
            if kind == "unknown" || kind == "variable" && json["scope"] != nil { continue }
            result[path, default: []].append(
                SymbolDefinition(
                    name: name, kind: kind, scope: json["scope"] as? String, line: lineNumber, endLine: json["end"] as? Int,
                    signature: json["signature"] as? String))
        }
        return result
    }

    /// Size of the index on disk (the database and its WAL).
    public var sizeOnDisk: Int {
        [path, path + "-wal", path + "-shm"].reduce(0) { total, file in
            total + (((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }

    public func counts() throws -> (files: Int, symbols: Int, chunks: Int) {
        try pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM files") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM symbols") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chunks") ?? 0
            )
        }
    }

    /// Copies another index's database as a starting point (a fresh worktree of the same repository): `update`
    /// then re-reads only what differs.
    static func seed(_ path: String, from source: String) {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: path), fm.fileExists(atPath: source) else { return }
        try? fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard let db = try? DatabaseQueue(path: source) else { return }
        try? db.writeWithoutTransaction { db -> Void in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
    }
}

extension CodeIndex {
    /// `count` symbol names spread evenly through the table (for benchmarks).
    public func symbolSample(_ count: Int) throws -> [String] {
        try pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM symbols WHERE length(name) >= 5") ?? 0
            guard total > 0 else { return [] }
            let step = max(1, total / max(count, 1))
            return try String.fetchAll(
                db, sql: "SELECT name FROM (SELECT name, ROW_NUMBER() OVER (ORDER BY id) AS n FROM symbols WHERE length(name) >= 5) WHERE n % ? = 0 LIMIT ?",
                arguments: [step, count])
        }
    }

    /// Folds the WAL into the database file, so its size on disk is the index's own.
    public func checkpoint() throws {
        _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    }
}
