import FerryCore
import FerryIndex
import FerryWorkspace
import Foundation

/// The definitions the attempt shows whole when the task's likeliest file is too large to come back in one reply:
/// the index ranks files and the definitions in them from the task's text (no model), and gives their spans.
enum AttemptSymbols {
    struct Choice {
        var files: [SourceFile]
        var units: [SymbolUnit]
        var outlines: [String: String]
    }

    /// Definitions shown at most, and the files they may come from.
    static let maxUnits = 3
    static let maxFiles = 2

    /// Nil when the likeliest file is small enough for the whole-file attempt, or no definition can be shown.
    static func choose(task: String, index: CodeIndex, root: String, maxOutputTokens: Int) throws -> Choice? {
        let protection = ToolBox.TestProtection.allExcept(mentionedIn: task)
        let located = try index.locate(task, limit: 6).filter {
            !protection.protects($0.path) && !TestPaths.isTest($0.path)
        }
        guard let top = located.first, let topText = read(root, top.path) else { return nil }
        guard !AttemptPrompts.fitsInReply(topText, maxOutputTokens) else { return nil }
        var units: [SymbolUnit] = []
        var files: [SourceFile] = []
        var outlines: [String: String] = [:]
        for file in located.prefix(maxFiles) where file.score >= top.score * 0.5 && units.count < maxUnits {
            guard let text = read(root, file.path) else { continue }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let definitions = try index.definitions(in: file.path)
            var chosen: [SymbolUnit] = []
            for name in file.functions where units.count + chosen.count < maxUnits {
                let matches = definitions.filter { $0.qualifiedName == name && ($0.endLine ?? 0) >= $0.line }
                guard let definition = matches.min(by: { ($0.endLine! - $0.line) < ($1.endLine! - $1.line) }),
                    let unit = unit(definition, path: file.path, lines: lines),
                    AttemptPrompts.fitsInReply(unit.text, maxOutputTokens),
                    !chosen.contains(where: { $0.startLine <= unit.endLine && unit.startLine <= $0.endLine })
                else { continue }
                chosen.append(unit)
            }
            guard !chosen.isEmpty else { continue }
            units += chosen.sorted { $0.startLine < $1.startLine }
            files.append(SourceFile(path: file.path, text: text))
            outlines[file.path] = outline(text, definitions: definitions, around: chosen)
        }
        return units.isEmpty ? nil : Choice(files: files, units: units, outlines: outlines)
    }

    /// A definition's lines, its decorators (`@…` lines right above, at its indentation) included.
    static func unit(_ definition: SymbolDefinition, path: String, lines: [Substring]) -> SymbolUnit? {
        guard let end = definition.endLine, definition.line >= 1, end <= lines.count, end >= definition.line else {
            return nil
        }
        let indentation = lines[definition.line - 1].prefix { $0 == " " || $0 == "\t" }
        var start = definition.line
        while start > 1 {
            let above = lines[start - 2]
            guard above.hasPrefix(indentation), above.dropFirst(indentation.count).hasPrefix("@") else { break }
            start -= 1
        }
        var last = end
        // ctags may end a span on the blank lines after it; they are not the definition's.
        while last > start, lines[last - 1].trimmingCharacters(in: .whitespaces).isEmpty { last -= 1 }
        let text = lines[(start - 1)..<last].joined(separator: "\n")
        return SymbolUnit(path: path, name: definition.qualifiedName, startLine: start, endLine: last, text: text)
    }

    /// The file's top-level definitions and the members of the classes the units sit in.
    static func outline(_ text: String, definitions: [SymbolDefinition], around units: [SymbolUnit]) -> String {
        let scopes = Set(
            units.flatMap { unit -> [String] in
                let parts = unit.name.split(separator: ".").map(String.init)
                return (1..<max(parts.count, 1)).map { parts.prefix($0).joined(separator: ".") }
            })
        let picked = definitions.filter { $0.scope == nil || scopes.contains($0.scope!) }.map(\.line)
        return AttemptPrompts.outline(of: text, lines: picked)
    }

    static func read(_ root: String, _ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: root + "/" + path), !data.contains(0) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
