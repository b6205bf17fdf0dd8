import FerryCore
import FerryModels
import Foundation
import TOMLKit

/// Each table of a config file, by its own rules.
extension ConfigLoader {
    /// `[models]`: the user's alone (a repository's could send the user's keys elsewhere).
    static func applyModels(_ models: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        guard scope == .user else {
            throw FerryError(
                .config,
                "\(file): [models] is not allowed in a repository's config, because it could send your API keys "
                    + "elsewhere. Fix: move the profiles to \(FerryConfig.userConfigPath()), and keep "
                    + "default_model here if you want to pick one")
        }
        for name in models.table.keys.sorted() {
            guard var profileTable = try models.table(name) else { continue }
            config.profiles[name] = try profile(named: name, from: &profileTable, base: config.profiles[name])
            try profileTable.finish()
        }
    }

    /// `[project]`: how the project's tests and commands run.
    static func applyProject(_ project: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        if let command = try project.string("test_command") { config.testCommand = command }
        if let timeout = try project.number("test_timeout") { config.testTimeoutSeconds = timeout }
        if let timeout = try project.number("shell_timeout") { config.shellTimeoutSeconds = timeout }
        if let tokens = try project.integer("repo_map_tokens") { config.repoMapTokens = tokens }
    }

    /// `[agent]`: the first attempt, and how many candidates (a repository may only ask for fewer).
    static func applyAgent(_ agent: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        if let attempt = try agent.choice("first_attempt", FerryConfig.FirstAttempt.self) {
            config.firstAttempt = attempt
        }
        for (key, path) in [("tool_loop", \FerryConfig.toolLoop), ("attempt_retries", \FerryConfig.attemptRetries)] {
            guard let mode = try agent.choice(key, LoopGate.Mode.self) else { continue }
            // A repository may spend less (never), not more than the user chose.
            if scope == .repo && mode.spends > config[keyPath: path].spends {
                refuseLooser(
                    "[agent] \(key) = \"\(mode.rawValue)\"", than: "\"\(config[keyPath: path].rawValue)\"", file: file,
                    config: &config)
            } else {
                config[keyPath: path] = mode
            }
        }
        if let cascade = try agent.stringArray("cascade") {
            if scope == .repo {
                config.warnings.append(
                    "\(file) asks for [agent] cascade = \(cascade); ignored, because a repository cannot choose which "
                        + "models a run pays for. To use one, set it in \(FerryConfig.userConfigPath()) or pass --cascade"
                )
            } else {
                guard CascadePolicy.valid(cascade) else {
                    throw FerryError(
                        .config,
                        "\(file): agent.cascade names 2 to 4 different profiles, e.g. [\"local\", \"anthropic\"]")
                }
                config.cascade = cascade
            }
        }
        guard let candidates = try agent.integer("candidates") else { return }
        guard (1...FerryConfig.maxCandidates).contains(candidates) else {
            throw FerryError(
                .config, "\(file): agent.candidates is \(candidates). Fix: use 1 to \(FerryConfig.maxCandidates)")
        }
        if scope == .repo && candidates > config.candidates {
            refuseLooser(
                "[agent] candidates = \(candidates)", than: "\(config.candidates)", file: file, config: &config)
        } else {
            config.candidates = candidates
        }
    }

    /// `[server]`: the team server operator's, never a repository's.
    static func applyServer(_ server: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        guard scope == .user else {
            throw FerryError(
                .config,
                "\(file): [server] is the team server operator's, never a repository's. Fix: remove it, and "
                    + "set it in \(FerryConfig.userConfigPath()) on the server")
        }
        if let roots = try server.stringArray("project_roots") {
            for root in roots where !root.hasPrefix("/") && !root.hasPrefix("~") {
                throw FerryError(.config, "\(file): [server] project_roots entry '\(root)' is not an absolute path")
            }
            config.projectRoots = roots.map { ($0 as NSString).expandingTildeInPath }
        }
        if let hosts = try server.stringArray("allow_hosts") { config.allowHosts = hosts }
        if let days = try server.integer("audit_retention_days") {
            guard (1...36_500).contains(days) else {
                throw FerryError(.config, "\(file): [server] audit_retention_days must be from 1 to 36500 (days)")
            }
            config.auditRetentionDays = days
        }
        if let url = try server.string("public_url") {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil
            else { throw FerryError(.config, "\(file): [server] public_url must be an http(s) URL") }
            config.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if var app = try server.table("github_app") {
            let place = "\(file): [server.github_app]"
            let id =
                app.table["app_id"]?.int != nil ? try app.integer("app_id").map(String.init) : try app.string("app_id")
            guard let id, !id.isEmpty else {
                throw FerryError(.config, "\(place) needs app_id (the App's id on its settings page)")
            }
            guard let key = try app.string("private_key_file") else {
                throw FerryError(.config, "\(place) needs private_key_file (the .pem GitHub let you download)")
            }
            config.forges.githubAppID = id
            config.forges.githubPrivateKeyFile = (key as NSString).expandingTildeInPath
            if let api = try app.string("api_url") { config.forges.githubAPIURL = try Self.forgeURL(api, place) }
            if let web = try app.string("web_url") { config.forges.githubWebURL = try Self.forgeURL(web, place) }
            // Which tenant may use which of the App's installations: an installation reaches its organisation's
            // repositories, so it is the operator's to give, never a tenant's to name.
            if var installations = try app.table("installations") {
                for tenant in installations.table.keys.sorted() {
                    config.forges.githubInstallations[tenant] = try installations.integerArray(tenant) ?? []
                }
                try installations.finish()
            }
            try app.finish()
        }
        if var gitlab = try server.table("gitlab") {
            if let url = try gitlab.string("url") {
                config.forges.gitlabURL = try Self.forgeURL(url, "\(file): [server.gitlab]")
            }
            try gitlab.finish()
        }
        if var providers = try server.table("oidc") {
            for tenant in providers.table.keys.sorted() {
                guard var table = try providers.table(tenant) else { continue }
                config.oidc[tenant] = try Self.oidc(&table, file: file, tenant: tenant)
                try table.finish()
            }
        }
    }

    static func forgeURL(_ text: String, _ place: String) throws -> String {
        guard let url = URL(string: text), let scheme = url.scheme, url.host != nil else {
            throw FerryError(.config, "\(place): \(text) is not a URL")
        }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(url.host ?? "")
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw FerryError(.config, "\(place): \(text) must be https (plain http only on this machine's loopback)")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// `[server.oidc.TENANT]`: one tenant's identity provider.
    static func oidc(_ table: inout TableReader, file: String, tenant: String) throws -> OIDCSettings {
        let place = "\(file): [server.oidc.\(tenant)]"
        guard let issuer = try table.string("issuer"), let url = URL(string: issuer), let scheme = url.scheme,
            url.host != nil
        else { throw FerryError(.config, "\(place) needs issuer = \"https://…\" (the provider's issuer URL)") }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(url.host ?? "")
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw FerryError(
                .config, "\(place): the issuer must be https (plain http only on this machine's loopback)")
        }
        guard let clientID = try table.string("client_id"), !clientID.isEmpty else {
            throw FerryError(.config, "\(place) needs client_id = \"…\" (the client registered at the provider)")
        }
        var settings = OIDCSettings(issuer: issuer, clientID: clientID, clientSecret: try table.string("client_secret"))
        settings.clientSecretEnv = try table.string("client_secret_env")
        if let scopes = try table.stringArray("scopes") {
            guard scopes.contains("openid") else { throw FerryError(.config, "\(place): scopes must include openid") }
            settings.scopes = scopes
        }
        if let claim = try table.string("groups_claim") { settings.groupsClaim = claim }
        settings.adminGroups = try table.stringArray("admin_groups") ?? []
        settings.memberGroups = try table.stringArray("member_groups") ?? []
        settings.viewerGroups = try table.stringArray("viewer_groups") ?? []
        if let role = try table.string("default_role") {
            guard ["admin", "member", "viewer"].contains(role) else {
                throw FerryError(.config, "\(place): default_role must be admin, member or viewer")
            }
            settings.defaultRole = role
        }
        settings.redirectURI = try table.string("redirect_uri")
        if let file = try table.string("ca_file") {
            let path = (file as NSString).expandingTildeInPath
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw FerryError(.config, "\(place): ca_file \(file) cannot be read")
            }
            settings.caFile = path
        }
        return settings
    }

    /// `[mcp.servers.NAME]`: both scopes may name servers; each runs in the run's sandbox, like the project's tests.
    static func applyMCP(_ mcp: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig) throws {
        guard var servers = try mcp.table("servers") else { return }
        for name in servers.table.keys.sorted() {
            guard var server = try servers.table(name) else { continue }
            guard name.range(of: "^[A-Za-z0-9_-]{1,32}$", options: .regularExpression) != nil else {
                throw FerryError(
                    .config, "\(file): [mcp.servers.\(name)]: a server's name is 1–32 letters, digits, - or _")
            }
            guard let command = try server.stringArray("command"), !command.isEmpty, !command[0].isEmpty else {
                throw FerryError(.config, "\(file): [mcp.servers.\(name)] needs command = [\"program\", \"arg\", …]")
            }
            let timeout = try server.number("timeout") ?? 60
            guard timeout > 0 else {
                throw FerryError(.config, "\(file): [mcp.servers.\(name)] timeout must be positive")
            }
            config.mcpServers[name] = MCPServer(name: name, command: command, timeoutSeconds: timeout)
            try server.finish()
        }
        try servers.finish()
    }

    /// `[limits]`. Every value must be finite and in range. A repository's config may lower a limit (a cheap task
    /// can ask for less) but never raise one above what the user's config, or the built-in default, set: a committed
    /// `max_cost = 1000` is ignored with a warning, like a request for a weaker sandbox.
    static func applyLimits(_ limits: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        func check(_ value: Double, _ key: String, _ range: ClosedRange<Double>) throws -> Double {
            guard value.isFinite, range.contains(value) else {
                throw FerryError(
                    .config,
                    "\(file): limits.\(key) is \(value). Fix: use a number from \(Int64(range.lowerBound)) to "
                        + "\(Int64(range.upperBound))")
            }
            return value
        }
        func plain(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }
        func tighten(_ key: String, _ value: Double, current: Double?, apply: (inout FerryConfig) -> Void) {
            if scope == .repo, let current, value > current {
                refuseLooser("[limits] \(key) = \(plain(value))", than: plain(current), file: file, config: &config)
            } else {
                apply(&config)
            }
        }
        if let steps = try limits.integer("max_steps") {
            let value = Int(try check(Double(steps), "max_steps", 1...100_000))
            tighten("max_steps", Double(value), current: Double(config.limits.maxSteps)) { $0.limits.maxSteps = value }
        }
        if let cost = try limits.number("max_cost") {
            let value = try check(cost, "max_cost", 0...1_000_000)
            tighten("max_cost", value, current: config.limits.maxCostUSD) { $0.limits.maxCostUSD = value }
        }
        if let time = try limits.number("max_time") {
            let value = try check(time, "max_time", 0...31_536_000)
            tighten("max_time", value, current: config.limits.maxTimeSeconds) { $0.limits.maxTimeSeconds = value }
        }
        if let rounds = try limits.integer("repair_rounds") {
            let value = Int(try check(Double(rounds), "repair_rounds", 0...1_000))
            tighten("repair_rounds", Double(value), current: Double(config.limits.repairRounds)) {
                $0.limits.repairRounds = value
            }
        }
        if let megabytes = try limits.number("max_file_mb") {
            let value = try check(megabytes, "max_file_mb", 0...1_048_576)
            let bytes = Int(value * 1024 * 1024)
            tighten("max_file_mb", value, current: Double(config.maxCommitFileBytes) / 1024 / 1024) {
                $0.maxCommitFileBytes = bytes
            }
        }
    }

    /// A repository asked for more than the user allows: the user's value stands, and the run says so.
    static func refuseLooser(_ what: String, than current: String, file: String, config: inout FerryConfig) {
        config.warnings.append(
            "\(file) asks for \(what); ignored, because a repository may only lower your limits (yours is \(current)). "
                + "To allow more, set it in \(FerryConfig.userConfigPath()) or pass the matching flag")
    }

    /// `[sandbox]`. A repository's config is untrusted input: it may make the sandbox stricter, but a request for less
    /// isolation (no sandbox, network, a higher or no process cap, host paths shown inside) is ignored with a warning,
    /// unless the user's own config set `trust_repo_config = true`.
    static func applySandbox(_ sandbox: inout TableReader, file: String, scope: Scope, to config: inout FerryConfig)
        throws
    {
        let trusted = scope == .user || config.trustRepoSandbox
        func refuse(_ what: String) {
            config.warnings.append(
                "\(file) asks for \(what); ignored, because a repository may not weaken the sandbox. To allow it, pass "
                    + "the matching flag, or set [sandbox] trust_repo_config = true in \(FerryConfig.userConfigPath())")
        }
        if let trust = try sandbox.bool("trust_repo_config") {
            guard scope == .user else {
                throw FerryError(
                    .config,
                    "\(file): [sandbox] trust_repo_config is only read from your own config "
                        + "(\(FerryConfig.userConfigPath())), never from a repository's. Fix: remove it")
            }
            config.trustRepoSandbox = trust
        }
        if let mode = try sandbox.choice("mode", FerryConfig.SandboxMode.self), mode != config.sandbox {
            if mode == .none && !trusted {
                refuse("[sandbox] mode = \"none\"")
            } else {
                config.sandbox = mode
                config.sandboxSource = file
            }
        }
        if let network = try sandbox.bool("network"), network != config.allowNetwork {
            if network && !trusted {
                refuse("[sandbox] network = true")
            } else {
                config.allowNetwork = network
                if network { config.sandboxSource = file }
            }
        }
        if let cap = try sandbox.integer("max_processes") {
            guard cap >= 0 else {
                throw FerryError(.config, "\(file): [sandbox] max_processes is \(cap). Fix: give 0 (no cap) or more")
            }
            let looser = config.maxProcesses > 0 && (cap == 0 || cap > config.maxProcesses)
            if looser && !trusted { refuse("[sandbox] max_processes = \(cap)") } else { config.maxProcesses = cap }
        }
        if let paths = try sandbox.stringArray("read_only") {
            if !trusted {
                refuse("[sandbox] read_only = \(paths)")
            } else {
                for path in paths where !path.hasPrefix("/") && !path.hasPrefix("~") {
                    throw FerryError(
                        .config,
                        "\(file): [sandbox] read_only entry '\(path)' is not an absolute path. Fix: write "
                            + "it as /path or ~/path")
                }
                config.sandboxReadOnly += paths
            }
        }
    }

    static func profile(named name: String, from table: inout TableReader, base: ModelProfile?) throws -> ModelProfile {
        let provider = try table.choice("provider", ModelProfile.Provider.self) ?? base?.provider
        guard let provider else {
            throw FerryError(
                .config,
                "\(table.file): [models.\(name)] has no provider. Fix: add provider = \"openai\", "
                    + "\"anthropic\" or \"local\"")
        }
        guard let model = try table.string("model") ?? base?.model else {
            throw FerryError(.config, "\(table.file): [models.\(name)] has no model. Fix: add model = \"<model name>\"")
        }
        var profile = ModelProfile(
            name: name, provider: provider, baseURL: try table.string("base_url") ?? base?.baseURL, model: model,
            apiKeyEnv: try table.string("api_key_env") ?? base?.apiKeyEnv,
            contextWindow: try table.integer("context_window") ?? base?.contextWindow,
            toolProtocol: try table.choice("tool_protocol", ModelProfile.ToolProtocol.self) ?? base?.toolProtocol,
            maxOutputTokens: try table.integer("max_output_tokens") ?? base?.maxOutputTokens ?? 4096,
            temperature: try table.number("temperature") ?? base?.temperature)
        if let path = try table.string("model_path") { profile.modelPath = (path as NSString).expandingTildeInPath }
        if let path = try table.string("server_binary") {
            profile.serverBinary = (path as NSString).expandingTildeInPath
        }
        if let port = try table.integer("port") { profile.serverPort = port }
        if let arguments = try table.stringArray("server_args") { profile.serverArguments = arguments }
        if let seconds = try table.number("connect_timeout") { profile.connectTimeoutSeconds = seconds }
        if let seconds = try table.number("idle_timeout") { profile.idleTimeoutSeconds = seconds }
        if var price = try table.table("price") {
            guard let input = try price.number("input"), let output = try price.number("output") else {
                throw FerryError(
                    .config,
                    "\(table.file): [models.\(name).price] needs both input and output (USD per million "
                        + "tokens)")
            }
            profile.price = Price(
                input: input, output: output, cachedInput: try price.number("cached_input"),
                cacheWrite: try price.number("cache_write"))
            try price.finish()
        }
        if let url = URL(string: profile.baseURL), url.scheme == "http" || url.scheme == "https" {
        } else {
            throw FerryError(
                .config, "\(table.file): models.\(name).base_url '\(profile.baseURL)' is not an http(s) URL")
        }
        return profile
    }
}
