import FerryCore
import Foundation

/// SEARCH/REPLACE edit blocks in a text reply (aider's format), read as `edit_file` and `write_file` calls.
extension TextToolProtocol {
    // MARK: - SEARCH/REPLACE blocks

    static func isMarker(_ line: Substring, _ char: Character, word: String?) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let run = trimmed.prefix { $0 == char }
        guard run.count >= 5, run.count <= 9 else { return false }
        let rest = trimmed.dropFirst(run.count).trimmingCharacters(in: .whitespaces)
        if let word { return rest.uppercased() == word }
        return rest.isEmpty
    }

    /// `path` then (optionally inside a fence) `<<<<<<< SEARCH` / old / `=======` / new / `>>>>>>> REPLACE`.
    static func editBlocks(in reply: String) -> [Parsed] {
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false)
        var results: [Parsed] = []
        var index = 0
        while index < lines.count {
            guard isMarker(lines[index], "<", word: "SEARCH") else {
                index += 1
                continue
            }
            let path = editPath(before: index, in: lines)
            var old: [Substring] = []
            var new: [Substring] = []
            var cursor = index + 1
            while cursor < lines.count, !isMarker(lines[cursor], "=", word: nil) {
                old.append(lines[cursor])
                cursor += 1
            }
            guard cursor < lines.count else {
                results.append(.error("An edit block has `<<<<<<< SEARCH` but no `=======` line."))
                break
            }
            cursor += 1
            while cursor < lines.count, !isMarker(lines[cursor], ">", word: "REPLACE") {
                // A truncated block ends at its closing fence.
                if lines[cursor].trimmingCharacters(in: .whitespaces) == "```", cursor + 1 >= lines.count { break }
                new.append(lines[cursor])
                cursor += 1
            }
            index = cursor + 1
            guard let path else {
                results.append(
                    .error(
                        "Put the file's path on the line just before each `<<<<<<< SEARCH` block (or before its ``` fence)."
                    ))
                continue
            }
            let oldText = old.joined(separator: "\n")
            let newText = new.joined(separator: "\n")
            if oldText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                results.append(
                    .call(name: "write_file", arguments: ["path": .string(path), "content": .string(newText + "\n")]))
            } else {
                results.append(
                    .call(
                        name: "edit_file",
                        arguments: ["path": .string(path), "old": .string(oldText), "new": .string(newText)]))
            }
        }
        return results
    }

    /// The path for an edit block: the nearest non-empty line above it (skipping a fence line, whose info string
    /// may itself hold the path), cleaned of Markdown decoration.
    static func editPath(before index: Int, in lines: [Substring]) -> String? {
        var cursor = index - 1
        while cursor >= 0 {
            let line = lines[cursor].trimmingCharacters(in: .whitespaces)
            if line.isEmpty {
                cursor -= 1
                continue
            }
            if line.hasPrefix("```") {
                let info = line.dropFirst(3).split(separator: " ").map(String.init)
                if let candidate = info.last(where: { looksLikePath($0) }) { return clean(candidate) }
                cursor -= 1
                continue
            }
            let cleaned = clean(line)
            return looksLikePath(cleaned) ? cleaned : nil
        }
        return nil
    }

    static func clean(_ text: String) -> String {
        var value = text.trimmingCharacters(in: .whitespaces)
        for prefix in ["File:", "file:", "Path:", "path:", "#"] where value.hasPrefix(prefix) {
            value = String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        }
        return value.trimmingCharacters(in: CharacterSet(charactersIn: "*`'\":")).trimmingCharacters(in: .whitespaces)
    }

    static func looksLikePath(_ text: String) -> Bool {
        let value = clean(text)
        return !value.isEmpty && !value.contains(" ") && (value.contains(".") || value.contains("/"))
            && !value.hasPrefix("<") && value.count < 200
    }
}
