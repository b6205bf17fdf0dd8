import Foundation

/// A reply that gives the complete new text of each file it changes: the file's path on a line of its own, then a
/// fenced block with every line of the file (aider's "whole" format, the edit format small models break least).
///
/// Parsing is lenient about the path line (`path`, `` `path` ``, `**path**`, `### path`, `File: path:`, or the path
/// in the fence's info string) and strict about the content: a block that is cut off, that elides code with a
/// "rest of the code" comment, or that is much shorter than the file it replaces is refused, because writing it
/// would destroy the file.
public struct WholeFileReply: Hashable, Sendable {
    public struct File: Hashable, Sendable {
        public var path: String
        public var content: String

        public init(path: String, content: String) {
            self.path = path
            self.content = content
        }
    }

    /// Fence languages that mark a shell block (a command to run, unless the file is itself a script).
    public static let shellLanguages: Set<String> = ["bash", "sh", "shell", "console", "zsh"]

    /// The files to write, in the order they appear.
    public var files: [File]
    /// Why blocks were refused, in words for the model.
    public var problems: [String]

    /// Parses `reply`. `allowed` maps each path the model may write to its current text; a block for any other
    /// path is a problem, not a file.
    public static func parse(_ reply: String, allowed: [String: String]) -> WholeFileReply {
        var files: [File] = []
        var problems: [String] = []
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var blocks: [(path: String?, body: [String], closed: Bool, language: String)] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard let fence = openingFence(line) else {
                index += 1
                continue
            }
            let info = String(line.trimmingCharacters(in: .whitespaces).dropFirst(fence.count))
                .trimmingCharacters(in: .whitespaces)
            var path = pathIn(info: info, allowed: allowed)
            if path == nil {
                // The nearest non-blank line above the fence names the file.
                var above = index - 1
                while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).isEmpty { above -= 1 }
                if above >= 0, index - above <= 2 { path = cleanPathLine(lines[above]) }
            }
            var body: [String] = []
            var closed = false
            index += 1
            while index < lines.count {
                let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
                if trimmed == fence || (trimmed.hasPrefix(fence) && trimmed.allSatisfy { $0 == fence.first }) {
                    closed = true
                    index += 1
                    break
                }
                // A fence around the path alone ("```\npath\n```python\n…"): the path names the block that follows.
                if openingFence(trimmed) != nil, body.count == 1,
                    let named = match(cleanPathLine(body[0]), allowed: allowed)
                {
                    path = named
                    body = []
                    index += 1
                    continue
                }
                body.append(lines[index])
                index += 1
            }
            let language = info.split(separator: " ").first.map(String.init)?.lowercased() ?? ""
            blocks.append((path, body, closed, language))
        }

        // Blocks without a recognisable path, and one file they could be: the first that carries one of that file's
        // definitions is it (models often show the fix once, then ramble in more blocks).
        var unnamedChoice: Int?
        if allowed.count == 1, let (_, original) = allowed.first,
            !blocks.contains(where: { $0.path.flatMap { match($0, allowed: allowed) } != nil })
        {
            let signatures = signatureLines(original)
            unnamedChoice = blocks.indices.first { index in
                let block = blocks[index]
                // A shell block is usually a command to run, unless the file is itself a script.
                guard
                    !Self.shellLanguages.contains(block.language) || isScript(path: allowed.keys.first!, text: original)
                else { return false }
                if blocks.count == 1 { return true }
                let lines = Set(block.body.map { $0.trimmingCharacters(in: .whitespaces) })
                return signatures.contains { lines.contains($0) }
            }
        }
        for (number, block) in blocks.enumerated() {
            var path = block.path.flatMap { match($0, allowed: allowed) }
            if path == nil, number == unnamedChoice {
                path = allowed.keys.first
            }
            guard let path else {
                if let named = block.path, looksLikePath(named) {
                    problems.append("\(named) is not one of the files you were given; change only those files.")
                }
                continue
            }
            let original = allowed[path] ?? ""
            guard block.closed else {
                problems.append("The block for \(path) is cut off (no closing fence); give the whole file.")
                continue
            }
            let originalSet = Set(original.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
            if let marker = block.body.first(where: {
                isElision($0) && !originalSet.contains($0.trimmingCharacters(in: .whitespaces))
            }) {
                problems.append(
                    "The block for \(path) leaves code out (\"\(marker.trimmingCharacters(in: .whitespaces))\"); "
                        + "give every line of the file.")
                continue
            }
            let originalLines = original.split(separator: "\n", omittingEmptySubsequences: true).count
            let newLines = block.body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
            if originalLines >= 8, Double(newLines) < Double(originalLines) * 0.6 {
                problems.append(
                    "The block for \(path) has \(newLines) lines but the file has \(originalLines); give the whole "
                        + "file, not just the part you changed.")
                continue
            }
            var content = dedented(block.body, like: original).joined(separator: "\n")
            if original.hasSuffix("\n") || original.isEmpty { content += "\n" }
            if let existing = files.firstIndex(where: { $0.path == path }) {
                files[existing].content = content
            } else {
                files.append(File(path: path, content: content))
            }
        }
        return WholeFileReply(files: files, problems: problems)
    }

    /// Small models sometimes indent a whole file they quote. When every line of the block is indented and the
    /// file's own lines are not, the common indentation goes.
    static func dedented(_ body: [String], like original: String) -> [String] {
        func indent(_ line: Substring) -> Int { line.prefix { $0 == " " || $0 == "\t" }.count }
        let originalLines = original.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !originalLines.isEmpty, originalLines.contains(where: { indent($0) == 0 }) else { return body }
        let nonBlank = body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let common = nonBlank.map({ indent(Substring($0)) }).min(), common > 0 else { return body }
        return body.map { $0.trimmingCharacters(in: .whitespaces).isEmpty ? "" : String($0.dropFirst(common)) }
    }

    /// The lines of a file that define something (`def f(`, `class A`, `function g(`, `func h(`, `name() {`), trimmed;
    /// the first non-blank line when there are none.
    static func signatureLines(_ text: String) -> [String] {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let keywords = [
            "def ", "async def ", "class ", "function ", "func ", "export ", "fn ", "struct ", "public func ",
        ]
        let found = lines.filter { line in
            keywords.contains { line.hasPrefix($0) }
                || line.range(of: #"^[A-Za-z_][A-Za-z0-9_]*\(\)\s*\{"#, options: .regularExpression) != nil
        }
        return found.isEmpty ? Array(lines.prefix(1)) : found
    }

    static func isScript(path: String, text: String) -> Bool {
        ["sh", "bash", "zsh"].contains((path as NSString).pathExtension) || text.hasPrefix("#!")
    }

    /// The fence that opens a block (```` ``` ```` or `~~~`, three or more), or nil.
    public static func openingFence(_ line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        for mark in ["`", "~"] {
            let run = trimmed.prefix { String($0) == mark }
            if run.count >= 3 { return String(run) }
        }
        return nil
    }

    static func pathIn(info: String, allowed: [String: String]) -> String? {
        for word in info.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "=" || $0 == "\"" }) {
            if let path = match(String(word), allowed: allowed) { return path }
        }
        return nil
    }

    /// `### **src/a.py**:` → `src/a.py`.
    static func cleanPathLine(_ line: String) -> String {
        var text = line.trimmingCharacters(in: .whitespaces)
        // A numbered list item: "1. `path`", "2) path".
        if let range = text.range(of: #"^\d+[.)]\s+"#, options: .regularExpression) { text.removeSubrange(range) }
        for prefix in ["#", "*", "`", "-", ">"] {
            while text.hasPrefix(prefix) { text = String(text.dropFirst()).trimmingCharacters(in: .whitespaces) }
        }
        for label in ["file:", "filename:", "path:", "updated", "modified"] where text.lowercased().hasPrefix(label) {
            text = String(text.dropFirst(label.count)).trimmingCharacters(in: .whitespaces)
        }
        text = text.trimmingCharacters(in: CharacterSet(charactersIn: "*`:'\" "))
        return text
    }

    /// The allowed path a name refers to: itself, without `./`, or the one allowed file with that ending.
    static func match(_ name: String, allowed: [String: String]) -> String? {
        var name = name.trimmingCharacters(in: CharacterSet(charactersIn: "*`:'\" "))
        if name.hasPrefix("./") { name = String(name.dropFirst(2)) }
        guard !name.isEmpty else { return nil }
        if allowed[name] != nil { return name }
        let endings = allowed.keys.filter { $0.hasSuffix("/" + name) || name.hasSuffix("/" + $0) }
        return endings.count == 1 ? endings[0] : nil
    }

    static func looksLikePath(_ text: String) -> Bool {
        !text.contains(" ") && text.contains(".") && text.count < 200
    }

    /// A line that stands for code left out: `...`, `# ... rest of the code ...`, `// existing code unchanged`.
    static func isElision(_ line: String) -> Bool {
        let text = line.trimmingCharacters(in: .whitespaces).lowercased()
        let commentMarks = ["#", "//", "/*", "--", "<!--", "*"]
        var body = text
        var isComment = false
        for mark in commentMarks where body.hasPrefix(mark) {
            body = String(body.dropFirst(mark.count)).trimmingCharacters(in: .whitespaces)
            isComment = true
            break
        }
        if body == "..." || body == "…" { return true }
        guard isComment else { return false }
        let phrases = [
            "rest of the", "rest of code", "rest of file", "existing code", "remains unchanged",
            "unchanged code", "remaining code", "same as before", "other functions", "previous code",
        ]
        return phrases.contains { body.contains($0) }
    }
}
