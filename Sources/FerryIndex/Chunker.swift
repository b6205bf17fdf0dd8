import Foundation

/// A symbol definition from Universal Ctags.
public struct SymbolDefinition: Codable, Hashable, Sendable {
    public var name: String
    public var kind: String
    public var scope: String?
    public var line: Int
    public var endLine: Int?
    public var signature: String?

    public init(
        name: String, kind: String, scope: String? = nil, line: Int, endLine: Int? = nil, signature: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.scope = scope
        self.line = line
        self.endLine = endLine
        self.signature = signature
    }

    /// `Scope.name`, or the name alone.
    public var qualifiedName: String { scope.map { "\($0).\(name)" } ?? name }
}

/// A piece of a file indexed for full-text search: a function or class where ctags gives spans, a window otherwise.
public struct Chunk: Hashable, Sendable {
    public var startLine: Int
    public var endLine: Int
    /// The definition the chunk holds, if any.
    public var symbol: String?
    public var text: String
}

public enum Chunker {
    public static let windowLines = 60
    public static let maxSpanLines = 150

    /// Cuts a file into chunks: innermost definitions with spans (split when long), and windows over the lines
    /// no definition covers. Every line lands in exactly one chunk.
    public static func chunks(lines: [Substring], symbols: [SymbolDefinition]) -> [Chunk] {
        let count = lines.count
        guard count > 0 else { return [] }
        let spans = symbols.compactMap { s -> (Int, Int, String)? in
            // ctags can report lines past the end (a file read mid-change, or a different line-ending count).
            guard let end = s.endLine, end >= s.line, s.line >= 1, s.line <= count else { return nil }
            return (s.line, min(end, count), s.qualifiedName)
        }
        // Innermost spans first so a method wins over its class; a line taken stays taken.
        var owner = [Int](repeating: -1, count: count + 1)
        let ordered = spans.enumerated().sorted { ($0.element.1 - $0.element.0) < ($1.element.1 - $1.element.0) }
        for (index, span) in ordered {
            for line in span.0...span.1 where owner[line] == -1 { owner[line] = index }
        }
        var chunks: [Chunk] = []
        var line = 1
        while line <= count {
            let current = owner[line]
            var end = line
            let limit = current == -1 ? windowLines : maxSpanLines
            while end < count, owner[end + 1] == current, end - line + 1 < limit { end += 1 }
            let text = lines[(line - 1)...(end - 1)].joined(separator: "\n")
            chunks.append(
                Chunk(startLine: line, endLine: end, symbol: current == -1 ? nil : spans[current].2, text: text))
            line = end + 1
        }
        return chunks
    }

    /// Markdown and text: one chunk per heading section, windows inside long sections.
    public static func documentChunks(lines: [Substring]) -> [Chunk] {
        var chunks: [Chunk] = []
        var start = 0
        var heading: String?
        func flush(until end: Int) {
            var from = start
            while from < end {
                let to = min(end, from + windowLines)
                let text = lines[from..<to].joined(separator: "\n")
                if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    chunks.append(Chunk(startLine: from + 1, endLine: to, symbol: heading, text: text))
                }
                from = to
            }
        }
        for (index, line) in lines.enumerated() where line.hasPrefix("#") && index > start {
            flush(until: index)
            start = index
            heading = line.drop { $0 == "#" || $0 == " " }.trimmingCharacters(in: .whitespaces)
        }
        if let first = lines.first, first.hasPrefix("#"), heading == nil {
            heading = first.drop { $0 == "#" || $0 == " " }.trimmingCharacters(in: .whitespaces)
        }
        flush(until: lines.count)
        return chunks
    }
}

/// Identifier handling shared by indexing and queries, so `parse_header`, `parseHeader` and "parse header" meet.
public enum Identifiers {
    /// Words of an identifier: `parseHTTPHeader` → parse, http, header; `parse_header` → parse, header.
    public static func split(_ identifier: Substring) -> [String] {
        var words: [String] = []
        for part in identifier.split(separator: "_") {
            var current = ""
            let characters = Array(part)
            for (i, c) in characters.enumerated() {
                let startsWord =
                    c.isUppercase && !current.isEmpty
                    && (!(characters[i - 1].isUppercase) || (i + 1 < characters.count && characters[i + 1].isLowercase))
                let digitEdge = !current.isEmpty && (c.isNumber != (current.last?.isNumber ?? false))
                if startsWord || digitEdge {
                    words.append(current.lowercased())
                    current = ""
                }
                current.append(c)
            }
            if !current.isEmpty { words.append(current.lowercased()) }
        }
        return words
    }

    /// Identifiers in text (ASCII letters, digits, underscore; not starting with a digit).
    public static func scan(_ text: String) -> [Substring] {
        var result: [Substring] = []
        var start: String.Index?
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            let isWord = c.isASCII && (c.isLetter || c.isNumber || c == "_")
            if isWord {
                if start == nil, !c.isNumber { start = index }
            } else if let s = start {
                result.append(text[s..<index])
                start = nil
            }
            index = text.index(after: index)
        }
        if let s = start { result.append(text[s...]) }
        return result
    }

    /// The text FTS5 indexes: the original, plus the words of every compound identifier (camelCase gets split;
    /// snake_case is split by the tokenizer already, but its joined form is added so `parseheader` also matches).
    public static func expand(_ text: String) -> String {
        var extra: [String] = []
        var seen: Set<Substring> = []
        for identifier in scan(text) where identifier.count > 3 && seen.insert(identifier).inserted {
            let words = split(identifier)
            if words.count > 1 { extra.append(words.joined(separator: " ")) }
        }
        return extra.isEmpty ? text : text + "\n" + extra.joined(separator: " ")
    }
}
