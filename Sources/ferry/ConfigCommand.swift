import ArgumentParser
import FerryAgent
import FerryCore
import FerryModels
import Foundation

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Print the effective configuration, with secrets redacted.")

    @Option(help: "The repository whose .ferry/config.toml applies (default: the current directory).")
    var repo: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let repoPath = repo ?? FileManager.default.currentDirectoryPath
        let config = try ConfigLoader.load(repo: repoPath, environment: environment)
        let active = try? config.profile(named: nil, environment: environment)
        var out = "# Effective Ferry configuration\n"
        out +=
            "# files read: \(config.sources.isEmpty ? "none (built-in defaults)" : config.sources.joined(separator: ", "))\n"
        out += "# API keys are never shown; only whether their variable is set.\n\n"
        out += "default_model = \"\(config.defaultModel ?? active?.name ?? "local")\"\n\n"
        for name in config.profiles.keys.sorted() {
            let profile = config.profiles[name]!
            out += "[models.\(name)]\n"
            out +=
                "provider = \"\(profile.provider.rawValue)\"\nbase_url = \"\(profile.baseURL)\"\nmodel = \"\(profile.model)\"\n"
            if let variable = profile.apiKeyEnv {
                let set = environment[variable]?.isEmpty == false
                out += "api_key_env = \"\(variable)\"  # \(set ? "set (redacted)" : "NOT SET")\n"
            }
            out += "context_window = \(profile.contextWindow)\ntool_protocol = \"\(profile.toolProtocol.rawValue)\"\n"
            if let price = profile.effectivePrice {
                out +=
                    "price = { input = \(price.input), output = \(price.output), cached_input = \(price.cachedInput) }\n"
            } else {
                out += "# price unknown: cost will show 0\n"
            }
            out += "\n"
        }
        out += "[project]\ntest_command = \(config.testCommand.map { "\"\($0)\"" } ?? "# detected per repository")\n"
        out +=
            "test_timeout = \(Int(config.testTimeoutSeconds))\nshell_timeout = \(Int(config.shellTimeoutSeconds))\n\n"
        out += "[limits]\nmax_steps = \(config.limits.maxSteps)\n"
        out += "max_cost = \(config.limits.maxCostUSD.map { "\($0)" } ?? "# none")\n"
        out += "max_time = \(config.limits.maxTimeSeconds.map { "\(Int($0))" } ?? "# none")\n"
        out +=
            "repair_rounds = \(config.limits.repairRounds)\nmax_file_mb = \(config.maxCommitFileBytes / 1_048_576)\n\n"
        out +=
            "[sandbox]  # set by: \(config.sandboxSource)\nmode = \"\(config.sandbox.rawValue)\"\nnetwork = \(config.allowNetwork)\n"
        out +=
            "max_processes = \(config.maxProcesses)\nread_only = [\(config.sandboxReadOnly.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
        out += "trust_repo_config = \(config.trustRepoSandbox)\n\n"
        for warning in config.warnings { out += "# WARNING: \(warning)\n" }
        out += "# store: \(config.storePath)\n"
        print(out, terminator: "")
    }
}
