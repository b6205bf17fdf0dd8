import FerryCore
import FerryWorkspace
import Foundation

/// The agent's `search_code` and `find_symbol`, answered from the index. The index is brought up to date before
/// each call (only files the agent changed are re-read), so line numbers match what `read_file` shows.
public struct IndexKnowledge: CodeKnowledge {
    public let index: CodeIndex
    public var resultLimit = 8

    public init(index: CodeIndex) {
        self.index = index
    }

    public func searchCode(_ query: String) async throws -> String {
        _ = try await index.update()
        // A query that is one identifier asks where it is: its definitions first, code before tests, then the ranked
        // chunks. BM25 alone put a test's `__length_hint__` above `get_error_hint`'s own definition on click.
        var hits: [ChunkHit] = []
        if let name = Self.identifier(in: query) {
            let definitions = try await index.findSymbol(name, referenceLimit: 0).definitions
            hits = definitions.sorted { !TestPaths.isTest($0.path) && TestPaths.isTest($1.path) }
                .prefix(resultLimit / 2).map { hit in
                    ChunkHit(
                        path: hit.path, startLine: hit.line, endLine: hit.endLine ?? hit.line,
                        symbol: (hit.scope.map { $0 + "." } ?? "") + hit.name, score: 0, kind: "code")
                }
        }
        for hit in try index.search(query, limit: resultLimit) where hits.count < resultLimit {
            let overlaps = hits.contains {
                $0.path == hit.path && $0.startLine <= hit.endLine && hit.startLine <= $0.endLine
            }
            if !overlaps { hits.append(hit) }
        }
        guard !hits.isEmpty else { return "No matches for \"\(query)\" in the index." }
        var text = ""
        for hit in hits {
            text += "\(hit.path):\(hit.startLine)-\(hit.endLine)" + (hit.symbol.map { " \($0)" } ?? "") + "\n"
            if let content = try? String(contentsOfFile: index.root + "/" + hit.path, encoding: .utf8) {
                let lines = content.split(separator: "\n", omittingEmptySubsequences: false)
                let end = min(hit.endLine, hit.startLine + 2, lines.count)
                if hit.startLine <= end {
                    for number in hit.startLine...end { text += "  \(number)| \(lines[number - 1].prefix(160))\n" }
                }
            }
        }
        return text
    }

    /// The identifier a query is, if it is one: `get_error_hint`, `Context.lookup_default`, `` `parse()` ``.
    static func identifier(in query: String) -> String? {
        let name = query.trimmingCharacters(in: CharacterSet(charactersIn: " \t\n`'\"")).replacingOccurrences(
            of: "()", with: "")
        guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first) || first == "_",
            name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "." }),
            !name.hasSuffix("."), !name.contains("..")
        else { return nil }
        return name
    }

    public func findSymbol(_ name: String) async throws -> String {
        _ = try await index.update()
        let (definitions, references) = try await index.findSymbol(name)
        guard !definitions.isEmpty || !references.isEmpty else { return "No symbol named \(name) in the index." }
        var text = definitions.isEmpty ? "No definition of \(name) found.\n" : "Definitions:\n"
        for d in definitions {
            text +=
                "  \(d.path):\(d.line)\(d.endLine.map { "-\($0)" } ?? "") \(d.kind) \(d.scope.map { "\($0)." } ?? "")\(d.name)\(d.signature ?? "")\n"
        }
        if !references.isEmpty {
            text += "References:\n"
            for r in references { text += "  \(r.path):\(r.line): \(r.text.prefix(160))\n" }
        }
        return text
    }
}
