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
        relevant: [RelevantFiles.File] = [], repoMap: String = "", earlierAttempt: String = ""
    ) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let agents {
            messages.append(
                .user("Project instructions from \(agents.path):\n\(agents.text)", pinned: true))
        }
        var context = "# Task\n\(task)\n\n# Repository\n"
        let shown = files.prefix(listedFiles)
        context += shown.joined(separator: "\n")
        if files.count > shown.count { context += "\n… and \(files.count - shown.count) more files (use list_files)" }
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
        context += earlierAttempt
        messages.append(.user(context, pinned: true))
        return messages
    }

    static let compaction = """
        Summarise the conversation so far for your own later use: what you learned about the code (files, \
        functions, line numbers), what you changed, what you tried that failed, and what remains to do. Be \
        specific and brief; this summary replaces the older turns.
        """
}
