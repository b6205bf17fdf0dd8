import Foundation

/// The attempt's prompts when the likely files are too large to come back whole: the definitions most likely to need
/// the change, each whole, with an outline of the file around them; the reply gives complete replacement definitions.
extension AttemptPrompts {
    public static let symbolSystem = """
        You are Ferry, an expert software engineer. You are shown parts of large files: an outline of each file and \
        some of its definitions in full. Change those definitions so that the task is done.
        First say, in one or two short sentences, what you will change. Then give each definition you change as a \
        listing: its path and name on one line, then a fenced code block with the entire new definition, from its \
        first line (decorators included) to its last, at its original indentation. Never leave out any of its \
        lines, and never write "..." or "rest of the code". Change only definitions shown in full; give only the \
        ones you change; keep the code's style; do not change tests. If the task needs a new function or method, \
        give it the same way under its path and new name (`path: Class.new_name`, or `path: new_name` at the top \
        level): it goes after the shown definitions of that class or file.

        The format only (a made-up task, not yours): for "Shop.total() should round to cents" and a definition \
        shop.py: Shop.total, the reply is:
        I will round the sum to two decimals.

        shop.py: Shop.total
        ```python
            def total(self):
                return round(sum(item.price for item in self.items), 2)
        ```

        Your reply must change at least one line of the definitions you are shown; giving one back unchanged does \
        nothing.
        """

    /// Outlines first, then the definitions, then the task last (nearest to the answer).
    public static func symbolPrompt(
        task: String, units: [SymbolUnit], outlines: [String: String], agents: SourceFile?
    ) -> String {
        var text = ""
        if let agents { text += "# Project instructions (\(agents.path))\n\(agents.text)\n\n" }
        var seen: Set<String> = []
        for path in units.map(\.path) where seen.insert(path).inserted {
            if let outline = outlines[path], !outline.isEmpty {
                text += "# Outline of \(path) (line: definition)\n```\n\(outline)\n```\n\n"
            }
        }
        text += "# Definitions in full\n"
        if units.contains(where: \.isPart) {
            text +=
                "A definition too long to show whole comes as a part of it: give back that part's lines only, all of "
                + "them, changed, under the same heading.\n"
        }
        for unit in units {
            text +=
                "\n\(unit.heading)\n```\(fenceLanguage(unit.path))\n\(unit.text)\n```\n"
        }
        text += "\n# Task\n\(task)\n"
        return text
    }

    /// An outline of a file: the definition lines it has, numbered, within a few hundred tokens.
    ///
    /// With the spans of the definitions shown (`near`), the lines nearest them are the ones kept, and `keeping`
    /// (the headers of their classes) always is; a `…` line stands where definitions are left out between two kept
    /// ones. Without spans, the first lines. On click, `core.py`'s outline around three methods was 60 lines (some
    /// 800 tokens, a third of the attempt's prompt, sent again with every reply), most of it classes far away.
    public static func outline(
        of text: String, lines numbers: [Int], near spans: [ClosedRange<Int>] = [], keeping: Set<Int> = [],
        maxLines: Int = 60
    ) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let picked = Array(Set(numbers.filter { $0 >= 1 && $0 <= lines.count })).sorted()
        var shown: [Int]
        if picked.count <= maxLines {
            shown = picked
        } else if spans.isEmpty {
            shown = Array(picked.prefix(maxLines))
        } else {
            func distance(_ line: Int) -> Int {
                spans.map { $0.contains(line) ? 0 : min(abs(line - $0.lowerBound), abs(line - $0.upperBound)) }
                    .min() ?? 0
            }
            let kept = picked.filter { keeping.contains($0) }.prefix(maxLines)
            let rest = picked.filter { !keeping.contains($0) }.sorted { (distance($0), $0) < (distance($1), $1) }
            shown = (Array(kept) + rest.prefix(maxLines - kept.count)).sorted()
        }
        let position = Dictionary(uniqueKeysWithValues: picked.enumerated().map { ($1, $0) })
        var result: [String] = []
        var previous: Int?
        for line in shown {
            let index = position[line] ?? 0
            if !spans.isEmpty, index > (previous.map { $0 + 1 } ?? 0) { result.append("…") }
            previous = index
            result.append("\(line): \(lines[line - 1].prefix(120))")
        }
        if picked.count > shown.count { result.append("(\(picked.count - shown.count) more definitions)") }
        return result.joined(separator: "\n")
    }
}
