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
        "py": "python", "swift": "swift", "js": "javascript", "mjs": "javascript", "cjs": "javascript",
        "ts": "typescript",
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
            try db.execute(
                sql: """
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
        // Python variables now have end lines: every file is read again rather than kept without them.
        migrator.registerMigration("v2 statement ends") { db in
            try db.execute(
                sql:
                    "DELETE FROM refs; DELETE FROM chunks_fts; DELETE FROM chunks; DELETE FROM symbols; DELETE FROM files;"
            )
        }
        return migrator
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
                db,
                sql:
                    "SELECT name FROM (SELECT name, ROW_NUMBER() OVER (ORDER BY id) AS n FROM symbols WHERE length(name) >= 5) WHERE n % ? = 0 LIMIT ?",
                arguments: [step, count])
        }
    }

    /// Folds the WAL into the database file, so its size on disk is the index's own.
    public func checkpoint() throws {
        _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    }
}
