import FerryCore
import FerrySandbox
import Foundation

/// The tools that change things: edit_file, write_file and shell.
extension ToolBox {
    // MARK: edit_file / write_file

    func editFile(_ args: JSONValue) throws -> String {
        let path = try workspace.resolve(try Self.require(args, "path", aliases: ["file"]))
        let old = try Self.require(args, "old", aliases: ["old_str", "old_string", "search"])
        let new = try Self.require(args, "new", aliases: ["new_str", "new_string", "replace"])
        try refuseGitDirectory(path)
        if !new.contains(old), configuration.protectedTests.protects(workspace.relative(path)) {
            throw FerryError(
                .tool,
                "refused: \(workspace.relative(path)) is a test file and the task does not ask to change it; an "
                    + "edit here may only add (keep `old` inside `new`). Fix the code under test instead.")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw FerryError(.tool, "\(workspace.relative(path)) does not exist; use write_file to create it")
        }
        if let size = LineWindow.regularFileSize(path), size > configuration.maxReadFileBytes {
            throw FerryError(
                .tool,
                "\(workspace.relative(path)) is \(size / 1_048_576) MB, over edit_file's \(configuration.maxReadFileBytes / 1_048_576) MB limit"
            )
        }
        guard LineWindow.regularFileSize(path) != nil, let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(.tool, "cannot read \(workspace.relative(path)) (not a regular file)")
        }
        let applied = try EditMatcher.apply(old: old, new: new, to: String(decoding: data, as: UTF8.self))
        try write(applied.content, to: path)
        let stageNote = applied.stage == .exact ? "" : " (matched after ignoring \(applied.stage.description))"
        let newLineCount = new.split(separator: "\n", omittingEmptySubsequences: false).count
        let snippet = try? readFile([
            "path": .string(path), "start_line": .number(Double(max(1, applied.line - 2))),
            "end_line": .number(Double(applied.line + newLineCount + 1)),
        ])
        return "Edited \(workspace.relative(path)) at line \(applied.line)\(stageNote). Now:\n" + (snippet ?? "")
    }

    func writeFile(_ args: JSONValue) throws -> String {
        let path = try workspace.resolve(try Self.require(args, "path", aliases: ["file"]))
        let content = try Self.require(args, "content", aliases: ["text"])
        try refuseGitDirectory(path)
        let existed = FileManager.default.fileExists(atPath: path)
        if existed, configuration.protectedTests.protects(workspace.relative(path)) {
            throw FerryError(
                .tool,
                "refused: \(workspace.relative(path)) is an existing test file and the task does not ask to change "
                    + "it. Fix the code under test instead; to add a test, use edit_file to add it to this file.")
        }
        let lines = content.split(separator: "\n", omittingEmptySubsequences: false).count
        if existed, let data = FileManager.default.contents(atPath: path) {
            let before = data.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            // A small model "writes" the few lines it means to change over a whole module (on click: 4 lines over
            // core.py's 3,000, kept by the step limit's partial commit).
            if Self.looksLikeAFragment(newLines: lines, oldLines: before) {
                throw FerryError(
                    .tool,
                    "refused: write_file replaces the whole file, and \(workspace.relative(path)) has \(before) "
                        + "lines where your content has \(lines). To change part of it, use edit_file with the lines "
                        + "to replace; write_file an existing file only with its complete new content.")
            }
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try write(content, to: path)
        return "\(existed ? "Overwrote" : "Created") \(workspace.relative(path)) (\(lines) lines)" + notes(for: path)
    }

    /// Whether content for an existing file keeps so few of its lines that it is a piece of it, not a new version:
    /// a file of 40 lines or more given back with under a quarter of them.
    static func looksLikeAFragment(newLines: Int, oldLines: Int) -> Bool {
        oldLines >= 40 && newLines * 4 < oldLines
    }

    func refuseGitDirectory(_ path: String) throws {
        let relative = workspace.relative(path)
        if relative == ".git" || relative.hasPrefix(".git/") {
            throw FerryError(.pathEscape, "the repository's .git is off limits")
        }
    }

    func write(_ content: String, to path: String) throws {
        do {
            try Workspace.write(Data(content.utf8), to: path)
        } catch {
            throw FerryError(.tool, "cannot write \(workspace.relative(path)): \(error.localizedDescription)")
        }
    }

    // MARK: shell

    func shell(_ args: JSONValue) async throws -> String {
        let command = try Self.require(args, "command", aliases: ["cmd", "script"])
        guard !command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw FerryError(.tool, "the command is empty")
        }
        if let given = args["timeout"], given != .null {
            guard let seconds = given.doubleValue, seconds > 0, seconds.isFinite else {
                throw FerryError(
                    .tool, "timeout must be a positive number of seconds (at most 3600), not \(given.jsonString)")
            }
        }
        let timeout = min(args["timeout"]?.doubleValue ?? configuration.shellTimeoutSeconds, 3600)
        let result = try await runner.run(
            CommandRequest(
                script: shellPrelude + command, workingDirectory: workspace.root, timeoutSeconds: timeout,
                outputLimit: configuration.outputLimit))
        let status =
            result.timedOut
            ? "timed out after \(Int(timeout))s"
            : result.exitCode.map { "exit code \($0)" } ?? "killed by signal \(result.signal ?? 0)"
        let output = result.output.isEmpty ? "(no output)" : result.output
        return "[\(status)]\n\(output)"
    }
}
