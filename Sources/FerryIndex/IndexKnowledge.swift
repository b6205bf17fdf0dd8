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
        let hits = try index.search(query, limit: resultLimit)
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
