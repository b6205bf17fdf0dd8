import FerryServer
import FerryServerStore
import Foundation

/// A unified diff as the task page shows it: file by file, each line with its old and new numbers and its code
/// coloured by a small per-line highlighter (keywords, strings, comments, numbers). All text is escaped here.
struct DiffView {
    struct Line {
        var kind: String  // add, del, ctx, hunk
        var old: Int?
        var new: Int?
        var html: String
    }

    var path: String
    var added = 0
    var removed = 0
    var lines: [Line] = []

    var values: [String: Any] {
        [
            "path": path, "added": added, "removed": removed,
            "lines": lines.map {
                [
                    "kind": $0.kind, "old": $0.old.map(String.init) ?? "", "new": $0.new.map(String.init) ?? "",
                    "html": $0.html,
                ]
            },
        ]
    }

    static func files(_ patch: String) -> [DiffView] {
        var files: [DiffView] = []
        var current: DiffView?
        var old = 0
        var new = 0
        var language = Language.plain
        for raw in patch.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("diff --git ") {
                if let current { files.append(current) }
                let path = line.components(separatedBy: " b/").last ?? line
                current = DiffView(path: path)
                language = Language(path: path)
            } else if line.hasPrefix("+++ ") || line.hasPrefix("--- ") || line.hasPrefix("index ")
                || line.hasPrefix("new file") || line.hasPrefix("deleted file") || line.hasPrefix("similarity")
                || line.hasPrefix("rename ") || line.hasPrefix("old mode") || line.hasPrefix("new mode")
                || line.hasPrefix("Binary")
            {
                if line.hasPrefix("+++ b/") { current?.path = String(line.dropFirst(6)) }
                continue
            } else if line.hasPrefix("@@") {
                // @@ -a,b +c,d @@ context
                let numbers = line.split(separator: " ").dropFirst().prefix(2)
                old = Int(numbers.first?.dropFirst().split(separator: ",").first ?? "") ?? 0
                new = Int(numbers.dropFirst().first?.dropFirst().split(separator: ",").first ?? "") ?? 0
                current?.lines.append(Line(kind: "hunk", old: nil, new: nil, html: Dashboard.escape(line)))
            } else if current != nil {
                guard let first = line.first else { continue }
                let code = String(line.dropFirst())
                switch first {
                case "+":
                    current?.lines.append(Line(kind: "add", old: nil, new: new, html: language.highlight(code)))
                    current?.added += 1
                    new += 1
                case "-":
                    current?.lines.append(Line(kind: "del", old: old, new: nil, html: language.highlight(code)))
                    current?.removed += 1
                    old += 1
                case "\\":
                    current?.lines.append(Line(kind: "hunk", old: nil, new: nil, html: Dashboard.escape(line)))
                default:
                    current?.lines.append(Line(kind: "ctx", old: old, new: new, html: language.highlight(code)))
                    old += 1
                    new += 1
                }
            }
        }
        if let current { files.append(current) }
        return files
    }

    /// What the highlighter knows of a file's language, from its extension.
    struct Language {
        var keywords: Set<String>
        var lineComment: String?

        static let plain = Language(keywords: [], lineComment: nil)

        init(keywords: Set<String>, lineComment: String?) {
            self.keywords = keywords
            self.lineComment = lineComment
        }

        init(path: String) {
            let ext = (path as NSString).pathExtension.lowercased()
            let cLike: Set<String> = [
                "if", "else", "for", "while", "return", "break", "continue", "switch", "case", "default", "do", "const",
                "let",
                "var", "func", "function", "class", "struct", "enum", "import", "package", "public", "private",
                "static",
                "new", "try", "catch", "throw", "throws", "true", "false", "null", "nil", "void", "int", "fn", "pub",
                "use",
                "mut", "impl", "self", "this", "async", "await", "interface", "type", "go", "defer", "guard", "in",
                "of",
            ]
            switch ext {
            case "py":
                self.init(
                    keywords: [
                        "def", "class", "return", "if", "elif", "else", "for", "while", "in", "not", "and", "or",
                        "import", "from",
                        "as", "try", "except", "finally", "raise", "with", "yield", "lambda", "None", "True", "False",
                        "pass",
                        "break", "continue", "is", "global", "async", "await", "self",
                    ], lineComment: "#")
            case "rb", "sh", "bash", "toml", "yaml", "yml":
                self.init(
                    keywords: [
                        "def", "end", "if", "else", "elsif", "then", "fi", "do", "done", "return", "true", "false",
                        "nil",
                    ], lineComment: "#")
            case "swift", "js", "ts", "jsx", "tsx", "go", "rs", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "m",
                "scala":
                self.init(keywords: cLike, lineComment: "//")
            default:
                self = .plain
            }
        }

        /// One line as escaped HTML with `<span class>` around keywords (k), strings (s), comments (c), numbers (n).
        func highlight(_ code: String) -> String {
            guard !keywords.isEmpty || lineComment != nil else { return Dashboard.escape(code) }
            var out = ""
            let chars = Array(code)
            var i = 0
            func span(_ cls: String, _ text: String) {
                out += "<span class=\"\(cls)\">" + Dashboard.escape(text) + "</span>"
            }
            while i < chars.count {
                let c = chars[i]
                if let comment = lineComment, String(chars[i...].prefix(comment.count)) == comment {
                    span("c", String(chars[i...]))
                    break
                }
                if c == "\"" || c == "'" || c == "`" {
                    var j = i + 1
                    while j < chars.count, chars[j] != c { j += chars[j] == "\\" ? 2 : 1 }
                    let end = min(j + 1, chars.count)
                    span("s", String(chars[i..<end]))
                    i = end
                    continue
                }
                if c.isLetter || c == "_" {
                    var j = i
                    while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                    let word = String(chars[i..<j])
                    if keywords.contains(word) { span("k", word) } else { out += Dashboard.escape(word) }
                    i = j
                    continue
                }
                if c.isNumber {
                    var j = i
                    while j < chars.count, chars[j].isNumber || chars[j] == "." || chars[j] == "_" { j += 1 }
                    span("n", String(chars[i..<j]))
                    i = j
                    continue
                }
                out += Dashboard.escape(String(c))
                i += 1
            }
            return out
        }
    }
}
