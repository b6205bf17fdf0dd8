import FerryCore
import FerryWorkspace
import Foundation
import GRDB

extension CodeIndex {
    /// Ranked chunks for a query (BM25; path and symbol columns weigh more than the body).
    public func search(_ query: String, limit: Int = 10, includeDocs: Bool = true) throws -> [ChunkHit] {
        let terms = QueryText.terms(query)
        guard !terms.isEmpty else { return [] }
        return try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT f.path, f.kind, c.start_line, c.end_line, c.symbol, bm25(chunks_fts, 4.0, 3.0, 1.0) AS rank
                    FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id
                    WHERE chunks_fts MATCH ? \(includeDocs ? "" : "AND f.kind = 'code'")
                    ORDER BY rank LIMIT ?
                    """, arguments: [QueryText.ftsQuery(terms), limit])
            return rows.map { row in
                ChunkHit(
                    path: row["path"], startLine: row["start_line"], endLine: row["end_line"], symbol: row["symbol"],
                    score: -(row["rank"] as Double), kind: row["kind"])
            }
        }
    }

    /// Every definition in one file, in line order.
    public func definitions(in path: String) throws -> [SymbolDefinition] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.name, s.kind, s.scope, s.line, s.end_line, s.signature FROM symbols s
                    JOIN files f ON f.id = s.file_id WHERE f.path = ? ORDER BY s.line
                    """, arguments: [path]
            ).map { row in
                SymbolDefinition(
                    name: row["name"], kind: row["kind"], scope: row["scope"], line: row["line"],
                    endLine: row["end_line"],
                    signature: row["signature"])
            }
        }
    }

    /// Definitions of a name (or `Scope.name`), and the lines that mention it.
    public func findSymbol(_ name: String, referenceLimit: Int = 30) async throws -> (
        definitions: [SymbolHit], references: [ReferenceHit]
    ) {
        let parts = name.split(separator: ".")
        let bare = parts.last.map(String.init) ?? name
        let scope = parts.count > 1 ? parts.dropLast().joined(separator: ".") : nil
        let definitions = try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT f.path, s.name, s.kind, s.scope, s.line, s.end_line, s.signature FROM symbols s
                    JOIN files f ON f.id = s.file_id WHERE s.name = ? ORDER BY f.path, s.line LIMIT 50
                    """, arguments: [bare]
            ).map { row in
                SymbolHit(
                    path: row["path"], name: row["name"], kind: row["kind"], scope: row["scope"], line: row["line"],
                    endLine: row["end_line"], signature: row["signature"])
            }.filter { scope == nil || $0.scope == scope || $0.scope?.hasSuffix("." + (scope ?? "")) == true }
        }
        guard referenceLimit > 0 else { return (definitions, []) }
        let files = try await pool.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT f.path FROM refs r JOIN files f ON f.id = r.file_id WHERE r.name = ? ORDER BY f.path LIMIT 200",
                arguments: [bare])
        }
        let definitionLines = Set(definitions.map { "\($0.path):\($0.line)" })
        var references: [ReferenceHit] = []
        outer: for file in files {
            guard let text = try? String(contentsOfFile: root + "/" + file, encoding: .utf8) else { continue }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where Self.containsWord(line, bare) && !definitionLines.contains("\(file):\(index + 1)") {
                references.append(
                    ReferenceHit(path: file, line: index + 1, text: line.trimmingCharacters(in: .whitespaces)))
                if references.count >= referenceLimit { break outer }
            }
        }
        return (definitions, references)
    }

    static func containsWord(_ line: Substring, _ word: String) -> Bool {
        var search = line.startIndex
        while let range = line.range(of: word, range: search..<line.endIndex) {
            let before = range.lowerBound == line.startIndex ? nil : line[line.index(before: range.lowerBound)]
            let after = range.upperBound == line.endIndex ? nil : line[range.upperBound]
            func isWord(_ c: Character?) -> Bool { c.map { $0.isLetter || $0.isNumber || $0 == "_" } ?? false }
            if !isWord(before), !isWord(after) { return true }
            search = range.upperBound
        }
        return false
    }

    /// The files (and functions) most likely to need a change for a problem statement, from the index alone.
    public func locate(_ text: String, limit: Int = 10, features: LocateFeatures = LocateFeatures()) throws
        -> [FileScore]
    {
        try pool.read { db in
            var scores: [String: Double] = [:]
            var reasons: [String: [String]] = [:]
            var functions: [String: [(String, Double)]] = [:]
            let kinds = Dictionary(
                try Row.fetchAll(db, sql: "SELECT path, kind FROM files").map {
                    ($0["path"] as String, $0["kind"] as String)
                },
                uniquingKeysWith: { a, _ in a })

            if features.bm25 {
                let terms = QueryText.terms(text, limit: 64)
                if !terms.isEmpty {
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT f.path, c.symbol, bm25(chunks_fts, 4.0, 3.0, 1.0) AS rank
                            FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id
                            WHERE chunks_fts MATCH ? ORDER BY rank LIMIT 400
                            """, arguments: [QueryText.ftsQuery(terms)])
                    var perFile: [String: [Double]] = [:]
                    for row in rows {
                        let path: String = row["path"]
                        let score = -(row["rank"] as Double)
                        perFile[path, default: []].append(score)
                        if let symbol: String = row["symbol"] { functions[path, default: []].append((symbol, score)) }
                    }
                    let best = perFile.values.map { $0.max() ?? 0 }.max() ?? 1
                    for (path, list) in perFile {
                        let sorted = list.sorted(by: >)
                        let combined =
                            sorted[0] + 0.3 * (sorted.count > 1 ? sorted[1] : 0) + 0.15
                            * (sorted.count > 2 ? sorted[2] : 0)
                        scores[path, default: 0] += combined / (best * 1.45)
                        reasons[path, default: []].append("bm25")
                    }
                }
            }
            if features.mentions {
                for (path, weight) in Self.mentions(in: text, paths: Array(kinds.keys)) {
                    scores[path, default: 0] += weight
                    reasons[path, default: []].append(weight >= 1 ? "named" : "name")
                }
            }
            if features.symbols {
                let identifiers = Self.codeIdentifiers(in: text)
                if !identifiers.isEmpty {
                    let placeholders = identifiers.map { _ in "?" }.joined(separator: ",")
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT s.name, f.path, s.kind, s.scope FROM symbols s JOIN files f ON f.id = s.file_id
                            WHERE s.name IN (\(placeholders))
                            """, arguments: StatementArguments(Array(identifiers)))
                    let byName = Dictionary(grouping: rows) { $0["name"] as String }
                    for (name, definitions) in byName {
                        let files = Set(definitions.map { $0["path"] as String })
                        guard files.count <= 8 else { continue }
                        let weight = 0.6 / Double(files.count)
                        for file in files {
                            scores[file, default: 0] += weight
                            reasons[file, default: []].append("defines \(name)")
                        }
                        for definition in definitions {
                            let scope: String? = definition["scope"]
                            functions[definition["path"], default: []].append(
                                (scope.map { "\($0).\(name)" } ?? name, 100))
                        }
                    }
                }
            }
            if features.demoteTests {
                for (path, score) in scores
                where QueryText.isTestOrDoc(path) || kinds[path] == "doc" || !Self.isSource(path) {
                    scores[path] = score * 0.2
                }
            }
            let ranked = scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit)
            let terms = QueryText.terms(text, limit: 64)
            if features.fileFunctions, !terms.isEmpty, !ranked.isEmpty {
                // One pass of the full-text match for all the ranked files (a query per file cost locate half again).
                let paths = ranked.map(\.key)
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT f.path, c.symbol, bm25(chunks_fts, 4.0, 3.0, 1.0) AS rank
                        FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id
                        WHERE chunks_fts MATCH ? AND c.symbol IS NOT NULL
                        AND f.path IN (\(paths.map { _ in "?" }.joined(separator: ",")))
                        """, arguments: StatementArguments([QueryText.ftsQuery(terms)] + paths))
                var perFile: [String: [(String, Double)]] = [:]
                for row in rows { perFile[row["path"], default: []].append((row["symbol"], -(row["rank"] as Double))) }
                // Mentioned definitions (score 100) stay first; the rest are the file's chunks in BM25 order.
                for path in paths {
                    functions[path] = (functions[path] ?? []).filter { $0.1 >= 100 } + (perFile[path] ?? [])
                }
            }
            return ranked.map { path, score in
                var seen: Set<String> = []
                let top = (functions[path] ?? []).sorted { $0.1 > $1.1 }.map(\.0).filter { seen.insert($0).inserted }
                    .prefix(5)
                var reasonSeen: Set<String> = []
                return FileScore(
                    path: path, score: (score * 1000).rounded() / 1000,
                    reasons: (reasons[path] ?? []).filter { reasonSeen.insert($0).inserted }, functions: Array(top))
            }
        }
    }

    static let sourceExtensions: Set<String> = [
        "py", "swift", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "rs", "java", "kt", "c", "h", "cc", "cpp", "hpp",
        "rb",
        "php", "sh", "bash", "cs", "scala", "lua", "pl", "r", "m", "mm", "pyx", "pxd", "vue", "svelte", "ex", "exs",
        "erl",
        "hs", "ml", "clj", "dart", "zig", "jl", "sql",
    ]

    /// Code a change would land in, as opposed to config, data and docs.
    static func isSource(_ path: String) -> Bool {
        sourceExtensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// Files the text names: a repository path, a path suffix (as in a traceback), or a dotted module.
    static func mentions(in text: String, paths: [String]) -> [String: Double] {
        var found: [String: Double] = [:]
        // Path-like tokens and dotted module names.
        var tokens: Set<String> = []
        var current = ""
        for c in text {
            if c.isLetter || c.isNumber || c == "_" || c == "/" || c == "." || c == "-" {
                current.append(c)
            } else {
                if current.count > 3 {
                    tokens.insert(current.trimmingCharacters(in: CharacterSet(charactersIn: "./-")))
                }
                current = ""
            }
        }
        if current.count > 3 { tokens.insert(current) }
        var byBasename: [String: [String]] = [:]
        var bySuffix: [String: String] = [:]
        for path in paths {
            byBasename[(path as NSString).lastPathComponent, default: []].append(path)
            bySuffix[path] = path
            let noExt = (path as NSString).deletingPathExtension
            bySuffix[noExt.replacingOccurrences(of: "/", with: ".")] = path
            if noExt.hasSuffix("/__init__") {
                bySuffix[String(noExt.dropLast(9)).replacingOccurrences(of: "/", with: ".")] = path
            }
            if noExt.hasPrefix("src/") || noExt.hasPrefix("lib/") {
                bySuffix[String(noExt.dropFirst(4)).replacingOccurrences(of: "/", with: ".")] = path
                bySuffix[String(path.dropFirst(4))] = path
            }
        }
        for token in tokens {
            // A bare word ("sympy", "pytest") names the whole package, not a file to change.
            guard token.contains(".") || token.contains("/") else { continue }
            if let path = bySuffix[token] {
                // A package's __init__ is named far more often than it needs the change.
                found[path] = max(found[path] ?? 0, path.hasSuffix("__init__.py") ? 0.3 : 1.0)
                continue
            }
            // A traceback's absolute path ends with a repository path.
            if token.contains("/") {
                let parts = token.split(separator: "/")
                for start in 1..<max(parts.count, 1) {
                    let suffix = parts[start...].joined(separator: "/")
                    if let path = bySuffix[suffix] {
                        found[path] = max(found[path] ?? 0, 1.0)
                        break
                    }
                }
            }
            let name = (token as NSString).lastPathComponent
            if name.contains("."), let candidates = byBasename[name], candidates.count <= 5 {
                for path in candidates { found[path] = max(found[path] ?? 0, 0.5 / Double(candidates.count)) }
            }
        }
        return found
    }

    /// Identifiers that look like code (not plain words): with `_`, inner capitals or digits, or followed by `(`
    /// or preceded by `.`, or in backticks.
    static func codeIdentifiers(in text: String) -> Set<String> {
        var result: Set<String> = []
        let characters = Array(text)
        var i = 0
        while i < characters.count {
            let c = characters[i]
            if c.isASCII, c.isLetter || c == "_" {
                var j = i
                while j < characters.count, characters[j].isASCII,
                    characters[j].isLetter || characters[j].isNumber || characters[j] == "_"
                {
                    j += 1
                }
                let word = String(characters[i..<j])
                let before = i > 0 ? characters[i - 1] : " "
                let after = j < characters.count ? characters[j] : " "
                let inner: Bool = word.dropFirst().contains { $0.isUppercase } && word.contains { $0.isLowercase }
                let marked: Bool = word.contains("_") || word.contains { $0.isNumber }
                let placed: Bool = after == "(" || before == "." || before == "`"
                let looksLikeCode = inner || marked || placed
                if word.count >= 3, looksLikeCode, !QueryText.stopwords.contains(word.lowercased()) {
                    result.insert(word)
                }
                i = j
            } else {
                i += 1
            }
        }
        return result
    }
}
