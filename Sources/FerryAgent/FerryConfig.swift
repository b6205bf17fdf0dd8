import FerryCore
import FerryModels
import FerrySandbox
import Foundation

/// `[mcp.servers.NAME]`: a stdio MCP server for the agent. `command` is the program and its arguments, run in the
/// worktree inside the sandbox; `timeout` bounds its start and each call.
public struct MCPServer: Sendable, Hashable {
    public var name: String
    public var command: [String]
    public var timeoutSeconds: Double

    public init(name: String, command: [String], timeoutSeconds: Double = 60) {
        self.name = name
        self.command = command
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The effective configuration of a run: built-in defaults, then `~/.config/ferry/config.toml`, then
/// `<repo>/.ferry/config.toml`, then the environment, then flags. Everything has a default.
public struct FerryConfig: Sendable {
    public enum SandboxMode: String, Sendable, CaseIterable {
        case bubblewrap, none
    }

    /// What a run tries before the tool loop.
    public enum FirstAttempt: String, Sendable, CaseIterable {
        /// When the task's likely files are small: one reply with the complete corrected files, then the tests.
        case wholeFile = "whole_file"
        /// Straight to the tool loop.
        case off
    }

    public var profiles: [String: ModelProfile]
    public var defaultModel: String?
    public var testCommand: String?
    public var testTimeoutSeconds: Double = 900
    public var limits = AgentLimits()
    public var sandbox: SandboxMode = .bubblewrap
    public var allowNetwork = false
    /// Where the sandbox mode and network setting came from ("default", "--sandbox none", a config file, …), so a
    /// report can say who weakened it.
    public var sandboxSource = "default"
    /// Processes and threads a sandboxed command may have at once; 0 turns the cap off.
    public var maxProcesses = SandboxPolicy.defaultMaxProcesses
    /// Host paths shown read-only inside the sandbox although they sit in a hidden folder (tool caches such as
    /// `~/.m2`). Only the user's config may add them.
    public var sandboxReadOnly: [String] = []
    /// Whether a repository's `.ferry/config.toml` may weaken the sandbox (mode, network, process cap, binds). Only
    /// the user's config can say so.
    public var trustRepoSandbox = false
    /// Files larger than this are left out of a run's commit (and the run is not `verified`).
    public var maxCommitFileBytes = 10 * 1024 * 1024
    /// Things the loader ignored on purpose (a repository asking for a weaker sandbox), for the report.
    public var warnings: [String] = []
    /// Tokens of repo map in the first prompt (nil: a share of the context window; 0: no index, map or index tools).
    public var repoMapTokens: Int?
    public var firstAttempt: FirstAttempt = .wholeFile
    /// Fixes the first attempt samples from one request and chooses between by the tests (1: one reply).
    public var candidates = 1
    /// `[agent] tool_loop`: whether a run may start its tool loop (`LoopGate`; auto: by the model's record).
    public var toolLoop: LoopGate.Mode = .auto
    /// `[agent] attempt_retries`: whether the attempt may ask for replies after its first (`LoopGate`; auto: by the
    /// model's record).
    public var attemptRetries: LoopGate.Mode = .auto
    /// `[agent] cascade`: profiles tried in order under the run's one budget, the next only when the change is not
    /// proved (the user's config only: a repository cannot make a run spend on a stronger model).
    public var cascade: [String] = []
    public static let maxCandidates = 8
    public var shellTimeoutSeconds: Double = 120
    /// MCP servers (stdio) whose tools join the agent's, named `mcp__SERVER__TOOL`; each runs in the run's sandbox.
    public var mcpServers: [String: MCPServer] = [:]
    /// `[server] project_roots`: the folders under which a team server takes local paths as projects (the operator's
    /// own config only; empty means git URLs only).
    public var projectRoots: [String] = []
    /// `[server] allow_hosts`: names and address blocks a team server may reach for tenants although they are not
    /// public (an internal git host, a webhook receiver on the private network).
    public var allowHosts: [String] = []
    /// `[server] audit_retention_days`: how long a team server keeps audit entries (nil: for ever). Older entries
    /// are removed once a day; the chain keeps the last removed entry's place and hash as its start.
    public var auditRetentionDays: Int?
    /// `[server.oidc.TENANT]`: sign-in to a tenant's dashboard through the company's identity provider.
    public var oidc: [String: OIDCSettings] = [:]
    /// `[server] public_url`: the team server's address as its people reach it (links in pull requests and comments).
    public var publicURL: String?
    /// `[server.github_app]` and `[server.gitlab]`: how the team server reaches the forges its projects live on.
    public var forges = ForgeSettings()
    /// Where the store and run folders live.
    public var dataDirectory: String
    /// Which files were read, for messages and `ferry config`.
    public var sources: [String] = []

    public init(dataDirectory: String = FerryConfig.defaultDataDirectory()) {
        self.profiles = FerryConfig.builtinProfiles
        self.dataDirectory = dataDirectory
    }

    public static let builtinProfiles: [String: ModelProfile] = [
        "local": ModelProfile(
            name: "local", provider: .local, model: "qwen2.5-coder-1.5b-instruct", contextWindow: 16_384,
            toolProtocol: .text, maxOutputTokens: 1024, temperature: 0),
        "openai": ModelProfile(name: "openai", provider: .openai, model: "gpt-4.1-mini"),
        "anthropic": ModelProfile(
            name: "anthropic", provider: .anthropic, model: "claude-sonnet-4-5", contextWindow: 200_000),
    ]

    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        FerryPaths.data(environment: environment)
    }

    public static func userConfigPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        FerryPaths.config(environment: environment) + "/config.toml"
    }

    public var storePath: String { dataDirectory + "/ferry.sqlite" }

    /// Checks values a file, a variable or a flag may have set to something no run can work with. Called before
    /// any work starts, so a bad limit costs nothing.
    public func validate() throws {
        func bad(_ what: String, _ value: String, _ fix: String) -> FerryError {
            FerryError(.usage, "\(what) is \(value). Fix: \(fix)")
        }
        if limits.maxSteps < 1 { throw bad("max_steps (--max-steps)", "\(limits.maxSteps)", "give at least 1 step") }
        if let cost = limits.maxCostUSD, !(cost > 0) || !cost.isFinite {
            throw bad("max_cost (--max-cost)", "\(cost)", "give a positive number of USD")
        }
        if let time = limits.maxTimeSeconds, !(time > 0) || !time.isFinite {
            throw bad("max_time (--max-time)", "\(time)", "give a positive number of seconds")
        }
        if limits.repairRounds < 0 { throw bad("repair_rounds", "\(limits.repairRounds)", "give 0 or more") }
        if !(testTimeoutSeconds > 0) {
            throw bad("test_timeout", "\(testTimeoutSeconds)", "give a positive number of seconds")
        }
        if !(shellTimeoutSeconds > 0) {
            throw bad("shell_timeout", "\(shellTimeoutSeconds)", "give a positive number of seconds")
        }
        if maxProcesses < 0 { throw bad("max_processes", "\(maxProcesses)", "give 0 (no cap) or more") }
        if maxCommitFileBytes < 1 { throw bad("max_file_mb", "\(maxCommitFileBytes)", "give a positive size") }
    }

    /// The profile a run uses: the named one, else `default_model`, else one whose key is set, else local.
    public func profile(named name: String?, environment: [String: String]) throws -> ModelProfile {
        if let name = name ?? defaultModel {
            guard let profile = profiles[name] else {
                let known = profiles.keys.sorted().joined(separator: ", ")
                throw FerryError(.config, "no model profile named '\(name)'; known profiles: \(known)")
            }
            return profile
        }
        if environment["ANTHROPIC_API_KEY"]?.isEmpty == false, let profile = profiles["anthropic"] { return profile }
        if environment["OPENAI_API_KEY"]?.isEmpty == false, let profile = profiles["openai"] { return profile }
        return profiles["local"]!
    }

    /// The API key for a profile, read from the variable it names. Missing keys are an error that says which.
    public static func apiKey(for profile: ModelProfile, environment: [String: String]) throws -> String? {
        guard let variable = profile.apiKeyEnv, !variable.isEmpty else { return nil }
        guard let key = environment[variable], !key.isEmpty else {
            if profile.provider == .local { return nil }
            throw FerryError(
                .config,
                "model profile '\(profile.name)' needs an API key in $\(variable), which is not set. "
                    + "Fix: export \(variable)=…, or set api_key_env in [models.\(profile.name)] of "
                    + "\(userConfigPath()) to the variable that holds it")
        }
        return key
    }
}

/// One tenant's identity provider (`[server.oidc.TENANT]` in the operator's config): OpenID Connect's authorization
/// code flow with PKCE. Groups in the id token (or userinfo) map to the tenant's roles at each sign-in.
public struct OIDCSettings: Sendable, Hashable {
    /// The provider's issuer; its discovery document is at `issuer/.well-known/openid-configuration`.
    public var issuer: String
    public var clientID: String
    /// The client's secret (`client_secret` in the operator's file), or the environment variable that holds it
    /// (`client_secret_env`, read when the server starts); neither for a public client, which PKCE alone protects.
    public var clientSecret: String?
    public var clientSecretEnv: String?
    public var scopes: [String] = ["openid", "email", "profile"]
    /// The claim that lists a person's groups.
    public var groupsClaim = "groups"
    /// Which groups make an admin, a member, a viewer; the highest role a person's groups give wins.
    public var adminGroups: [String] = []
    public var memberGroups: [String] = []
    public var viewerGroups: [String] = []
    /// The role of someone in none of those groups; nil refuses them.
    public var defaultRole: String?
    /// Where the provider sends the browser back (`…/login/callback`); nil: this server's own address as the
    /// browser reached it.
    public var redirectURI: String?
    /// A PEM file of the certificate authorities to trust for the provider (a company's own CA); nil: the system's.
    public var caFile: String?

    public init(issuer: String, clientID: String, clientSecret: String? = nil) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

/// The forges a team server works with (`[server.github_app]`, `[server.gitlab]` in the operator's config). The App's
/// private key stays in the operator's file system: only its path is in the config, and nothing of it enters the
/// database or a sandbox.
public struct ForgeSettings: Sendable, Hashable {
    public var githubAppID: String?
    public var githubPrivateKeyFile: String?
    /// GitHub's REST API (GitHub Enterprise Server: `https://HOST/api/v3`).
    public var githubAPIURL = "https://api.github.com"
    /// Where repositories are cloned and pushed (GitHub Enterprise Server: `https://HOST`).
    public var githubWebURL = "https://github.com"
    public var gitlabURL = "https://gitlab.com"
    /// `[server.github_app.installations]`: tenant name → the App's installation ids its projects may use.
    public var githubInstallations: [String: [Int]] = [:]

    public init() {}

    /// The App's key, read when it is needed (a rotated key file is picked up without a restart).
    public func githubPrivateKey() throws -> String {
        guard let file = githubPrivateKeyFile else {
            throw FerryError(.config, "[server.github_app] has no private_key_file")
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw FerryError(.config, "[server.github_app] private_key_file \(file) cannot be read")
        }
        return text
    }
}
