import FerryCore

extension ToolBox {
    static func object(_ properties: [String: JSONValue], required: [String]) -> JSONValue {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }

    static func field(_ type: String, _ description: String) -> JSONValue {
        ["type": .string(type), "description": .string(description)]
    }

    /// The tools the model sees, in the order it sees them. docs/TOOLS.md documents each.
    public static let allSpecs: [ToolSpec] = [
        ToolSpec(
            name: "read_file",
            description: "Read a file; the output has line numbers. Optionally a 1-based inclusive line range.",
            parameters: object(
                [
                    "path": field("string", "Path relative to the repository root"),
                    "start_line": field("integer", "First line to show"),
                    "end_line": field("integer", "Last line to show"),
                ], required: ["path"])),
        ToolSpec(
            name: "list_files",
            description: "List files matching a glob (e.g. `src/**/*.py`, `*.md`); respects .gitignore.",
            parameters: object(["glob": field("string", "Glob pattern; default `**`")], required: [])),
        ToolSpec(
            name: "search",
            description:
                "Search file contents with a regular expression; prints `path:line: text`. Respects .gitignore.",
            parameters: object(
                [
                    "pattern": field("string", "Regular expression"),
                    "path": field("string", "Directory or file to search in; default the whole repository"),
                    "glob": field("string", "Only files matching this glob"),
                ], required: ["pattern"])),
        ToolSpec(
            name: "edit_file",
            description:
                "Replace exactly one occurrence of `old` with `new` in a file. `old` must match the file's text, "
                + "including enough lines to be unique.",
            parameters: object(
                [
                    "path": field("string", "Path relative to the repository root"),
                    "old": field("string", "The exact text to replace"),
                    "new": field("string", "The replacement text"),
                ], required: ["path", "old", "new"])),
        ToolSpec(
            name: "write_file",
            description: "Create a file, or overwrite one, with the given content.",
            parameters: object(
                [
                    "path": field("string", "Path relative to the repository root"),
                    "content": field("string", "The whole new content"),
                ], required: ["path", "content"])),
        ToolSpec(
            name: "shell",
            description:
                "Run a bash command in the repository root, in a sandbox without network. Use it to run tests or "
                + "scripts. Long output keeps its head and tail.",
            parameters: object(
                [
                    "command": field("string", "The bash command"),
                    "timeout": field("integer", "Seconds before the command is killed (default 120)"),
                ], required: ["command"])),
        ToolSpec(
            name: "finish",
            description:
                "Call when the task is done. Ferry then runs the project's tests; if they fail you will be told.",
            parameters: object(
                ["summary": field("string", "What you changed and why, in a few sentences")], required: ["summary"])),
    ]

    /// The index's tools, offered when the repository has a knowledge index.
    public static let knowledgeSpecs: [ToolSpec] = [
        ToolSpec(
            name: "search_code",
            description:
                "Ranked search of the code and docs by meaning-bearing words (BM25 over functions and classes; "
                + "`parse_header` matches \"parse header\"). Prints `path:start-end symbol` with the first lines.",
            parameters: object(["query": field("string", "Words or identifiers to look for")], required: ["query"])),
        ToolSpec(
            name: "find_symbol",
            description:
                "Where a function, class or method is defined (`name` or `Class.name`) and the lines that use it.",
            parameters: object(["name": field("string", "The symbol name")], required: ["name"])),
    ]

    /// All tools with the index's inserted before `finish`.
    static func specs(withKnowledge: Bool) -> [ToolSpec] {
        guard withKnowledge else { return allSpecs }
        return allSpecs.dropLast() + knowledgeSpecs + allSpecs.suffix(1)
    }
}

/// Tools from outside Ferry (the MCP servers a config names), offered beside the built-in ones; FerryAgent
/// implements it over MCP clients. `call` answers nil for a name that is not one of its tools.
public protocol ExternalTools: Sendable {
    var specs: [ToolSpec] { get }
    func call(_ name: String, arguments: JSONValue) async throws -> String?
}

/// What the index offers the agent's tools; FerryIndex implements it (this module cannot depend on it).
public protocol CodeKnowledge: Sendable {
    func searchCode(_ query: String) async throws -> String
    func findSymbol(_ name: String) async throws -> String
}
