import Foundation

/// Swift declarations for the index, where Universal Ctags has no Swift parser (5.9 has none): types, extensions,
/// functions, initialisers and stored or computed properties at type level, each with its span (to the brace that
/// closes it) and the type it is in, so Swift files get symbols, function-sized chunks, `find_symbol` and a repo map
/// like the languages ctags knows. A line scanner, not a parser: braces in strings and comments are skipped, and a
/// declaration without a body (a property, a case, a protocol requirement) has no span: a symbol, not a chunk.
enum SwiftSymbols {
    static let declaration = try! NSRegularExpression(
        pattern: #"""
            ^\s*(?:@[\w.]+(?:\([^)]*\))?\s+)*(?:(?:public|private|internal|fileprivate|open|package|static|class|final|override|mutating|nonmutating|nonisolated|isolated|convenience|required|lazy|weak|unowned|indirect|dynamic|optional|distributed|consuming|borrowing)(?:\([^)]*\))?\s+)*(func|init|deinit|subscript|struct|class|enum|actor|protocol|extension|typealias|var|let|case)\b\s*([A-Za-z_][\w.]*|`[^`]+`)?
            """#)

    static func scan(_ text: String) -> [SymbolDefinition] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var symbols: [SymbolDefinition] = []
        /// Open declarations with a body: the index into `symbols`, the qualified type name when it is a type (nil
        /// for a function or a computed property), the brace depth its body opened at.
        var open: [(index: Int, type: String?, depth: Int)] = []
        /// A declaration whose body has not opened yet (its signature may wrap), and its parentheses still open.
        var pending: (index: Int, type: String?)?
        var parens = 0
        var depth = 0
        var inBlockComment = false
        for (offset, line) in lines.enumerated() {
            let number = offset + 1
            let insideBody = open.last.map { $0.type == nil } ?? false
            if !insideBody, !inBlockComment,
                let match = declaration.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                let keywordRange = Range(match.range(at: 1), in: line)
            {
                let keyword = String(line[keywordRange])
                let named = Range(match.range(at: 2), in: line).map {
                    String(line[$0]).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                }
                let name = named ?? (["init", "deinit", "subscript"].contains(keyword) ? keyword : nil)
                let inType = open.last?.type != nil
                let kind: String? =
                    switch keyword {
                    case "func", "init", "deinit", "subscript": inType ? "method" : "function"
                    case "struct", "class", "enum", "actor", "protocol", "extension", "typealias": keyword
                    case "var", "let": inType ? "property" : "variable"
                    case "case": inType ? "enumerator" : nil
                    default: nil
                    }
                if let kind, let name {
                    let scope = open.compactMap(\.type).last
                    let signature = line.trimmingCharacters(in: .whitespaces)
                    symbols.append(
                        SymbolDefinition(
                            name: name, kind: kind, scope: scope, line: number, endLine: nil,
                            signature: signature.count > 160 ? String(signature.prefix(160)) : signature))
                    let isType = ["struct", "class", "enum", "actor", "protocol", "extension"].contains(keyword)
                    if isType || ["func", "init", "deinit", "subscript"].contains(keyword)
                        || (keyword == "var" && line.contains("{"))
                    {
                        pending = (symbols.count - 1, isType ? (scope.map { $0 + "." } ?? "") + name : nil)
                        parens = 0
                    } else {
                        pending = nil
                    }
                }
            }
            // Braces and parentheses outside strings and comments.
            var inString = false
            var previous: Character = " "
            for character in line {
                defer { previous = character }
                if inBlockComment {
                    if previous == "*" && character == "/" { inBlockComment = false }
                    continue
                }
                if inString {
                    if character == "\"" && previous != "\\" { inString = false }
                    continue
                }
                if character == "/" && previous == "/" { break }
                if character == "*" && previous == "/" {
                    inBlockComment = true
                    continue
                }
                switch character {
                case "\"": inString = true
                case "(": parens += 1
                case ")": parens -= 1
                case "{":
                    depth += 1
                    // Outside the signature's parentheses (a default argument may be a closure).
                    if let body = pending, parens <= 0 {
                        open.append((body.index, body.type, depth))
                        pending = nil
                    }
                case "}":
                    if let last = open.last, last.depth == depth {
                        symbols[last.index].endLine = number
                        open.removeLast()
                    }
                    depth = max(0, depth - 1)
                default: break
                }
            }
            // A signature that has closed its parentheses without a body is a requirement: one line (or a few).
            if pending != nil, parens <= 0 { pending = nil }
        }
        return symbols
    }
}
