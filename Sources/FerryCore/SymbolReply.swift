import Foundation

/// One definition of a large file, shown whole to the model and replaced whole by span: the whole-file format's
/// complete unit (no search strings to match) for files too big to come back in one reply.
public struct SymbolUnit: Sendable, Hashable, Codable {
    public var path: String
    /// `Class.method`, or the name alone.
    public var name: String
    /// First and last line, 1-based and inclusive; the first includes the definition's decorators.
    public var startLine: Int
    public var endLine: Int
    public var text: String
    /// Set when the unit is only a part of a definition too long to come back in one reply: the whole
    /// definition's first and last line. The reply gives the part's lines back, changed, under its header.
    public var definition: ClosedRange<Int>?

    public init(
        path: String, name: String, startLine: Int, endLine: Int, text: String, definition: ClosedRange<Int>? = nil
    ) {
        self.path = path
        self.name = name
        self.startLine = startLine
        self.endLine = endLine
        self.text = text
        self.definition = definition
    }

    public var isPart: Bool { definition != nil }

    /// The last part of the name: what the definition's own line says (`def eval`, `class Mod`).
    public var simpleName: String { String(name.split(separator: ".").last ?? Substring(name)) }
    public var label: String { "\(path): \(name)" }
    /// The label with the lines shown: `(lines 10-20)`, or for a part, which part of which definition.
    public var heading: String {
        guard let definition else { return "\(label) (lines \(startLine)-\(endLine))" }
        return "\(label), lines \(startLine)-\(endLine) (a part of it; it spans lines "
            + "\(definition.lowerBound)-\(definition.upperBound))"
    }
}

/// A reply that gives complete replacement definitions: `path: Name` on a line, then a fenced block from the
/// definition's first line (decorators included) to its last. Each block is matched to a unit by the name on its
/// header line or, failing that, by the name its own `def`/`class`/`func` line defines. A block that defines a name
/// no unit has is a new definition (a task often needs a new method or helper): it goes after the last unit of the
/// same class or file (see `SymbolReply+Add`). Blocks that leave code out, are cut off, or cannot be placed are
/// refused with a reason for the model.
public struct SymbolReply: Hashable, Sendable {
    public struct Replacement: Hashable, Sendable {
        public var unit: SymbolUnit
        public var text: String
    }

    public var replacements: [Replacement]
    public var insertions: [Insertion]
    public var problems: [String]

    /// `files` are the units' files as they are now: a new definition must not repeat a name one of them already
    /// defines at that level (the model saw it only in the outline).
    public static func parse(_ reply: String, units: [SymbolUnit], files: [String: String] = [:]) -> SymbolReply {
        var replacements: [Replacement] = []
        var insertions: [Insertion] = []
        var problems: [String] = []
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        while index < lines.count {
            guard let fence = WholeFileReply.openingFence(lines[index]) else {
                index += 1
                continue
            }
            var header = ""
            var above = index - 1
            while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).isEmpty { above -= 1 }
            if above >= 0, index - above <= 2 { header = lines[above] }
            var body: [String] = []
            var closed = false
            index += 1
            while index < lines.count {
                let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix(fence), trimmed.allSatisfy({ $0 == fence.first }) {
                    closed = true
                    index += 1
                    break
                }
                body.append(lines[index])
                index += 1
            }
            /// Whether the block is a table's entries (and so taken, merged or changing nothing).
            func takenAsEntries(of table: SymbolUnit) -> Bool {
                guard closed else { return false }
                switch entries(body, into: table) {
                case .notEntries: return false
                case .unchanged: return true
                case .merged(let merged):
                    replacements.removeAll { $0.unit == table }
                    replacements.append(Replacement(unit: table, text: merged))
                    return true
                }
            }
            if let part = part(named: header, units: units) {
                if isTable(part, files: files), takenAsEntries(of: part) { continue }
                if let problem = check(body, closed: closed, for: part) ?? fragment(body, for: part) {
                    problems.append(problem)
                    continue
                }
                while body.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { body.removeLast() }
                replacements.removeAll { $0.unit == part }
                replacements.append(
                    Replacement(unit: part, text: reindented(body, like: part.text).joined(separator: "\n")))
                continue
            }
            let declared = definedName(body)
            let assigned = declared == nil ? assignedName(body) : nil
            let units = units.filter { !$0.isPart }
            let table = declared == nil ? table(named: header, assigned: assigned, units: units, files: files) : nil
            if let table, takenAsEntries(of: table) { continue }
            guard let defined = declared ?? assigned else { continue }  // prose or a command
            let unit = match(header: header, defined: defined, units: units)
            // A block that assigns a name replaces a table the model was shown; it is never a new definition (a
            // snippet such as `result = parse(text)` is not one).
            if assigned != nil, unit == nil { continue }
            if let problem = incomplete(
                body, closed: closed, label: unit?.label ?? "`\(defined)`", original: unit?.text ?? "",
                what: "definition")
            {
                problems.append(problem)
                continue
            }
            while body.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { body.removeLast() }
            guard let unit else {
                if !candidates(header: header, defined: defined, units: units).isEmpty {
                    problems.append(
                        "More than one definition you were shown is called `\(defined)`; put its path and full name "
                            + "(`path: Class.\(defined)`) on the line above its block.")
                    continue
                }
                switch placement(header: header, defined: defined, body: body, units: units, files: files) {
                case .success(let insertion):
                    insertions.removeAll { $0.path == insertion.path && $0.name == insertion.name }
                    insertions.append(insertion)
                case .failure(let refusal): problems.append(refusal.reason)
                }
                continue
            }
            let text = reindented(body, like: unit.text).joined(separator: "\n")
            replacements.removeAll { $0.unit == unit }
            replacements.append(Replacement(unit: unit, text: text))
        }
        return SymbolReply(replacements: replacements, insertions: insertions, problems: problems)
    }

    /// The part of a definition a block's header names (`path: Class.name, lines …`): its name whole, and its path
    /// if the header has one.
    static func part(named header: String, units: [SymbolUnit]) -> SymbolUnit? {
        let cleaned = WholeFileReply.cleanPathLine(header)
        // The path named, if any, and the rest: `checkout` must not be found in `shop/checkout.py`.
        let path = units.map(\.path).filter { cleaned.contains($0) }.max { $0.count < $1.count }
        let rest = path.map { cleaned.replacingOccurrences(of: $0, with: " ") } ?? cleaned
        let inWord = { (c: Character) in c.isLetter || c.isNumber || c == "_" || c == "." }
        let named = units.filter { unit in
            guard unit.isPart, path == nil || path == unit.path else { return false }
            var from = rest.startIndex
            while let found = rest.range(of: unit.name, range: from..<rest.endIndex) {
                let before = found.lowerBound == rest.startIndex ? " " : rest[rest.index(before: found.lowerBound)]
                let after = found.upperBound == rest.endIndex ? " " : rest[found.upperBound]
                if !inWord(before) && !inWord(after) { return true }
                from = found.upperBound
            }
            return false
        }
        guard named.count > 1 else { return named.first }
        // Two parts of one definition: the one whose lines the header gives.
        return named.first { cleaned.contains("lines \($0.startLine)-\($0.endLine)") }
    }

    /// Why a block given for a part cannot replace it, if it cannot.
    static func check(_ body: [String], closed: Bool, for part: SymbolUnit) -> String? {
        if let problem = incomplete(
            body, closed: closed, label: part.label, original: part.text, what: "part you were shown")
        {
            return problem
        }
        if definedName(body) == part.simpleName,
            definedName(part.text.split(separator: "\n").map(String.init)) != part.simpleName
        {
            return "You were shown only lines \(part.startLine)-\(part.endLine) of \(part.label); give back those "
                + "lines, changed, not the whole definition."
        }
        guard body.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            return "The block for \(part.label) is empty; give all the lines of the part, changed."
        }
        return nil
    }

    /// Why a block cannot stand for the whole `what` it replaces: it is cut off, or it leaves code out with a marker
    /// (`# ...`, `rest of the code`) the original does not have.
    static func incomplete(_ body: [String], closed: Bool, label: String, original: String, what: String) -> String? {
        guard closed else { return "The block for \(label) is cut off (no closing fence); give the whole \(what)." }
        let kept = Set(original.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        guard
            let marker = body.first(where: {
                WholeFileReply.isElision($0) && !kept.contains($0.trimmingCharacters(in: .whitespaces))
            })
        else { return nil }
        return "The block for \(label) leaves code out (\"\(marker.trimmingCharacters(in: .whitespaces))\"); give "
            + "every line of the \(what)."
    }

    /// The name the block's first definition line defines (`def eval(` → `eval`), after decorators and comments.
    static func definedName(_ body: [String]) -> String? {
        let keywords = ["async def ", "def ", "class ", "func ", "function ", "fn ", "struct ", "enum ", "protocol "]
        for line in body {
            var text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("@") || text.hasPrefix("#") || text.hasPrefix("//") { continue }
            for modifier in [
                "public ", "private ", "internal ", "fileprivate ", "static ", "export ", "override ", "final ", "pub ",
            ]
            where text.hasPrefix(modifier) {
                text = String(text.dropFirst(modifier.count))
            }
            guard let keyword = keywords.first(where: { text.hasPrefix($0) }) else { return nil }
            let name = text.dropFirst(keyword.count).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            return name.isEmpty ? nil : String(name)
        }
        return nil
    }

    /// The name a block's first code line assigns at its own level (`RULES = [`, `LIMIT: int = 3`): a module's
    /// table or constant.
    static func assignedName(_ body: [String]) -> String? {
        for line in body {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") || text.hasPrefix("//") { continue }
            guard let match = text.prefixMatch(of: #/([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=(?!=)/#) else {
                return nil
            }
            return String(match.output.1)
        }
        return nil
    }

    /// The unit a block replaces: the one its header names (`path: Class.name`, or the name alone) that defines the
    /// same name, else the only unit with that simple name.
    static func match(header: String, defined: String, units: [SymbolUnit]) -> SymbolUnit? {
        let cleaned = WholeFileReply.cleanPathLine(header)
        let candidates = candidates(header: header, defined: defined, units: units)
        guard candidates.count > 1 else { return candidates.first }
        let byName = candidates.filter { cleaned.hasSuffix($0.name) || cleaned.contains($0.name + " ") }
        let inPath = byName.filter { cleaned.contains($0.path) }
        return inPath.first ?? (byName.count == 1 ? byName[0] : nil)
    }

    /// The units a block may replace: those defining its name, less those its header rules out by naming another
    /// file or another class (`cart.py: Cart.count` is a new definition there, not `Shop.count`).
    static func candidates(header: String, defined: String, units: [SymbolUnit]) -> [SymbolUnit] {
        let cleaned = WholeFileReply.cleanPathLine(header)
        let named = cleaned.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let namedPath = units.map(\.path).first { cleaned.contains($0) }
        return units.filter { unit in
            unit.simpleName == defined && (namedPath == nil || namedPath == unit.path)
                && (!named.contains(".") || !named.hasSuffix("." + defined) || named == unit.name)
        }
    }

    /// The block at the unit's own indentation: small models often give a method flush left.
    static func reindented(_ body: [String], like original: String) -> [String] {
        func indent(_ line: String) -> String { String(line.prefix { $0 == " " || $0 == "\t" }) }
        guard
            let firstOriginal = original.split(separator: "\n").first(where: {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty
            }),
            let firstNew = body.first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
        else { return body }
        let want = indent(String(firstOriginal))
        let have = indent(firstNew)
        guard want != have else { return body }
        return body.map { line in
            if line.trimmingCharacters(in: .whitespaces).isEmpty { return "" }
            let stripped =
                line.hasPrefix(have) ? String(line.dropFirst(have.count)) : line.trimmingCharacters(in: .whitespaces)
            return want + stripped
        }
    }
}
