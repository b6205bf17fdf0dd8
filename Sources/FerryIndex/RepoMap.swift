import Foundation
import GRDB

/// The repo map: files and their key symbols, ranked by PageRank over "file A uses a name file B defines" edges,
/// personalised by the task's terms, and cut to a token budget.
extension CodeIndex {
    public struct MapEntry: Sendable, Hashable {
        public var path: String
        public var rank: Double
        public var symbols: [SymbolHit]
    }

    /// About four characters a token, the usual estimate for code.
    public static func estimateTokens(_ text: String) -> Int { (text.utf8.count + 3) / 4 }

    public func rankedFiles(task: String?) throws -> [(path: String, rank: Double)] {
        let located = try task.map { try locate($0, limit: 30) } ?? []
        return try pool.read { db in
            let files = try Row.fetchAll(db, sql: "SELECT id, path, kind FROM files WHERE kind = 'code'")
            guard !files.isEmpty else { return [] }
            var index: [Int64: Int] = [:]
            var paths: [String] = []
            for (i, row) in files.enumerated() {
                index[row["id"]] = i
                paths.append(row["path"])
            }
            // Names defined in few files carry the edges; a name defined everywhere says little.
            let edges = try Row.fetchAll(
                db,
                sql: """
                    WITH defs AS (
                        SELECT name, file_id, COUNT(*) OVER (PARTITION BY name) AS n FROM (
                            SELECT DISTINCT name, file_id FROM symbols
                            WHERE kind IN ('class', 'function', 'member', 'method', 'struct', 'protocol', 'interface',
                                           'enum', 'typealias', 'module', 'func', 'macro')
                              AND length(name) >= 3 AND name NOT LIKE '\\_\\_%' ESCAPE '\\')
                    )
                    SELECT r.file_id AS source, d.file_id AS target, SUM(1.0 / d.n) AS weight
                    FROM defs d JOIN refs r ON r.name = d.name
                    WHERE d.n <= 10 AND r.file_id != d.file_id
                    GROUP BY r.file_id, d.file_id
                    """)
            let n = paths.count
            var outgoing = [[(Int, Double)]](repeating: [], count: n)
            var outWeight = [Double](repeating: 0, count: n)
            for edge in edges {
                guard let s = index[edge["source"]], let t = index[edge["target"]] else { continue }
                let w: Double = edge["weight"]
                outgoing[s].append((t, w))
                outWeight[s] += w
            }
            var personal = [Double](repeating: 1.0 / Double(n), count: n)
            if !located.isEmpty {
                let pathIndex = Dictionary(uniqueKeysWithValues: paths.enumerated().map { ($1, $0) })
                let total = located.reduce(0) { $0 + $1.score }
                if total > 0 {
                    personal = personal.map { $0 * 0.1 }
                    for file in located { if let i = pathIndex[file.path] { personal[i] += 0.9 * file.score / total } }
                }
            }
            var rank = personal
            for _ in 0..<30 {
                var next = personal.map { $0 * 0.15 }
                var dangling = 0.0
                for s in 0..<n {
                    if outWeight[s] == 0 {
                        dangling += rank[s]
                        continue
                    }
                    let share = 0.85 * rank[s] / outWeight[s]
                    for (t, w) in outgoing[s] { next[t] += share * w }
                }
                for i in 0..<n { next[i] += 0.85 * dangling * personal[i] }
                rank = next
            }
            return zip(paths, rank).sorted { $0.1 > $1.1 }.map { ($0.0, $0.1) }
        }
    }

    /// The map as text within `budgetTokens`: one line a file, then its key definitions with line numbers.
    public func repoMap(task: String? = nil, budgetTokens: Int = 1024, maxSymbolsPerFile: Int = 8) throws -> String {
        guard budgetTokens > 0 else { return "" }
        let ranked = try rankedFiles(task: task)
        let terms = Set(task.map { QueryText.terms($0, limit: 64) } ?? [])
        var text = ""
        var used = 0
        for (path, _) in ranked {
            let symbols = try pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT s.name, s.kind, s.scope, s.line, s.end_line, s.signature FROM symbols s
                        JOIN files f ON f.id = s.file_id WHERE f.path = ?
                          AND s.kind IN ('class', 'function', 'member', 'method', 'struct', 'protocol', 'interface',
                                         'enum', 'typealias', 'func', 'macro')
                        ORDER BY s.line
                        """, arguments: [path]
                ).map { row in
                    SymbolHit(
                        path: path, name: row["name"], kind: row["kind"], scope: row["scope"], line: row["line"],
                        endLine: row["end_line"], signature: row["signature"])
                }
            }
            // Task-matching definitions first, then top-level ones, in file order.
            let chosen = symbols.enumerated().sorted { a, b in
                let ma = Identifiers.split(Substring(a.element.name)).contains(where: terms.contains) ? 0 : 1
                let mb = Identifiers.split(Substring(b.element.name)).contains(where: terms.contains) ? 0 : 1
                let ta = a.element.scope == nil ? 0 : 1
                let tb = b.element.scope == nil ? 0 : 1
                return (ma, ta, a.offset) < (mb, tb, b.offset)
            }.prefix(maxSymbolsPerFile).map(\.element).sorted { $0.line < $1.line }
            var block = path + ":\n"
            for symbol in chosen {
                let signature = (symbol.signature ?? "").prefix(60)
                block +=
                    "  \(symbol.line): \(symbol.kind) \(symbol.scope.map { "\($0)." } ?? "")\(symbol.name)\(signature)\n"
            }
            let cost = Self.estimateTokens(block)
            if used + cost > budgetTokens {
                // A file line alone may still fit.
                let bare = path + "\n"
                if used + Self.estimateTokens(bare) > budgetTokens { break }
                text += bare
                used += Self.estimateTokens(bare)
                continue
            }
            text += block
            used += cost
        }
        return text
    }
}
