import Foundation

/// The part of a long definition most likely to need a task's change, when the whole of it is too long to come back
/// in one reply (on click, `Option.get_help_record` is 107 lines, and its fixes are a line or two in the middle).
///
/// The definition's body is cut at its statements, and a statement too long for the budget at the statements inside
/// it. The window is the run of consecutive pieces, within the budget, that holds the task's words best: each word
/// weighs more the fewer pieces of the definition have it, so a word found everywhere (`self`, the method's own
/// name) does not pick the window.
public enum DefinitionWindow {
    /// `lines` are the definition's lines (its first is the `def` line); `budget` is in bytes. The result is a range
    /// of indexes into `lines`, never the first line, or nil when the body is empty or no piece fits the budget.
    public static func best(lines: [Substring], task: String, budget: Int) -> ClosedRange<Int>? {
        let start = bodyStart(lines)
        guard start < lines.count else { return nil }
        let pieces = pieces(lines, in: start...(lines.count - 1), budget: budget)
        guard !pieces.isEmpty else { return nil }
        let words = Set(QueryText.terms(task).map(stem))
        let pieceWords = pieces.map { piece in
            Set(
                Identifiers.scan(lines[piece].joined(separator: "\n")).flatMap { identifier in
                    Identifiers.split(identifier).map(stem) + [stem(identifier.lowercased())]
                }
            ).intersection(words)
        }
        var frequency: [String: Int] = [:]
        for found in pieceWords { for word in found { frequency[word, default: 0] += 1 } }
        let weight = frequency.mapValues { log(1 + Double(pieces.count) / Double($0)) }
        func size(_ range: ClosedRange<Int>) -> Int { lines[range].reduce(0) { $0 + $1.utf8.count + 1 } }

        var best: (range: ClosedRange<Int>, score: Double)?
        for first in pieces.indices {
            var last = first
            guard size(pieces[first]) <= budget else { continue }
            while last + 1 < pieces.count,
                size(pieces[first].lowerBound...pieces[last + 1].upperBound) <= budget
            {
                last += 1
            }
            let found = pieceWords[first...last].reduce(into: Set<String>()) { $0.formUnion($1) }
            let score = found.reduce(0) { $0 + weight[$1, default: 0] }
            let range = pieces[first].lowerBound...pieces[last].upperBound
            // Ties go to the earlier window: the definition's start says most about what it does.
            if score > (best?.score ?? -1) + 1e-9 { best = (range, score) }
        }
        // No window has any of the task's words: which part to show would be a guess.
        guard let best, best.score > 0 else { return nil }
        var range = best.range
        // Blank lines at either edge say nothing.
        while range.lowerBound < range.upperBound, isBlank(lines[range.lowerBound]) {
            range = (range.lowerBound + 1)...range.upperBound
        }
        while range.upperBound > range.lowerBound, isBlank(lines[range.upperBound]) {
            range = range.lowerBound...(range.upperBound - 1)
        }
        return range
    }

    /// The first line of the body: after the decorators, the signature (to where its brackets close) and a Python
    /// docstring. A part made of a signature's parameters or a docstring would show nothing to change.
    static func bodyStart(_ lines: [Substring]) -> Int {
        var index = 0
        while index < lines.count, lines[index].drop(while: \.isWhitespace).hasPrefix("@") { index += 1 }
        var depth = 0
        repeat {
            guard index < lines.count else { return index }
            for character in lines[index] {
                if character == "(" || character == "[" { depth += 1 }
                if character == ")" || character == "]" { depth -= 1 }
            }
            index += 1
        } while depth > 0
        while index < lines.count, isBlank(lines[index]) { index += 1 }
        guard index < lines.count else { return index }
        let first = lines[index].drop(while: \.isWhitespace).drop { "rRbBuU".contains($0) }
        guard let quote = ["\"\"\"", "'''"].first(where: { first.hasPrefix($0) }) else { return index }
        // A docstring on one line closes on it; a longer one on the line that has its closing quotes.
        if first.dropFirst(3).contains(quote) { return index + 1 }
        index += 1
        while index < lines.count, !lines[index].contains(quote) { index += 1 }
        return index + 1
    }

    /// The statements of `range` at its outermost indentation, each with the lines under it; one longer than
    /// `budget` is its first line followed by the pieces of what it holds.
    static func pieces(_ lines: [Substring], in range: ClosedRange<Int>, budget: Int) -> [ClosedRange<Int>] {
        guard let base = range.first(where: { !isBlank(lines[$0]) }).map({ indentation(lines[$0]) }) else {
            return []
        }
        var starts: [Int] = []
        for index in range where !isBlank(lines[index]) {
            let text = lines[index].drop { $0 == " " || $0 == "\t" }
            guard indentation(lines[index]) <= base, !continues(text) else { continue }
            starts.append(index)
        }
        if starts.first != range.lowerBound { starts.insert(range.lowerBound, at: 0) }
        var result: [ClosedRange<Int>] = []
        for (number, start) in starts.enumerated() {
            let end = number + 1 < starts.count ? starts[number + 1] - 1 : range.upperBound
            let piece = start...end
            let bytes = lines[piece].reduce(0) { $0 + $1.utf8.count + 1 }
            if bytes > budget, end > start {
                result.append(start...start)
                result += pieces(lines, in: (start + 1)...end, budget: budget)
            } else {
                result.append(piece)
            }
        }
        return result
    }

    /// A line that goes on the statement above it rather than starting one: a closing bracket, or the next branch
    /// of an `if`/`try`.
    static func continues(_ text: Substring) -> Bool {
        if let first = text.first, ")]}".contains(first) { return true }
        return ["elif ", "elif(", "else:", "else ", "except", "finally:", "finally "].contains { text.hasPrefix($0) }
    }

    static func indentation(_ line: Substring) -> Int {
        line.prefix { $0 == " " || $0 == "\t" }.reduce(0) { $0 + ($1 == "\t" ? 8 : 1) }
    }

    static func isBlank(_ line: Substring) -> Bool { line.allSatisfy(\.isWhitespace) }

    /// Plurals meet their singular (`strings`, `string`).
    static func stem(_ word: String) -> String {
        word.count > 4 && word.hasSuffix("s") && !word.hasSuffix("ss") ? String(word.dropLast()) : word
    }
}
