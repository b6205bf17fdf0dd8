import MCP

/// The tools Ferry's MCP server offers, with their JSON schemas. On a team server (`projectArgument`) every
/// repository tool takes the project it is about; over stdio there is one repository, the one `ferry mcp` serves.
enum MCPTools {
    static func string(_ description: String) -> Value { ["type": "string", "description": .string(description)] }
    static func integer(_ description: String, minimum: Int = 1, maximum: Int = 50) -> Value {
        ["type": "integer", "description": .string(description), "minimum": .int(minimum), "maximum": .int(maximum)]
    }

    static func schema(_ properties: [String: Value], required: [String], projectArgument: Bool) -> Value {
        var properties = properties
        var required = required
        if projectArgument {
            properties["project"] = string("The project (its id or name) on the team server.")
            required.append("project")
        }
        return [
            "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
            "additionalProperties": false,
        ]
    }

    static func all(projectArgument: Bool) -> [Tool] {
        let readOnly = Tool.Annotations(
            readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false)
        let taskID = ["id": string("The task's id, as run_task returned it.")]
        return [
            Tool(
                name: "search_code",
                description: "Search the repository's code and docs (BM25 over an index of symbols and chunks; "
                    + "identifiers are split, so parseHeader matches \"parse header\"). Returns excerpts with paths and line numbers.",
                inputSchema: schema(
                    [
                        "query": string("Words, identifiers or a phrase to look for."),
                        "limit": integer("How many excerpts (default 8)."),
                    ], required: ["query"], projectArgument: projectArgument),
                annotations: readOnly),
            Tool(
                name: "find_symbol",
                description: "Where a function, class, method or constant is defined (path, line range, signature) "
                    + "and where it is used.",
                inputSchema: schema(
                    ["name": string("The symbol's name, e.g. parse_header or Session.send.")],
                    required: ["name"], projectArgument: projectArgument),
                annotations: readOnly),
            Tool(
                name: "locate",
                description:
                    "Rank the files (and their likely functions) that a bug report or feature request is about, "
                    + "with the reasons for each.",
                inputSchema: schema(
                    [
                        "problem": string("The problem statement, a traceback, an issue's text."),
                        "limit": integer("How many files (default 10)."),
                    ], required: ["problem"], projectArgument: projectArgument),
                annotations: readOnly),
            Tool(
                name: "ask",
                description: "Answer a question about the code from retrieved excerpts, citing path:line. Streams the "
                    + "answer as progress notifications when the call carries a progress token.",
                inputSchema: schema(
                    ["question": string("The question about this repository's code.")],
                    required: ["question"], projectArgument: projectArgument),
                annotations: Tool.Annotations(
                    readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: true)),
            Tool(
                name: "run_task",
                description: "Start an autonomous run: Ferry edits the code in a sandbox on its own branch, runs the "
                    + "project's tests and verifies the change. Returns the task's id at once; poll task_status.",
                inputSchema: schema(
                    [
                        "task": string("What to do: a bug report, an issue, a feature request."),
                        "base": string("Start from this git ref instead of HEAD (optional)."),
                    ], required: ["task"],
                    projectArgument: projectArgument),
                annotations: Tool.Annotations(
                    readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true)),
            Tool(
                name: "task_status", description: "A task's status, spend and steps so far.",
                inputSchema: schema(taskID, required: ["id"], projectArgument: false), annotations: readOnly),
            Tool(
                name: "task_result",
                description: "A task's outcome: status and reason, branch and commit, the diff, cost, and the test "
                    + "evidence (the baseline and final test runs).",
                inputSchema: schema(taskID, required: ["id"], projectArgument: false), annotations: readOnly),
            Tool(
                name: "cancel_task", description: "Stop a running task; its partial change stays on its branch.",
                inputSchema: schema(taskID, required: ["id"], projectArgument: false),
                annotations: Tool.Annotations(
                    readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false)),
        ]
    }
}
