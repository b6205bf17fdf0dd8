import ArgumentParser
import FerryAgent
import FerryAssist
import FerryCore
import FerryEval
import FerryModels
import FerryStore
import FerryWorkspace
import Foundation
import Logging
import MCP

/// One repository's assistant in this process: its index (opened on first use), the model (the embedded model's
/// server started when first needed, stopped with the session), the local run store and a task host. Shared by
/// `ferry mcp` and `ferry chat`.
final class LocalAssist: Sendable {
    let root: String
    let config: FerryConfig
    let profile: ModelProfile
    let models: ModelPool
    let store: SQLiteRunStore
    let tasks: LocalTaskHost
    /// With `--server`: the task tools hand tasks to the team server's queue instead of running them here.
    let remote: RemoteTaskHost?
    private let opening: Task<RepoAssistant, any Error>

    init(repo: String?, modelOptions: ModelOptions, remote: RemoteTaskHost? = nil) async throws {
        self.remote = remote
        let environment = ProcessInfo.processInfo.environment
        let root = try await Git.root(of: EvalOptions.absolute(repo ?? FileManager.default.currentDirectoryPath))
        let config = try ConfigLoader.load(repo: root, environment: environment)
        try config.validate()
        let profile = try modelOptions.resolve(config: config, environment: environment)
        let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
        let store = try SQLiteRunStore(path: config.storePath)
        let secrets = Redactor.secrets(in: environment, extra: apiKey.map { [$0] } ?? [])
        try await RunReconciler(
            store: store, redactor: Redactor(secrets: secrets), maxFileBytes: config.maxCommitFileBytes
        ).reconcile()
        self.root = root
        self.config = config
        self.profile = profile
        self.store = store
        models = ModelPool(config: config, environment: environment)
        tasks = LocalTaskHost(
            repo: root, config: config, store: store, models: models, profile: profile, secrets: secrets)
        opening = Task { try await RepoAssistant.open(root: root) }
    }

    var environment: AssistEnvironment {
        AssistEnvironment(
            repository: { [opening] _ in try await opening.value },
            model: { [models, profile] in try await models.model(for: profile) },
            tasks: remote ?? tasks, projectArgument: false)
    }

    func assistant() async throws -> RepoAssistant { try await opening.value }
    func model() async throws -> any ChatModel { try await models.model(for: profile) }

    /// Cancels the runs still going (they are recorded `interrupted`) and stops the model's server.
    func shutdown() async {
        await tasks.shutdown()
        await remote?.shutdown()
        await models.shutdown()
    }
}

struct McpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve this repository to MCP clients (Claude Code, Codex, Cursor, VS Code, Zed) over stdio.",
        discussion: """
            Tools: search_code, find_symbol, locate, ask (progress while it streams), run_task, task_status, \
            task_result, cancel_task. Resources: ferry://repo-map and ferry://tasks/{id}/trace. Logs go to stderr; \
            stdout carries only the protocol. Register it with, e.g., `claude mcp add ferry -- ferry mcp --repo .`.
            """)

    @Option(help: "The repository (default: the current directory).") var repo: String?
    @Option(help: "Hand run_task to this team server (its URL) instead of running tasks here.") var server: String?
    @Option(help: "The server's project for run_task (with --server).") var project: String?
    @Option(help: "The environment variable that holds the server's API key (else ferry login's key).")
    var serverKeyEnv = "FERRY_API_KEY"
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        var remote: RemoteTaskHost?
        if let server {
            guard let project else {
                throw FerryError(.usage, "--server needs --project NAME (the server's project for run_task)")
            }
            let key = try Credentials.serverKey(
                for: server, envName: serverKeyEnv, environment: ProcessInfo.processInfo.environment)
            remote = RemoteTaskHost(baseURL: server, key: key, project: project)
        }
        let assist = try await LocalAssist(repo: repo, modelOptions: modelOptions, remote: remote)
        let logger = {
            var logger = Logger(label: "ferry.mcp") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            return logger
        }()
        let server = await FerryMCP.makeServer(assist.environment)
        // SIGINT/SIGTERM or the client closing stdin ends the session; either way runs are recorded and the model's
        // server stops.
        do {
            try await Interrupts.cancelling(quietly: true) {
                try await server.start(transport: StdioTransport(logger: logger))
                // The server's loop is its own task: a signal stops it explicitly.
                await withTaskCancellationHandler {
                    await server.waitUntilCompleted()
                } onCancel: {
                    Task { await server.stop() }
                }
            }
        } catch is CancellationError {}
        await server.stop()
        await assist.shutdown()
    }
}
