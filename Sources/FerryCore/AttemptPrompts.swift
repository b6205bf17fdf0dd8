import Foundation

/// What the whole-file attempt says to the model, and how it reads what comes back. Pure text; the
/// `AttemptMachine` decides when each is used.
public enum AttemptPrompts {
    /// A cautious token estimate for code (about three bytes a token).
    public static func tokens(_ text: String) -> Int { text.utf8.count / 3 + 1 }

    /// Whether a file can come back whole in one reply, with room to spare for a sentence or two.
    public static func fitsInReply(_ text: String, _ maxOutputTokens: Int) -> Bool {
        tokens(text) <= maxOutputTokens * 3 / 4
    }

    public static let system = """
        You are Ferry, an expert software engineer. You change the files you are given so that the task is done.
        First say, in one or two short sentences, what you will change. Then give each file you change as a file \
        listing: its path alone on the first line, then a fenced code block with the entire new content of the \
        file. Never leave out any of the file's lines, and never write "..." or "rest of the code" in a listing. \
        Change only what the task needs; keep the code's style; do not change tests; do not list files you leave \
        unchanged.

        Example: for "greet() should say Hey, not Hello" and a file greet.py, the reply is:
        I will change the greeting from "Hello" to "Hey".

        greet.py
        ```python
        def greet(name):
            return f"Hey {name}"
        ```
        """

    /// The files first and the task last, nearest to the answer (small models weigh the end of a prompt most).
    public static func prompt(task: String, files: [SourceFile], agents: SourceFile?) -> String {
        var text = ""
        if let agents { text += "# Project instructions (\(agents.path))\n\(agents.text)\n\n" }
        text += "# Files\n"
        for file in files {
            let body = file.text.hasSuffix("\n") ? String(file.text.dropLast()) : file.text
            text += "\n\(file.path)\n```\(fenceLanguage(file.path))\n\(body)\n```\n"
        }
        text += "\n# Task\n\(task)\n"
        return text
    }

    /// The reproduction request: one new test that fails now and passes once the task is done.
    public static let reproductionSystem = reproductionRequest(
        "add ONE new test function to the test file you are given that fails with the code as it is now and will "
            + "pass once the task is done. Use the concrete inputs and expected results the task gives. Keep every "
            + "existing test exactly as it is; only add.")

    /// The same for a test file that is a shell script of top-level checks: a "test function" there is defined and
    /// never called. On ferry-easy every bash reproduction test the 1.5B model wrote was a function that printed
    /// "Test failed" and exited 0, so each passed before any fix and was dropped.
    public static let scriptReproductionSystem = reproductionRequest(
        "add ONE new check at the end of the test script you are given, a command that exits non-zero with the code "
            + "as it is now and zero once the task is done, such as `test \"$(bin/tool input)\" = \"expected output\"`. "
            + "No functions, no echo of a verdict: the script's exit code is the result. Use the concrete inputs and "
            + "expected results the task gives. Keep every existing line exactly as it is; only add.")

    /// The request around `what` to add: who is asked, and the reply's form.
    static func reproductionRequest(_ what: String) -> String {
        "You are Ferry, an expert software engineer. Before the task is done, write a test that shows the problem: "
            + what + " Reply with the file's path alone on a line, then a fenced code block with the entire new "
            + "content of the test file. Nothing else."
    }

    /// The reproduction request's instructions for `testFile`: a shell script of top-level checks gets its own.
    public static func reproductionSystem(for testFile: SourceFile) -> String {
        guard fenceLanguage(testFile.path) == "bash" else { return reproductionSystem }
        let definesFunctions = testFile.text.split(separator: "\n").contains { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("function ") || text.hasPrefix("@test ") || text.contains("() {")
                || text.hasSuffix("()")
        }
        return definesFunctions ? reproductionSystem : scriptReproductionSystem
    }

    public static func reproductionPrompt(task: String, testFile: SourceFile) -> String {
        let body = testFile.text.hasSuffix("\n") ? String(testFile.text.dropLast()) : testFile.text
        return "# Test file\n\n\(testFile.path)\n```\(fenceLanguage(testFile.path))\n\(body)\n```\n\n# Task\n\(task)\n"
    }

    /// The lines `new` adds to `original`, when it keeps every line of it in order; nil when it changes or drops any.
    public static func addedLines(original: String, new: String) -> String? {
        let old = original.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        .filter { !$0.isEmpty }
        var added: [Substring] = []
        var index = 0
        for line in new.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if index < old.count, trimmed == old[index] {
                index += 1
            } else if !trimmed.isEmpty {
                added.append(line)
            }
        }
        guard index == old.count, !added.isEmpty else { return nil }
        return added.prefix(40).joined(separator: "\n")
    }

    /// Whether `new` differs from `old` only in blank lines and trailing spaces: a reply that changed nothing the code
    /// does. On sqlparse a reply deleted one blank line in a docstring'd method; the tests passed as before, and the
    /// attempt handed that back as its change, unverified. Not when the task is about layout itself.
    public static func layoutOnly(_ old: String?, _ new: String?, task: String) -> Bool {
        guard let old, let new, old != new else { return false }
        let layout = #"\b(whitespace|blank lines?|trailing|newlines?|indent\w*|format\w*|pep ?8|lint\w*|style)\b"#
        if task.range(of: layout, options: [.regularExpression, .caseInsensitive]) != nil { return false }
        // The lines with their trailing spaces cut, blank ones left out.
        func code(_ text: String) -> [Substring] {
            text.split(separator: "\n").compactMap { line in
                var line = line
                while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
                return line.isEmpty ? nil : line
            }
        }
        return code(old) == code(new)
    }

    /// Put after the request a reply answered with nothing changed, before it is sent again.
    public static func unchangedNote(symbols: Bool) -> String {
        "\n(A reply that changes no \(symbols ? "definition" : "file") does nothing: the task is not done yet. Find "
            + "the line that makes the code behave the way the task describes, and change it.)\n"
    }

    public static func retryPrompt(problems: [String], tests: TestRun?, changed: [String], symbols: Bool = false)
        -> String
    {
        var text = ""
        if let tests {
            text += "With your change to \(changed.joined(separator: ", ")), the tests (`\(tests.command)`) fail:\n"
            text += tests.describe(tailBytes: 1_500) + "\n\n"
        }
        if !problems.isEmpty {
            text += problems.joined(separator: "\n") + "\n\n"
        }
        if tests == nil && problems.isEmpty {
            text +=
                "Your reply changed no \(symbols ? "definition" : "file"), so the task is not done. Read the task "
                + "again and find the line that makes the code behave the way it describes.\n\n"
        }
        if symbols {
            return text + "Reply again with the complete corrected definition(s), each as its path and name on a "
                + "line and the whole definition in a fenced block."
        }
        return text + "Reply again with the complete corrected file(s), each as its path on a line and the whole "
            + "content in a fenced block."
    }

    /// What the tool loop is told when the attempt did not pass (its change has been put back).
    /// `shown` is what the attempt was shown whole (files, or definitions with their lines), so the loop can start
    /// from there rather than search for it again.
    public static func note(lastTests: TestRun?, changed: [String], replies: Int, shown: [String] = []) -> String {
        guard let lastTests, !changed.isEmpty else {
            let what = shown.isEmpty ? "" : " was shown \(shown.joined(separator: ", ")) and"
            return "\n\n# Earlier attempt\nA first attempt\(what) produced no usable change in \(replies) "
                + (replies == 1 ? "reply." : "replies.")
        }
        return "\n\n# Earlier attempt\nA first attempt rewrote \(changed.joined(separator: ", ")); the tests then "
            + "failed, so it was undone:\n" + lastTests.describe(tailBytes: 800)
    }

    public static func fenceLanguage(_ path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "py": "python"
        case "js", "mjs", "cjs": "javascript"
        case "ts": "typescript"
        case "sh", "bash": "bash"
        case "swift": "swift"
        case "rb": "ruby"
        case "go": "go"
        case "rs": "rust"
        default: ""
        }
    }

    /// The prose of a whole-file reply (what is wrong and how it was fixed), without the files and their paths.
    /// The prompts' examples' own sentences: a small model often copies one, and it says nothing of its change.
    static let exampleSentences: Set<String> = [
        "I will change the greeting from \"Hello\" to \"Hey\".", "I will round the sum to two decimals.",
    ]

    /// A listing's header line: a path or definition label alone, perhaps with a note such as `(lines 82-83)`.
    static func isHeader(_ line: String, paths: Set<String>) -> Bool {
        let text = line.trimmingCharacters(in: CharacterSet(charactersIn: "*`#: "))
        return paths.contains { path in
            guard text.hasPrefix(path) else { return false }
            let rest = text.dropFirst(path.count).trimmingCharacters(in: CharacterSet(charactersIn: "*`: "))
            return rest.isEmpty || (rest.hasPrefix("(") && rest.hasSuffix(")"))
        }
    }

    public static func summary(of reply: String, paths: Set<String>) -> String {
        var inFence = false
        var prose: [String] = []
        for line in reply.split(separator: "\n") {
            if WholeFileReply.openingFence(String(line)) != nil {
                inFence.toggle()
                continue
            }
            let text = line.trimmingCharacters(in: .whitespaces)
            if !inFence, !text.isEmpty, !isHeader(text, paths: paths), !exampleSentences.contains(text) {
                prose.append(text)
            }
        }
        let text = prose.joined(separator: " ")
        return text.isEmpty ? "Rewrote \(paths.sorted().joined(separator: ", "))." : String(text.prefix(500))
    }
}
