import FerryCore
import Foundation

/// Finds the one place an edit applies, in stages: exact text, then ignoring trailing whitespace, then ignoring
/// indentation, then with Unicode punctuation folded to ASCII. Ambiguity and misses are errors that show the
/// closest lines, so the model can correct itself.
public enum EditMatcher {
    public enum Stage: String, Sendable, CaseIterable {
        case exact, trailingWhitespace, indentation, unicodePunctuation
    }

    public struct Applied: Sendable, Hashable {
        public var content: String
        public var stage: Stage
        /// 1-based first line of the replaced region in the old content.
        public var line: Int
    }

    public static func apply(old: String, new: String, to content: String) throws -> Applied {
        guard !old.isEmpty else {
            throw FerryError(.tool, "`old` is empty; give the exact text to replace (use write_file to create a file)")
        }
        // Exact matching is on UTF-8 bytes: Foundation's `range(of:)` can return a range that splits a character
        // (a needle "\n" inside "\r\n", a letter before a combining mark), and replacing it crashed (found by
        // `make fuzz`).
        let haystack = Array(content.utf8)
        let exact = offsets(of: Array(old.utf8), in: haystack)
        func lineNumber(_ offset: Int) -> Int { haystack[..<offset].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) } }
        if exact.count == 1 {
            let start = exact[0]
            var bytes = Array(haystack[..<start])
            bytes += Array(new.utf8)
            bytes += haystack[(start + old.utf8.count)...]
            return Applied(content: String(decoding: bytes, as: UTF8.self), stage: .exact, line: lineNumber(start))
        }
        if exact.count > 1 {
            // Line numbers of the first ten, in one pass (one count per match from the start was quadratic).
            var lines: [Int] = []
            var line = 1
            var scanned = 0
            for offset in exact.prefix(10) {
                for byte in haystack[scanned..<offset] where byte == 0x0A { line += 1 }
                scanned = offset
                lines.append(line)
            }
            let more = exact.count > 10 ? ", …" : ""
            throw FerryError(
                .tool,
                "`old` occurs \(exact.count) times (lines \(lines.map(String.init).joined(separator: ", "))\(more)); "
                    + "include more surrounding lines so it matches exactly once")
        }

        let fileLines = content.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var oldLines = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var newLines = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // A trailing newline on both sides is a line terminator, not a line.
        if oldLines.count > 1, oldLines.last == "" {
            oldLines.removeLast()
            if newLines.last == "" { newLines.removeLast() }
        }

        let stages: [(Stage, (String) -> String)] = [
            (.trailingWhitespace, { $0.trimmingTrailingWhitespace() }),
            (.indentation, { $0.trimmingCharacters(in: .whitespaces) }),
            (.unicodePunctuation, { foldPunctuation($0).trimmingCharacters(in: .whitespaces) }),
        ]
        for (stage, key) in stages {
            let target = oldLines.map(key)
            // Each file line is keyed once per stage, not once per comparison.
            let keyed = fileLines.map(key)
            var matches: [Int] = []
            if target.count <= keyed.count {
                for start in 0...(keyed.count - target.count) {
                    var equal = true
                    for offset in 0..<target.count where keyed[start + offset] != target[offset] {
                        equal = false
                        break
                    }
                    if equal { matches.append(start) }
                }
            }
            if matches.count > 1 {
                throw FerryError(
                    .tool,
                    "`old` matches \(matches.count) places when \(stage.description) is ignored (lines "
                        + "\(matches.map { String($0 + 1) }.joined(separator: ", "))); include more surrounding lines")
            }
            if let start = matches.first {
                var replacement = newLines
                if stage != .trailingWhitespace {
                    replacement = reindent(newLines, from: oldLines.first ?? "", to: fileLines[start])
                }
                var result = fileLines
                result.replaceSubrange(start..<(start + oldLines.count), with: replacement)
                return Applied(content: result.joined(separator: "\n"), stage: stage, line: start + 1)
            }
        }
        throw FerryError(.tool, "`old` was not found in the file." + closestLines(to: oldLines, in: fileLines))
    }

    /// Where `needle` starts in `haystack`, overlapping matches included, as byte offsets.
    static func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
        var result: [Int] = []
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) {
                result.append(index)
            }
            index += 1
        }
        return result
    }

    /// Moves `lines` from the indentation of `oldFirst` to that of `fileFirst`.
    static func reindent(_ lines: [String], from oldFirst: String, to fileFirst: String) -> [String] {
        let oldIndent = String(oldFirst.prefix { $0 == " " || $0 == "\t" })
        let fileIndent = String(fileFirst.prefix { $0 == " " || $0 == "\t" })
        guard oldIndent != fileIndent else { return lines }
        return lines.map { line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return line }
            if line.hasPrefix(oldIndent) { return fileIndent + line.dropFirst(oldIndent.count) }
            return fileIndent + line.drop { $0 == " " || $0 == "\t" }
        }
    }

    static func foldPunctuation(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}", "\u{2032}": out.append("'")
            case "\u{201C}", "\u{201D}", "\u{201E}", "\u{201F}", "\u{2033}": out.append("\"")
            case "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{2014}", "\u{2015}", "\u{2212}": out.append("-")
            case "\u{2026}": out.append("...")
            case "\u{00A0}", "\u{2007}", "\u{202F}", "\u{2009}", "\u{200A}": out.append(" ")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The window of the file most like `old`, with line numbers, for the error message.
    static func closestLines(to oldLines: [String], in fileLines: [String]) -> String {
        // Bounded work whatever the model sends: the first 20 lines of `old` against windows of at most 40 lines,
        // each line's bigrams counted once. (Comparing every line of a long `old` with every window took seconds.)
        let target = oldLines.map { foldPunctuation($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .prefix(20).map(Bigrams.init)
        guard !target.isEmpty, !fileLines.isEmpty else { return "" }
        let folded = fileLines.map { Bigrams(foldPunctuation($0).trimmingCharacters(in: .whitespaces)) }
        let window = min(40, max(1, oldLines.count))
        // similarity[t][f], once.
        let similarity = target.map { line in folded.map { line.similarity(to: $0) } }
        // A window's score: for each line of `old`, its best match in the window (a sliding maximum per row).
        let starts = max(1, fileLines.count - window + 1)
        var scores = [Double](repeating: 0, count: starts)
        for row in similarity {
            var deque: [Int] = []
            var head = 0
            for index in 0..<row.count {
                while deque.count > head, row[deque[deque.count - 1]] <= row[index] { deque.removeLast() }
                deque.append(index)
                let start = index - window + 1
                if deque[head] < max(0, start) { head += 1 }
                if start >= 0, start < starts { scores[start] += row[deque[head]] }
            }
            // A file shorter than the window: one start, covering all of it.
            if row.count < window { scores[0] += row.max() ?? 0 }
        }
        var best = (score: 0.0, start: 0)
        for (start, score) in scores.enumerated() where score > best.score { best = (score, start) }
        guard best.score > 0 else { return "" }
        let end = min(fileLines.count, best.start + window)
        let shown = (best.start..<end).map { "\($0 + 1)\t\(fileLines[$0].prefix(300))" }.joined(separator: "\n")
        return " The closest lines in the file are:\n" + shown + "\nCopy the text exactly from read_file output."
    }

    /// A line's character bigrams, counted once, for the Dice coefficient.
    struct Bigrams {
        let text: String
        let counts: [UInt16: Int]
        let total: Int

        init(_ text: String) {
            self.text = text
            let bytes = Array(text.utf8.prefix(400))
            var counts: [UInt16: Int] = [:]
            if bytes.count > 1 {
                for i in 0..<(bytes.count - 1) { counts[UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), default: 0] += 1 }
            }
            self.counts = counts
            self.total = max(0, bytes.count - 1)
        }

        func similarity(to other: Bigrams) -> Double {
            if text == other.text { return 1 }
            guard total > 0, other.total > 0 else { return 0 }
            var shared = 0
            for (key, count) in counts { shared += min(count, other.counts[key] ?? 0) }
            return 2 * Double(shared) / Double(total + other.total)
        }
    }

}

extension EditMatcher.Stage: CustomStringConvertible {
    public var description: String {
        switch self {
        case .exact: "nothing"
        case .trailingWhitespace: "trailing whitespace"
        case .indentation: "indentation"
        case .unicodePunctuation: "indentation and Unicode punctuation"
        }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var result = self
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result.removeLast() }
        return result
    }
}
