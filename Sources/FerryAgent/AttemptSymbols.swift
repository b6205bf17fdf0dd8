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

    /// Nil when the likeliest files (the first, and the next if it scores at least half as well) are all small
    /// enough for the whole-file attempt, or no definition can be shown.
    ///
    /// One large file among them is enough: the whole-file attempt could rewrite only the small ones, so a task whose
    /// fix is in the large one could never be done there (on click, "Hide `Sentinel.UNSET` … in
    /// `lookup_default()`" ranks the 36-line file defining `Sentinel` first and `core.py`, where the fix is, second).
    /// The definitions are taken from the files in turn, large files first, so each file gets some.
    static func choose(task: String, index: CodeIndex, root: String, maxOutputTokens: Int) throws -> Choice? {
        let protection = ToolBox.TestProtection.allExcept(mentionedIn: task)
        let located = try index.locate(task, limit: 6).filter {
            !protection.protects($0.path) && !TestPaths.isTest($0.path)
        }
        guard let top = located.first else { return nil }
        let group = located.prefix(maxFiles).filter { $0.score >= top.score * 0.5 }.compactMap { file in
            read(root, file.path).map {
                (file: file, text: $0, large: !AttemptPrompts.fitsInReply($0, maxOutputTokens))
            }
        }
        guard group.contains(where: \.large) else { return nil }
        let ordered = group.filter(\.large) + group.filter { !$0.large }
        // Each file's definitions in the index's order, whole, each fitting in a reply, none overlapping another.
        var perFile: [(definitions: [SymbolDefinition], candidates: [SymbolUnit])] = []
        for entry in ordered {
            let lines = entry.text.split(separator: "\n", omittingEmptySubsequences: false)
            let definitions = try index.definitions(in: entry.file.path)
            var candidates: [SymbolUnit] = []
            for name in entry.file.functions where candidates.count < maxUnits {
                let matches = definitions.filter { $0.qualifiedName == name && ($0.endLine ?? 0) >= $0.line }
                guard let (definition, found) = implementation(of: matches, path: entry.file.path, lines: lines)
                else { continue }
                var unit = found
                if !AttemptPrompts.fitsInReply(unit.text, maxOutputTokens) {
                    // A class has its methods for units; a long function shows the part the task is likeliest in.
                    guard !isClass(definition),
                        let part = part(of: unit, task: task, budget: partBytes(maxOutputTokens))
                    else { continue }
                    unit = part
                }
                guard !candidates.contains(where: { $0.startLine <= unit.endLine && unit.startLine <= $0.endLine })
                else { continue }
                candidates.append(unit)
            }
            perFile.append((definitions, candidates))
        }
        // In turn: the first of each file, then the second of each, until `maxUnits`.
        var picked = Array(repeating: [SymbolUnit](), count: perFile.count)
        var taken = 0
        for round in 0..<maxUnits {
            for (file, entry) in perFile.enumerated() where round < entry.candidates.count && taken < maxUnits {
                picked[file].append(entry.candidates[round])
                taken += 1
            }
        }
        var units: [SymbolUnit] = []
        var files: [SourceFile] = []
        var outlines: [String: String] = [:]
        for ((entry, found), chosen) in zip(zip(ordered, perFile), picked) where !chosen.isEmpty {
            units += chosen.sorted { $0.startLine < $1.startLine }
            files.append(SourceFile(path: entry.file.path, text: entry.text))
            outlines[entry.file.path] = outline(entry.text, definitions: found.definitions, around: chosen)
        }
        return units.isEmpty ? nil : Choice(files: files, units: units, outlines: outlines)
    }

    /// The most a part of a long definition may hold, in bytes: about a third of a reply, so that it and the
    /// sentence before it come back well within one (a small model on a CPU writes some 20 tokens a second). At
    /// about three bytes a token (`AttemptPrompts.tokens`), a third of the reply's tokens is as many bytes.
    static func partBytes(_ maxOutputTokens: Int) -> Int { maxOutputTokens }

    static func isClass(_ definition: SymbolDefinition) -> Bool {
        ["class", "struct", "enum", "protocol", "interface", "trait", "impl", "extension", "module"].contains(
            definition.kind)
    }

    /// Of the definitions one name has, the one whose code runs, as a unit: `@overload` stubs aside (typed Python
    /// declares a function's signatures as `...` stubs above it; on click the attempt showed
    /// `Context.lookup_default`'s first stub, `-> t.Any | None: ...`, and the model had nothing to change), then the
    /// shortest span (ctags may give a name twice, once for a larger enclosing span); of a variable's assignments,
    /// the longest.
    static func implementation(of matches: [SymbolDefinition], path: String, lines: [Substring]) -> (
        SymbolDefinition, SymbolUnit
    )? {
        let candidates = matches.compactMap { definition in
            unit(definition, path: path, lines: lines).map { (definition, $0) }
        }
        let real = candidates.filter { !isOverloadStub($0.0.line, lines: lines) }
        let size = { (unit: SymbolUnit) in unit.endLine - unit.startLine }
        // A module variable assigned twice holds its data in the longer: sqlparse's `SQL_REGEX = {…}` (a hundred
        // lines of rules) is followed by `SQL_REGEX = [… for rx, tt in SQL_REGEX['root']]`, one line with nothing
        // to change.
        if !real.isEmpty, real.allSatisfy({ $0.0.kind == "variable" }) {
            return real.max { size($0.1) < size($1.1) }
        }
        return (real.isEmpty ? candidates : real).min { size($0.1) < size($1.1) }
    }

    /// The first line of the decorators (`@…` lines right above, at its indentation) of the definition at `line`
    /// (1-based), or `line` itself when it has none.
    static func decoratorsStart(_ line: Int, lines: [Substring]) -> Int {
        guard line >= 1, line <= lines.count else { return line }
        let indentation = lines[line - 1].prefix { $0 == " " || $0 == "\t" }
        var start = line
        while start > 1 {
            let above = lines[start - 2]
            guard above.hasPrefix(indentation), above.dropFirst(indentation.count).hasPrefix("@") else { break }
            start -= 1
        }
        return start
    }

    /// Whether the definition at `line` is decorated `@overload` (`@t.overload`, `@typing.overload`, …): a
    /// signature only.
    static func isOverloadStub(_ line: Int, lines: [Substring]) -> Bool {
        guard line >= 1, line <= lines.count else { return false }
        return lines[(decoratorsStart(line, lines: lines) - 1)..<(line - 1)].contains {
            let decorator = $0.trimmingCharacters(in: .whitespaces).dropFirst().prefix { $0 != "(" }
            return decorator == "overload" || decorator.hasSuffix(".overload")
        }
    }

    /// The part of a too-long definition the task's words point at (`DefinitionWindow`), as a unit of its own.
    static func part(of whole: SymbolUnit, task: String, budget: Int) -> SymbolUnit? {
        let lines = whole.text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let window = DefinitionWindow.best(lines: lines, task: task, budget: budget) else { return nil }
        return SymbolUnit(
            path: whole.path, name: whole.name, startLine: whole.startLine + window.lowerBound,
            endLine: whole.startLine + window.upperBound, text: lines[window].joined(separator: "\n"),
            definition: whole.startLine...whole.endLine)
    }

    /// A definition's lines, its decorators (`@…` lines right above, at its indentation) included.
    static func unit(_ definition: SymbolDefinition, path: String, lines: [Substring]) -> SymbolUnit? {
        guard let end = definition.endLine, definition.line >= 1, end <= lines.count, end >= definition.line else {
            return nil
        }
        let start = decoratorsStart(definition.line, lines: lines)
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
        let picked = definitions.filter { $0.scope.map(scopes.contains) ?? true }.map(\.line)
        let headers = Set(definitions.filter { scopes.contains($0.qualifiedName) }.map(\.line))
        return AttemptPrompts.outline(
            of: text, lines: picked, near: units.map { $0.definition ?? $0.startLine...$0.endLine }, keeping: headers,
            maxLines: outlineLines)
    }

    /// Outline lines at most for each file: the definitions around the ones shown, and their classes' headers.
    static let outlineLines = 24

    static func read(_ root: String, _ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: root + "/" + path), !data.contains(0) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
