import FerryAgent
import FerryCore
import FerryModels
import Foundation
import MCP

/// What an assistant surface needs from its host: the repository for a project (one over stdio; the tenant's
/// projects on a team server), the model, where tasks run, and where the spend of answers goes.
public struct AssistEnvironment: Sendable {
    public var repository: @Sendable (_ project: String?) async throws -> RepoAssistant
    public var model: @Sendable () async throws -> any ChatModel
    public var tasks: any TaskHost
    /// Whether tools name the project they are about (a team server has many).
    public var projectArgument: Bool
    /// Called after each model answer with its usage and cost (a server bills the key's tenant).
    public var recordUsage:
        @Sendable (_ project: String?, _ usage: Usage, _ costUSD: Double, _ model: String) async -> Void

    public init(
        repository: @escaping @Sendable (String?) async throws -> RepoAssistant,
        model: @escaping @Sendable () async throws -> any ChatModel,
        tasks: any TaskHost, projectArgument: Bool,
        recordUsage: @escaping @Sendable (String?, Usage, Double, String) async -> Void = { _, _, _, _ in }
    ) {
        self.repository = repository
        self.model = model
        self.tasks = tasks
        self.projectArgument = projectArgument
        self.recordUsage = recordUsage
    }
}

/// Ferry as a Model Context Protocol server (the MCP swift-sdk): the tools of `MCPTools`, resources for the repo map
/// and each task's trace, progress notifications while `ask` streams, and `notifications/cancelled` stopping the call
/// it names (the SDK cancels the handler's task; the model stream stops with it).
public enum FerryMCP {
    public static let version = "0.7.0"

    public static func makeServer(_ environment: AssistEnvironment) async -> Server {
        let server = Server(
            name: "ferry", version: version, title: "Ferry",
            instructions: "Ferry answers questions about this repository's code from its knowledge index (search_code, "
                + "find_symbol, locate, ask: answers cite path:line) and runs autonomous, test-verified changes "
                + "(run_task, then task_status / task_result; cancel_task).",
            capabilities: .init(
                resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))
        let tools = MCPTools.all(projectArgument: environment.projectArgument)
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: tools) }
        await server.withMethodHandler(CallTool.self) { [weak server] params in
            do {
                return try await call(params, environment, server: server)
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as ToolInputError {
                return .init(content: [.text(text: error.message, annotations: nil, _meta: nil)], isError: true)
            } catch {
                return .init(content: [.text(text: "\(error)", annotations: nil, _meta: nil)], isError: true)
            }
        }
        await server.withMethodHandler(ListResources.self) { _ in .init(resources: try await resources(environment)) }
        await server.withMethodHandler(ListResourceTemplates.self) { _ in
            .init(templates: templates(projectArgument: environment.projectArgument))
        }
        await server.withMethodHandler(ReadResource.self) { params in try await read(params.uri, environment) }
        return server
    }

    /// The repository map (for one repository) and the traces of recent tasks.
    static func resources(_ environment: AssistEnvironment) async throws -> [Resource] {
        var resources: [Resource] = []
        if !environment.projectArgument {
            resources.append(
                Resource(
                    name: "repo-map", uri: "ferry://repo-map", title: "Repository map",
                    description: "The most central files and their symbols, ranked by who uses whose names.",
                    mimeType: "text/plain"))
        }
        for task in try await environment.tasks.recent(limit: 20) {
            resources.append(
                Resource(
                    name: "trace-\(task.id)", uri: "ferry://tasks/\(task.id)/trace",
                    title: "Trace of \(task.title.prefix(60))", mimeType: "application/x-ndjson"))
        }
        return resources
    }

    static func templates(projectArgument: Bool) -> [Resource.Template] {
        [
            Resource.Template(
                uriTemplate: "ferry://tasks/{id}/trace", name: "task-trace", title: "A task's trace",
                description:
                    "Every event of a task's run as JSON lines: model calls, tool calls, test runs, the outcome.",
                mimeType: "application/x-ndjson"),
            projectArgument
                ? Resource.Template(
                    uriTemplate: "ferry://projects/{project}/repo-map", name: "repo-map",
                    title: "A project's repository map", mimeType: "text/plain")
                : Resource.Template(
                    uriTemplate: "ferry://repo-map", name: "repo-map", title: "Repository map", mimeType: "text/plain"),
        ]
    }

    static func read(_ uri: String, _ environment: AssistEnvironment) async throws -> ReadResource.Result {
        let parts =
            uri.hasPrefix("ferry://") ? uri.dropFirst("ferry://".count).split(separator: "/").map(String.init) : []
        switch parts.count {
        case 1 where parts[0] == "repo-map":
            let map = try await environment.repository(nil).repoMap()
            return .init(contents: [.text(map, uri: uri, mimeType: "text/plain")])
        case 3 where parts[0] == "projects" && parts[2] == "repo-map":
            let map = try await environment.repository(parts[1]).repoMap()
            return .init(contents: [.text(map, uri: uri, mimeType: "text/plain")])
        case 3 where parts[0] == "tasks" && parts[2] == "trace":
            return .init(contents: [
                .text(try await environment.tasks.trace(parts[1]), uri: uri, mimeType: "application/x-ndjson")
            ])
        default:
            throw MCPError.invalidParams("no resource \(uri)")
        }
    }

    struct ToolInputError: Error {
        var message: String
    }

    /// A tool call's arguments, read with the schema's rules: a missing or blank text, or a number out of bounds, is
    /// the caller's error (`ToolInputError`), never a trap.
    struct ToolArguments {
        let tool: String
        let values: [String: Value]

        func text(_ name: String) throws -> String {
            guard let value = values[name]?.stringValue, !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            else {
                throw ToolInputError(message: "\(tool) needs a non-empty \"\(name)\"")
            }
            return value
        }

        /// A whole number within the schema's bounds (1–50), else the caller's error: a value from outside never
        /// reaches an `Int(_:)` that would trap (`1e308` once took the server down for every tenant).
        func number(_ name: String, _ fallback: Int, in range: ClosedRange<Int> = 1...50) throws -> Int {
            guard let value = values[name], !value.isNull else { return fallback }
            let whole = value.intValue ?? value.doubleValue.flatMap { Int(exactly: $0) }
            guard let whole, range.contains(whole) else {
                throw ToolInputError(
                    message:
                        "\(tool): \"\(name)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return whole
        }
    }

    static func call(_ params: CallTool.Parameters, _ environment: AssistEnvironment, server: Server?) async throws
        -> CallTool.Result
    {
        let arguments = ToolArguments(tool: params.name, values: params.arguments ?? [:])
        let project = arguments.values["project"]?.stringValue
        if environment.projectArgument,
            ["search_code", "find_symbol", "locate", "ask", "run_task"].contains(params.name), project == nil
        {
            throw ToolInputError(message: "\(params.name) needs a \"project\" (its id or name)")
        }
        switch params.name {
        case "search_code", "find_symbol", "locate":
            return try await knowledge(params.name, arguments, repository: try await environment.repository(project))
        case "ask":
            return try await ask(
                try arguments.text("question"), project: project, token: params._meta?.progressToken, environment,
                server: server)
        case "run_task", "task_status", "task_result", "cancel_task":
            return try await task(params.name, arguments, project: project, tasks: environment.tasks)
        default:
            throw ToolInputError(message: "no tool named \(params.name)")
        }
    }

    /// `search_code`, `find_symbol` and `locate`: the repository's index, read.
    static func knowledge(_ tool: String, _ arguments: ToolArguments, repository: RepoAssistant) async throws
        -> CallTool.Result
    {
        switch tool {
        case "search_code":
            let results = try await repository.search(
                try arguments.text("query"), limit: try arguments.number("limit", 8))
            let summary =
                results.isEmpty
                ? "No matches."
                : results.map {
                    "\($0.path):\($0.startLine)-\($0.endLine)\($0.symbol.map { " \($0)" } ?? "")\n\($0.text)"
                }.joined(separator: "\n\n")
            return try result(summary, ["results": results])
        case "find_symbol":
            let symbol = try await repository.findSymbol(try arguments.text("name"))
            let summary =
                symbol.definitions.isEmpty && symbol.references.isEmpty
                ? "No symbol named \(try arguments.text("name"))."
                : (symbol.definitions.map {
                    "defined at \($0.path):\($0.line)\($0.endLine.map { "-\($0)" } ?? "") \($0.kind) \($0.name)\($0.signature ?? "")"
                }
                    + symbol.references.map { "used at \($0.path):\($0.line): \($0.text)" }).joined(separator: "\n")
            return try result(summary, symbol)
        default:
            let files = try await repository.locate(
                try arguments.text("problem"), limit: try arguments.number("limit", 10))
            let summary = files.enumerated().map {
                "\($0.offset + 1). \($0.element.path) (\($0.element.reasons.prefix(3).joined(separator: ", ")))"
            }.joined(separator: "\n")
            return try result(summary.isEmpty ? "No files matched." : summary, ["files": files])
        }
    }

    /// `run_task`, `task_status`, `task_result` and `cancel_task`: tasks run by the host (the CLI, or the server).
    static func task(_ tool: String, _ arguments: ToolArguments, project: String?, tasks: any TaskHost) async throws
        -> CallTool.Result
    {
        func state(_ report: TaskReport) -> String { "Task \(report.id) is \(report.status)" }
        switch tool {
        case "run_task":
            let started = try await tasks.start(
                task: try arguments.text("task"), project: project, base: arguments.values["base"]?.stringValue)
            return try result("Started task \(started.id); poll task_status with its id.", started)
        case "task_status":
            let status = try await tasks.status(try arguments.text("id"))
            return try result(state(status) + ".", status)
        case "task_result":
            let outcome = try await tasks.result(try arguments.text("id"))
            let diff = outcome.diff ?? ""
            let line = state(outcome) + ": \(outcome.reason ?? "")"
            return try result(diff.isEmpty ? line : line + "\n\n" + diff, outcome)
        default:
            let status = try await tasks.cancel(try arguments.text("id"))
            return try result(state(status) + ".", status)
        }
    }

    /// The answer streams to the client as progress notifications (one per chunk, the text so far's length as the
    /// progress) when it sent a progress token; the result carries the answer, its checked citations and sources.
    static func ask(
        _ question: String, project: String?, token: ProgressToken?, _ environment: AssistEnvironment, server: Server?
    ) async throws -> CallTool.Result {
        let repository = try await environment.repository(project)
        let model = try await environment.model()
        let progress = ProgressStream(token: token, server: server)
        let answer = try await repository.ask(
            question, model: model,
            onRetrieved: { sources, tokens in
                progress.send(
                    "read \(sources.count) excerpt(s): "
                        + sources.prefix(6).map { "\($0.path):\($0.startLine)-\($0.endLine)" }.joined(separator: ", ")
                        + "; asking with ~\(tokens) tokens")
            },
            onText: { progress.send($0) })
        await progress.finish()
        await environment.recordUsage(project, answer.usage, answer.costUSD, model.profile.model)
        return try result(answer.answer, answer)
    }

    static func result<Output: Codable>(_ summary: String, _ structured: Output) throws -> CallTool.Result {
        try CallTool.Result(
            content: [.text(text: summary, annotations: nil, _meta: nil)], structuredContent: structured)
    }
}
