import FerryCore
import FerryWorkspace
import Foundation

/// Picks the files a task most likely concerns and shows them whole in the first prompt, within a token budget, so
/// the model starts from the right code instead of crawling for it (a small model often never finds it).
/// Files named in the task rank first, then files that contain the task's identifiers; tests rank below sources.
enum RelevantFiles {
    struct File: Hashable {
        var path: String
        var text: String
        var score: Double
    }

    static func select(task: String, files: [String], root: String, budgetTokens: Int) -> [File] {
        let lowerTask = task.lowercased()
        let identifiers = Self.identifiers(in: task)
        let words = Set(
            lowerTask.split { !$0.isLetter && !$0.isNumber && $0 != "_" }.map(String.init).filter { $0.count >= 5 })
        var scored: [File] = []
        for path in files {
            let full = root + "/" + path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: full),
                let size = attributes[.size] as? Int, size > 0, size <= 32_000,
                let data = FileManager.default.contents(atPath: full), !data.contains(0)
            else { continue }
            let name = (path as NSString).lastPathComponent.lowercased()
            let stem = (name as NSString).deletingPathExtension
            if [".lock", ".min.js", ".map", ".svg", ".json"].contains(where: { name.hasSuffix($0) })
                && !lowerTask.contains(name)
            {
                continue
            }
            let text = String(decoding: data, as: UTF8.self)
            let lowerText = text.lowercased()
            var score = 0.0
            if lowerTask.contains(path.lowercased()) || lowerTask.contains(name) { score += 10 }
            if stem.count >= 4, words.contains(stem) { score += 4 }
            for identifier in identifiers where text.contains(identifier) { score += 2 }
            for word in words where lowerText.contains(word) { score += 0.1 }
            if score < 1 { continue }
            if TestPaths.isTest(path) { score *= 0.5 }
            scored.append(File(path: path, text: text, score: score))
        }
        scored.sort { ($0.score, $1.path) > ($1.score, $0.path) }
        return fit(scored, budgetTokens: budgetTokens)
    }

    /// The files, best first, that fit the budget together (one too large is passed over for smaller ones).
    static func fit(_ files: [File], budgetTokens: Int) -> [File] {
        fit(files, text: \.text, budgetTokens: budgetTokens)
    }

    static func fit(_ units: [SymbolUnit], budgetTokens: Int) -> [SymbolUnit] {
        fit(units, text: \.text, budgetTokens: budgetTokens)
    }

    /// The first pieces, in order, that fit in `budgetTokens` together (one too large is passed over).
    private static func fit<Piece>(_ pieces: [Piece], text: (Piece) -> String, budgetTokens: Int) -> [Piece] {
        var chosen: [Piece] = []
        var used = 0
        for piece in pieces {
            let cost = cost(text(piece))
            if used + cost > budgetTokens { continue }
            chosen.append(piece)
            used += cost
        }
        return chosen
    }

    /// A piece's tokens in the prompt: its text at four bytes a token, and its heading and fence.
    static func cost(_ text: String) -> Int { text.utf8.count / 4 + 20 }

    /// Code-like words of the task: anything in backticks, and words with `_`, a dot, parentheses or inner capitals.
    static func identifiers(in task: String) -> Set<String> {
        var result: Set<String> = []
        let tokens = task.split { $0.isWhitespace || ",;:!?\"'`<>[]{}=".contains($0) }
        for raw in tokens {
            var token = String(raw)
            if let paren = token.firstIndex(of: "(") { token = String(token[..<paren]) }
            token = token.trimmingCharacters(in: CharacterSet(charactersIn: ".()"))
            guard token.count >= 3, token.first?.isLetter == true || token.first == "_" else { continue }
            let hasInnerCapital = token.dropFirst().contains { $0.isUppercase } && token.contains { $0.isLowercase }
            if token.contains("_") || hasInnerCapital || raw.contains("(") {
                result.insert(token)
            }
        }
        return result
    }

    static func render(_ files: [File]) -> String {
        guard !files.isEmpty else { return "" }
        var text = "\n\n# Files that look relevant (whole, with line numbers; no need to read them again)"
        for file in files {
            text += "\n\n## \(file.path)\n```\n\(numbered(file.text, from: 1))\n```"
        }
        return text
    }

    /// The definitions the first attempt was shown, as the files hold them now (its changes were undone).
    static func render(_ definitions: [SymbolUnit]) -> String {
        guard !definitions.isEmpty else { return "" }
        var text =
            "\n\n# Code the first attempt was shown (parts of files too large to show whole, with line numbers; no "
            + "need to read these lines again)"
        for unit in definitions {
            text += "\n\n## \(unit.heading)\n```\n\(numbered(unit.text, from: unit.startLine))\n```"
        }
        return text
    }

    /// `text` with each line numbered as `read_file` numbers them, the first `from`.
    static func numbered(_ text: String, from first: Int) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let count = lines.last == "" ? lines.count - 1 : lines.count
        return lines.prefix(count).enumerated().map { "\($0.offset + first)\t\($0.element)" }.joined(separator: "\n")
    }
}
