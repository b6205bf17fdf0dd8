import ArgumentParser
import FerryAgent
import FerryCore
import FerryForge
import FerryLocal
import FerryModels
import FerryStore
import FerryWorkspace
import Foundation

struct ModelOptions: ParsableArguments {
    @Option(help: "A named model profile from the config.")
    var profile: String?

    @Option(help: "Inline profile: openai, anthropic or local.")
    var provider: ModelProfile.Provider?

    @Option(help: "The model name (with --provider), or a profile name.")
    var model: String?

    @Option(help: "Inline profile: the API base URL.")
    var baseURL: String?

    @Option(help: "Inline profile: the environment variable that holds the API key.")
    var apiKeyEnv: String?

    @Option(help: "Inline profile: native or text.")
    var toolProtocol: ModelProfile.ToolProtocol?

    @Option(help: "Inline profile: the context window in tokens.")
    var contextWindow: Int?

    /// The profile these flags select, on top of the config.
    func resolve(config: FerryConfig, environment: [String: String]) throws -> ModelProfile {
        var resolved: ModelProfile
        if let provider {
            // Start from the named profile, else the built-in one for this provider, and override what was given.
            let base = config.profiles[profile ?? ""] ?? FerryConfig.builtinProfiles[provider.rawValue]
            resolved = ModelProfile(
                name: "inline", provider: provider, baseURL: baseURL ?? base?.baseURL,
                model: model ?? base?.model ?? "default",
                apiKeyEnv: apiKeyEnv ?? base?.apiKeyEnv, contextWindow: contextWindow ?? base?.contextWindow,
                toolProtocol: toolProtocol ?? base?.toolProtocol, maxOutputTokens: base?.maxOutputTokens ?? 4096,
                temperature: base?.temperature)
        } else {
            var name = self.profile
            if name == nil, let model, config.profiles[model] != nil { name = model }
            resolved = try config.profile(named: name, environment: environment)
            if let model, config.profiles[model] == nil { resolved.model = model }
            if let baseURL { resolved.baseURL = baseURL }
            if let apiKeyEnv { resolved.apiKeyEnv = apiKeyEnv }
            if let toolProtocol { resolved.toolProtocol = toolProtocol }
            if let contextWindow { resolved.contextWindow = contextWindow }
        }
        return resolved
    }
}

extension ModelProfile.Provider: ExpressibleByArgument {}
extension ModelProfile.ToolProtocol: ExpressibleByArgument {}
extension FerryConfig.SandboxMode: ExpressibleByArgument {}
extension FerryConfig.FirstAttempt: ExpressibleByArgument {}
extension LoopGate.Mode: ExpressibleByArgument {}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a task on a repository and hand back a verified change.")

    @Argument(
        help:
            "The task: a bug report, an issue or a feature request; - reads it from standard input (with --issue: an instruction added to the issue's text)."
    )
    var task: String?

    @Option(help: "The repository (default: the current directory).")
    var repo: String?

    @Option(help: "Start the branch from this ref instead of HEAD.")
    var base: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Stop after this many model steps.") var maxSteps: Int?
    @Option(help: "Stop when the run has cost this many USD.") var maxCost: Double?
    @Option(help: "Stop after this many seconds.") var maxTime: Double?
    @Option(help: "Repair rounds after failing tests (default 2).") var repairRounds: Int?
    @Option(help: "The project's test command (default: detected).") var testCommand: String?
    @Option(
        help:
            "whole_file (default): first ask for the complete corrected files when they are small; off: tool loop only."
    )
    var firstAttempt: FerryConfig.FirstAttempt?
    @Option(help: "Fixes the first attempt samples and chooses between by the tests (1-8, default 1).")
    var candidates: Int?
    @Option(
        help:
            "auto (default): start the tool loop unless this model's recent loops kept no change; always; never ([agent] tool_loop)."
    )
    var toolLoop: LoopGate.Mode?
    @Option(
        help:
            "auto (default): ask for replies after the attempt's first unless this model's recent later replies kept no change; always; never ([agent] attempt_retries)."
    )
    var attemptRetries: LoopGate.Mode?
    @Option(help: "bubblewrap (default) or none.") var sandbox: FerryConfig.SandboxMode?
    @Flag(help: "Allow network access inside the sandbox.") var allowNetwork = false
    @Flag(help: "Keep the worktree after the run.") var keepWorktree = false
    @Flag(help: "Print a JSONL event stream instead of the live view.") var json = false
    @OptionGroup var pullRequest: PullRequestOptions
    @Option(
        help:
            "Profiles tried in order under the run's one budget, the next only when the change is not proved (e.g. local,anthropic; [agent] cascade)."
    )
    var cascade: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let repoPath = repo ?? FileManager.default.currentDirectoryPath
        guard FileManager.default.fileExists(atPath: repoPath) else {
            throw FerryError(.usage, "repository \(repoPath) does not exist")
        }
        var config = try ConfigLoader.load(repo: repoPath, environment: environment)
        if let maxSteps { config.limits.maxSteps = maxSteps }
        if let maxCost { config.limits.maxCostUSD = maxCost }
        if let maxTime { config.limits.maxTimeSeconds = maxTime }
        if let repairRounds { config.limits.repairRounds = repairRounds }
        if let testCommand { config.testCommand = testCommand }
        if let firstAttempt { config.firstAttempt = firstAttempt }
        if let toolLoop { config.toolLoop = toolLoop }
        if let attemptRetries { config.attemptRetries = attemptRetries }
        if let candidates {
            guard (1...FerryConfig.maxCandidates).contains(candidates) else {
                throw FerryError(.usage, "--candidates must be 1 to \(FerryConfig.maxCandidates)")
            }
            config.candidates = candidates
        }
        if let sandbox {
            config.sandbox = sandbox
            config.sandboxSource = "--sandbox \(sandbox.rawValue)"
        }
        if allowNetwork {
            config.allowNetwork = true
            config.sandboxSource = "--allow-network"
        }
        try config.validate()
        // The cheap checks come before a model is started or installed.
        let root = try await Git.root(of: repoPath)
        let target = try await pullRequest.target(repo: root, environment: environment)
        var issue: ForgeIssue?
        let task: String
        if let number = pullRequest.issue, let target {
            issue = try await target.api.issue(number)
            task = ForgeReport.task(from: issue!, instruction: try self.task.map { try Self.readTask($0) })
        } else {
            task = try Self.readTask(self.task ?? "")
        }
        for warning in config.warnings { FileHandle.standardError.write(Data("ferry: warning: \(warning)\n".utf8)) }
        // `--cascade` names the profiles; model flags pick one profile, over the config's `[agent] cascade`.
        let modelFlags = modelOptions.profile != nil || modelOptions.provider != nil || modelOptions.model != nil
        if cascade != nil, modelFlags {
            throw FerryError(.usage, "--cascade names the profiles to use; leave out --profile, --provider and --model")
        }
        let stages =
            cascade.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            ?? (modelFlags ? [] : config.cascade)
        let result: RunResult
        if stages.isEmpty {
            let profile = try modelOptions.resolve(config: config, environment: environment)
            let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
            result = try await Session.run(
                task: task, repo: repoPath, base: base, profile: profile, apiKey: apiKey, config: config,
                keepWorktree: keepWorktree, json: json)
        } else {
            result = try await Session.cascade(
                stages, task: task, repo: repoPath, base: base, config: config, environment: environment,
                keepWorktree: keepWorktree, json: json)
        }
        if let target {
            print(try await PullRequestOptions.publish(result, target: target, issue: issue, repo: root))
        }
        throw ExitCode(result.status.exitCode)
    }

    /// The task as given, or standard input for `-`. An empty task is refused before anything is spent.
    static func readTask(_ argument: String, stdin: () -> Data = { FileHandle.standardInput.readDataToEndOfFile() })
        throws
        -> String
    {
        var task = argument
        if argument == "-" {
            task = String(decoding: stdin(), as: UTF8.self)
        }
        guard !task.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw FerryError(
                .usage,
                argument == "-"
                    ? "the task read from standard input is empty. Fix: pipe the task in, e.g. ferry run - < issue.md"
                    : "the task is empty. Fix: say what to do, e.g. ferry run \"fix the off-by-one in total()\", or "
                        + "ferry run - < issue.md")
        }
        return task
    }
}

/// Runs one task with the live view; shared by `run` and `demo`.
enum Session {
    /// A cascade of profiles (`--cascade`, `[agent] cascade`): every profile and key checked before anything is
    /// spent; each stage's model started only when its stage comes.
    static func cascade(
        _ names: [String], task: String, repo: String, base: String?, config: FerryConfig,
        environment: [String: String], keepWorktree: Bool, json: Bool
    ) async throws -> RunResult {
        guard CascadePolicy.valid(names) else {
            throw FerryError(.usage, "--cascade takes 2 to 4 different profiles, e.g. --cascade local,anthropic")
        }
        let profiles = try names.map { try config.profile(named: $0, environment: environment) }
        let keys = try profiles.map { try FerryConfig.apiKey(for: $0, environment: environment) }
        let runner = CascadeRunner(profiles: names, limits: config.limits, lastPrice: profiles.last?.effectivePrice)
        let result = try await runner.run(RunRequest(task: task, repo: repo, base: base, keepWorktree: keepWorktree)) {
            index, name, request, limits in
            if !json { print("cascade: stage \(index + 1) of \(names.count), profile \(name)") }
            var stage = config
            stage.limits = limits
            return try await run(
                task: request.task, repo: repo, base: base, profile: profiles[index], apiKey: keys[index],
                config: stage,
                keepWorktree: keepWorktree, json: json)
        }
        if !json { print(Report.text(result)) }
        return result
    }

    static func run(
        task: String, repo: String, base: String?, profile: ModelProfile, apiKey: String?, config: FerryConfig,
        keepWorktree: Bool, json: Bool, retry: RetryPolicy = .standard, installModel: Bool = false
    ) async throws -> RunResult {
        let view = ProgressView()
        let hooks = LocalModelSession.Hooks(progress: view.update, status: view.status)
        return try await LocalModelSession.with(profile, install: installModel, hooks: hooks) { profile in
            try await run(
                task: task, repo: repo, base: base, resolvedProfile: profile, apiKey: apiKey, config: config,
                keepWorktree: keepWorktree, json: json, retry: retry)
        }
    }

    static func run(
        task: String, repo: String, base: String?, resolvedProfile profile: ModelProfile, apiKey: String?,
        config: FerryConfig, keepWorktree: Bool, json: Bool, retry: RetryPolicy
    ) async throws -> RunResult {
        try await ModelFactory.withModel(profile: profile, apiKey: apiKey, retry: retry) { model in
            try await run(
                task: task, repo: repo, base: base, model: model, apiKey: apiKey, config: config,
                keepWorktree: keepWorktree, json: json)
        }
    }

    /// One run with this model, the live view and the report.
    static func run(
        task: String, repo: String, base: String?, model: any ChatModel, apiKey: String?, config: FerryConfig,
        keepWorktree: Bool, json: Bool
    ) async throws -> RunResult {
        let store = try SQLiteRunStore(path: config.storePath)
        let secrets = Redactor.secrets(in: ProcessInfo.processInfo.environment, extra: apiKey.map { [$0] } ?? [])
        // Runs whose process died (SIGKILL, a crash) are closed first, their partial changes committed.
        try await RunReconciler(
            store: store, redactor: Redactor(secrets: secrets), maxFileBytes: config.maxCommitFileBytes
        )
        .reconcile()
        let view = LiveView(json: json)
        let request = RunRequest(task: task, repo: repo, base: base, keepWorktree: keepWorktree)
        let runner = AgentRunner(model: model, store: store, config: config, secrets: secrets)
        // Ctrl-C or SIGTERM cancels the run; the runner still commits, writes its files and records it.
        let result = try await Interrupts.cancelling { try await runner.run(request, events: view.show) }
        if !json { print(Report.text(result)) }
        if result.status == .interrupted { throw ExitCode(130) }
        return result
    }
}
