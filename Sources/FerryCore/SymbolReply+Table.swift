import Foundation

/// A module's table (`KEYWORDS = {…}`, `SQL_REGEX = […]`) is data: a fix adds an entry or changes one, and a small
/// model often gives back only the entries it adds, under the table's (or the part's) header. Taken as the whole
/// table, such a block deleted every other entry (on sqlparse, `'WINDOW': tokens.Keyword,` replaced 33 lines of
/// `KEYWORDS`, and 5 tests failed). A block much shorter than the table it answers is read as entries instead: its
/// lines the table already has place it, a dictionary entry whose key the table has replaces that entry, and every
/// other line is added where the block puts it.
extension SymbolReply {
    /// Whether `unit` is a table, or a part of one: its definition's first code line assigns its name.
    static func isTable(_ unit: SymbolUnit, files: [String: String]) -> Bool {
        guard let definition = unit.definition else {
            return assignedName(unit.text.split(separator: "\n").map(String.init)) == unit.simpleName
        }
        guard let text = files[unit.path] else { return false }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard definition.lowerBound >= 1, definition.lowerBound <= lines.count else { return false }
        return assignedName([String(lines[definition.lowerBound - 1])]) == unit.simpleName
    }

    /// Blocks under this share of the table's lines (not counting blank ones) are entries, not the table.
    static let entriesShare = 0.5
    /// Tables shorter than this are small enough to come back whole.
    static let entriesMinimumLines = 6

    /// What a block of a table's entries does to it.
    enum Entries: Equatable {
        /// The block is long enough to be the table (or the part) itself.
        case notEntries
        /// Every line of it is in the table already.
        case unchanged
        /// The table's text with the entries merged in.
        case merged(String)
    }

    /// The table's text with a short block's entries merged in.
    static func entries(_ block: [String], into unit: SymbolUnit) -> Entries {
        let original = unit.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let entries = block.filter {
            let text = $0.trimmingCharacters(in: .whitespaces)
            return !text.isEmpty && !WholeFileReply.isElision($0)
        }
        let shown = original.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
        guard shown >= entriesMinimumLines, Double(entries.count) < Double(shown) * entriesShare else {
            return .notEntries
        }
        var merged = original
        // New lines go after the table's opening line, or at the start of a part.
        let first = assignedName([original.first ?? ""]) == unit.simpleName ? 1 : 0
        var cursor = 0
        let kept = Set(original.map { $0.trimmingCharacters(in: .whitespaces) })
        let added = entries.filter { !kept.contains($0.trimmingCharacters(in: .whitespaces)) }
        let margin = added.map { $0.prefix { $0 == " " || $0 == "\t" }.count }.min() ?? 0
        for line in entries {
            let text = line.trimmingCharacters(in: .whitespaces)
            if let at = merged[min(cursor, merged.count)...].firstIndex(where: {
                $0.trimmingCharacters(in: .whitespaces) == text
            }) {
                cursor = at + 1
                continue
            }
            let own = String(line.dropFirst(margin))
            if let key = entryKey(text),
                let at = merged.firstIndex(where: { entryKey($0.trimmingCharacters(in: .whitespaces)) == key })
            {
                merged[at] = indentation(at: at, in: merged) + own
                cursor = at + 1
                continue
            }
            let at = min(max(cursor, first), merged.count)
            merged.insert(indentation(at: at, in: merged) + own, at: at)
            cursor = at + 1
        }
        return merged == original ? .unchanged : .merged(merged.joined(separator: "\n"))
    }

    /// A dictionary entry's key (`'WINDOW': tokens.Keyword,` → `'WINDOW'`): a string literal, then a colon.
    static func entryKey(_ line: String) -> String? {
        guard let match = line.prefixMatch(of: #/([rbuRBU]?(?:'[^']*'|"[^"]*"))\s*:/#) else { return nil }
        return String(match.output.1)
    }

    /// The indentation an entry added before line `index` takes: that line's, unless it closes the table, then the
    /// line above's.
    static func indentation(at index: Int, in lines: [String]) -> String {
        func indent(_ line: String) -> String { String(line.prefix { $0 == " " || $0 == "\t" }) }
        let closes = { (line: String) in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.first.map { "]})".contains($0) } ?? true
        }
        if index < lines.count, !closes(lines[index]) { return indent(lines[index]) }
        var above = min(index, lines.count) - 1
        while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).isEmpty { above -= 1 }
        guard above >= 0 else { return "" }
        // Above is the opening line (`RULES = [`): one level in from it.
        if assignedName([lines[above]]) != nil, above == 0 { return indent(lines[above]) + "    " }
        return indent(lines[above])
    }

    /// Blocks under this share of a code part's lines leave most of it out; parts this long must come back whole.
    static let fragmentShare = 0.25
    static let fragmentMinimumLines = 16

    /// Why a block much shorter than the part of a function it answers cannot replace it: it would delete the rest.
    static func fragment(_ body: [String], for part: SymbolUnit) -> String? {
        let shown = part.text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
        let given = body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
        guard shown >= fragmentMinimumLines, Double(given) < Double(shown) * fragmentShare else { return nil }
        return "The block for \(part.label) has \(given) lines where the part you were shown (lines "
            + "\(part.startLine)-\(part.endLine)) has \(shown); it would replace them all. Give back every line of the "
            + "part, changed."
    }
}

extension SymbolReply {
    /// The whole table a block answers: the one its first line assigns, else the one its header names
    /// (`keywords.py: KEYWORDS` above a block of entries alone).
    static func table(named header: String, assigned: String?, units: [SymbolUnit], files: [String: String])
        -> SymbolUnit?
    {
        let tables = units.filter { isTable($0, files: files) }
        if let assigned {
            return match(header: header, defined: assigned, units: tables)
        }
        let cleaned = WholeFileReply.cleanPathLine(header)
        let named = tables.filter { unit in
            let words = cleaned.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") })
            return words.contains { $0 == unit.name || $0 == unit.simpleName }
                && (units.map(\.path).first { cleaned.contains($0) }.map { $0 == unit.path } ?? true)
        }
        return named.count == 1 ? named[0] : nil
    }
}
