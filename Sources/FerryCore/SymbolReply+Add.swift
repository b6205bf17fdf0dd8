import Foundation

/// New definitions in a definitions reply, and applying a reply to its files.
extension SymbolReply {
    /// A definition the reply adds: it goes after line `afterLine` of `path` (1-based), at its level's indentation.
    public struct Insertion: Hashable, Sendable {
        public var path: String
        /// `Class.name`, or the name alone at the top level.
        public var name: String
        public var afterLine: Int
        public var text: String
        /// Top-level definitions are set off by two blank lines, members by one (PEP 8, and most styles).
        public var topLevel: Bool
    }

    struct Refusal: Error {
        var reason: String
    }

    /// Where a new definition goes: after the last unit of the same class (or of the top level) in the file its
    /// header names, or the only file shown. A class the reply names must have a unit shown; a new top-level
    /// definition with none shown goes at the end of the file. A name the file already defines at that level is
    /// refused: the model saw it only in the outline, and a second definition would silently override the first.
    static func placement(
        header: String, defined: String, body: [String], units: [SymbolUnit], files: [String: String]
    ) -> Result<Insertion, Refusal> {
        let cleaned = WholeFileReply.cleanPathLine(header)
        let paths = units.map(\.path).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let how =
            "to add a definition, put `path: Class.\(defined)` (or `path: \(defined)` at the top level) on the line above its block"
        guard let path = paths.first(where: { cleaned.contains($0) }) ?? (paths.count == 1 ? paths[0] : nil) else {
            return .failure(
                Refusal(reason: "`\(defined)` is not one of the definitions you were shown in full; \(how)."))
        }
        let inFile = units.filter { $0.path == path }
        let named = cleaned.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let scope: String
        if named.hasSuffix("." + defined) {
            scope = String(named.dropLast(defined.count + 1))
        } else if body.first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty })?.first?.isWhitespace == true {
            // Indented, with no class named: the one class the file's units are in.
            let classes = Set(inFile.map(\.scope).filter { !$0.isEmpty })
            guard classes.count == 1, let only = classes.first else {
                return .failure(Refusal(reason: "Which class does `\(defined)` belong to? \(how)."))
            }
            scope = only
        } else {
            scope = ""
        }
        let anchor = inFile.filter { $0.scope == scope }.max { $0.endLine < $1.endLine }
        let lines = (files[path] ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        if anchor == nil, !scope.isEmpty {
            return .failure(
                Refusal(
                    reason:
                        "`\(scope).\(defined)` would go into \(scope), and no definition of \(scope) was shown in full; add new "
                        + "definitions only next to the ones you were shown."))
        }
        let indentation = anchor.map { indent(of: $0.text) } ?? ""
        if let existing = definitionLine(of: defined, indentation: indentation, in: lines, around: anchor) {
            return .failure(
                Refusal(
                    reason:
                        "`\(defined)` already exists in \(path) (line \(existing)) and was not shown in full; change only the "
                        + "definitions you were shown, or add one with a new name."))
        }
        let lastLine = lines.lastIndex { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { $0 + 1 } ?? 0
        let text = reindented(body, like: indentation + "x").joined(separator: "\n")
        return .success(
            Insertion(
                path: path, name: scope.isEmpty ? defined : scope + "." + defined,
                afterLine: anchor?.endLine ?? lastLine,
                text: text, topLevel: scope.isEmpty))
    }

    /// The files with each replacement put in its unit's span and each new definition after its anchor, bottom up
    /// so earlier lines keep their numbers. Only files whose text changed are returned. Units that overlap an applied
    /// one (a class and its method) are skipped, and so is a new definition that would land inside a replaced span.
    public static func apply(
        _ replacements: [Replacement], insertions: [Insertion] = [], to files: [String: String]
    ) -> [String: String] {
        var result: [String: String] = [:]
        for path in Set(replacements.map(\.unit.path) + insertions.map(\.path)) {
            guard let original = files[path] else { continue }
            var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var taken: [ClosedRange<Int>] = []
            for replacement in replacements.filter({ $0.unit.path == path }).sorted(by: {
                $0.unit.startLine > $1.unit.startLine
            }) {
                let span = replacement.unit.startLine...replacement.unit.endLine
                guard span.upperBound <= lines.count, !taken.contains(where: { $0.overlaps(span) }) else { continue }
                taken.append(span)
            }
            // Descending positions: an insertion after line n sorts above a replacement starting at n or before it.
            var edits: [(position: Double, apply: (inout [String]) -> Void)] = []
            for replacement in replacements
            where replacement.unit.path == path
                && taken.contains(replacement.unit.startLine...replacement.unit.endLine)
            {
                let unit = replacement.unit
                let new = replacement.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                edits.append(
                    (Double(unit.startLine), { $0.replaceSubrange((unit.startLine - 1)..<unit.endLine, with: new) }))
            }
            for (order, insertion) in insertions.enumerated()
            where insertion.path == path && insertion.afterLine <= lines.count
                && !taken.contains(where: {
                    $0.lowerBound <= insertion.afterLine && insertion.afterLine < $0.upperBound
                })
            {
                let new =
                    Array(repeating: "", count: insertion.topLevel ? 2 : 1)
                    + insertion.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                // Two after one line keep the reply's order: the later goes in first, the earlier above it.
                let position = Double(insertion.afterLine) + 0.5 + Double(order) * 1e-6
                edits.append((position, { $0.insert(contentsOf: new, at: insertion.afterLine) }))
            }
            for edit in edits.sorted(by: { $0.position > $1.position }) { edit.apply(&lines) }
            let text = lines.joined(separator: "\n")
            if text != original { result[path] = text }
        }
        return result
    }

    /// The line (1-based) where `def name`/`class name` is defined at exactly this indentation: in the block the
    /// anchor sits in (its class: from the less indented line above it to the next one below), or the whole file.
    static func definitionLine(of name: String, indentation: String, in lines: [Substring], around anchor: SymbolUnit?)
        -> Int?
    {
        var range = 0..<lines.count
        if let anchor, !indentation.isEmpty, anchor.endLine <= lines.count {
            func outside(_ line: Substring) -> Bool {
                !line.trimmingCharacters(in: .whitespaces).isEmpty && !line.hasPrefix(indentation)
            }
            let start = lines[..<(anchor.startLine - 1)].lastIndex(where: outside) ?? 0
            let end = lines[anchor.endLine...].firstIndex(where: outside) ?? lines.count
            range = start..<end
        }
        let starts = ["def ", "async def ", "class "].map { indentation + $0 + name }
        return lines[range].firstIndex { line in
            starts.contains { start in
                line.hasPrefix(start) && line.dropFirst(start.count).first.map { "(:".contains($0) } == true
            }
        }.map { $0 + 1 }
    }

    static func indent(of text: String) -> String {
        let first = text.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
        return String(first.prefix { $0 == " " || $0 == "\t" })
    }
}

extension SymbolUnit {
    /// The class a member is in (`Shop` for `Shop.total`); empty at the top level.
    public var scope: String { name.split(separator: ".").dropLast().joined(separator: ".") }
}
