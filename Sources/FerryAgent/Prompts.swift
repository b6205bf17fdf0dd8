import FerryCore
import FerryWorkspace

/// The words Ferry says to the model. Kept short: every token here is paid for on every step.
enum Prompts {
    /// Files listed by name in the first prompt; beyond this the model gets the repo map and the index's tools.
    static let listedFiles = RunMachine.listedFiles

    static let system = """
        You are Ferry, an autonomous software engineer working in a git repository. Complete the task by reading \
        and searching the code, editing files, and running commands. Work in small verified steps:
        1. Find the relevant code (search, list_files, read_file).
        2. Reproduce the problem when practical (shell).
        3. Make the smallest correct change (edit_file; write_file for new files). Do not edit tests unless the \
        task asks for it.
        4. Run the tests (shell), then call finish with a short summary.
        Paths are relative to the repository root. Commands run in a sandbox without network access; the .git \
        directory is read-only, so do not commit. Be concise.
        """

    static func task(
        _ task: String, agents: AgentInstructions.File?, testCommand: String?, baseline: String?, files: [String],
        relevant: [RelevantFiles.File] = [], definitions: [SymbolUnit] = [], repoMap: String = "",
        earlierAttempt: String = ""
    ) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let agents {
            messages.append(
                .user("Project instructions from \(agents.path):\n\(agents.text)", pinned: true))
        }
        var context = "# Task\n\(task)\n\n# Repository\n"
        if files.count > listedFiles && !repoMap.isEmpty {
            // The first 60 paths in alphabetical order are mostly CI, docs and examples (about 650 tokens on click);
            // where the files are, and the map's ranking below, say more for a fifth of that.
            context +=
                outline(of: files)
                + "\nThe repo map below shows the files most related to the task; list_files, search_code and "
                + "find_symbol find the rest."
        } else {
            let shown = files.prefix(listedFiles)
            context += shown.joined(separator: "\n")
            if files.count > shown.count {
                context += "\n… and \(files.count - shown.count) more files (use list_files)"
            }
        }
        if let testCommand {
            context += "\n\n# Tests\nThe project's test command is `\(testCommand)`."
            if let baseline { context += " Before any change it reported:\n\(baseline)" }
        } else {
            context += "\n\n# Tests\nNo test command was found, so your change cannot be verified automatically."
        }
        if !repoMap.isEmpty {
            context +=
                "\n\n# Repo map\nThe files most related to the task, with their definitions (line: kind name):\n"
                + repoMap
        }
        context += RelevantFiles.render(relevant)
        context += RelevantFiles.render(definitions)
        context += earlierAttempt
        messages.append(.user(context, pinned: true))
        return messages
    }

    /// Where a repository's files are: each top-level folder with its file count (followed down while it holds a
    /// single folder and nothing else, so `src/` reads `src/click/`), then the files at the root.
    static func outline(of files: [String], maxRootFiles: Int = 20) -> String {
        var members: [String: [String]] = [:]
        var root: [String] = []
        for file in files {
            guard let slash = file.firstIndex(of: "/") else {
                root.append(file)
                continue
            }
            members[String(file[..<slash]), default: []].append(String(file[file.index(after: slash)...]))
        }
        var lines = ["\(files.count) files:"]
        for (top, paths) in members.sorted(by: { $0.key < $1.key }) {
            var label = top + "/"
            var inside = paths
            // Down through folders that hold one folder and no files.
            while let first = inside.first, let slash = first.firstIndex(of: "/") {
                let folder = first[..<slash]
                guard inside.allSatisfy({ $0.hasPrefix(folder + "/") }) else { break }
                label += folder + "/"
                inside = inside.map { String($0.dropFirst(folder.count + 1)) }
            }
            let count = paths.count
            lines.append("\(label) (\(count) file\(count == 1 ? "" : "s"))")
        }
        if !root.isEmpty {
            let shown = root.prefix(maxRootFiles)
            lines.append(
                "At the root: \(shown.joined(separator: ", "))"
                    + (root.count > shown.count ? ", and \(root.count - shown.count) more" : ""))
        }
        return lines.joined(separator: "\n")
    }

    static let compaction = """
        Summarise the conversation so far for your own later use: what you learned about the code (files, \
        functions, line numbers), what you changed, what you tried that failed, and what remains to do. Be \
        specific and brief; this summary replaces the older turns.
        """
}
