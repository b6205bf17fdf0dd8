import ArgumentParser
import FerryAgent
import FerryCore
import FerryEval
import FerryModels
import Foundation

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Measure accuracy and cost on a suite of tasks with hidden tests.",
        subcommands: [Run.self, Validate.self, Mine.self, Compare.self], defaultSubcommand: Run.self)

    struct SuiteOptions: ParsableArguments {
        /// The project's own specs, found from the current directory (the checkout) or next to the executable's checkout.
        static var bundledSpecs: String {
            let relative = "evals/swebench/environments.toml"
            if FileManager.default.fileExists(atPath: relative) { return EvalOptions.absolute(relative) }
            var directory = (CommandLine.arguments[0] as NSString).deletingLastPathComponent
            for _ in 0..<5 {
                let candidate = directory + "/" + relative
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
                directory = (directory as NSString).deletingLastPathComponent
            }
            return relative
        }

        @Argument(help: "A SWE-bench-format JSONL suite.") var suite: String
        @Option(name: .customShort("j"), help: "Instances to run in parallel.") var jobs = 1
        @Option(help: "Only the first K instances.") var limit: Int?
        @Option(help: "Only these instance ids (comma-separated).") var instances: String?
        @Option(help: "Where owner/name repositories are cloned.") var repos: String?
        @Option(help: "Python for the hidden tests of repositories without an environment spec.") var python = "python3"
        @Option(
            help:
                "Environment specs and exclusions per repo@version (default: evals/swebench/environments.toml when the suite names owner/name repos and that file exists)."
        )
        var envs: String?
        @Option(help: "Seconds before a hidden test run (or setup) is killed and counted as failed (default 1800).")
        var testTimeout: Double?
        @Option(
            help:
                "Exclusions found by `ferry eval validate` (its exclusions.toml): tests that fail here with the gold patch and at the base, left out of scoring and reported apart."
        )
        var exclusions: String?

        func options(out: String) throws -> EvalOptions {
            var options = EvalOptions(suitePath: suite, outDirectory: out)
            if let testTimeout { options.testTimeoutSeconds = testTimeout }
            options.jobs = jobs
            options.limit = limit
            options.instanceIDs = instances?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            options.reposDirectory = repos.map(EvalOptions.absolute)
            options.python = python
            if let envs {
                options.environments = try EnvironmentCatalog.load(envs)
            } else if FileManager.default.fileExists(atPath: Self.bundledSpecs) {
                options.environments = try EnvironmentCatalog.load(Self.bundledSpecs)
            }
            if let exclusions {
                // Merged test by test with the specs' own: an instance excluded whole stays excluded whole.
                for (id, found) in try EnvironmentCatalog.load(exclusions).exclusions {
                    if var known = options.environments.exclusions[id] {
                        guard !known.tests.isEmpty else { continue }
                        known.tests = Array(Set(known.tests + found.tests)).sorted()
                        known.reason += "; " + found.reason
                        options.environments.exclusions[id] = known
                    } else {
                        options.environments.exclusions[id] = found
                    }
                }
            }
            return options
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Run the agent on a suite and score it.")

        @OptionGroup var suite: SuiteOptions
        @OptionGroup var modelOptions: ModelOptions
        @Option(help: "Output directory (default evals/out/<suite>-<time>).") var out: String?
        @Flag(help: "Apply each instance's gold patch instead of running the agent.") var gold = false
        @Option(
            help:
                "Score patches from a SWE-bench predictions JSONL (instance_id, model_patch) instead of running the agent."
        )
        var predictions: String?
        @Option(help: "A label for this run in reports.") var label: String?
        @Flag(help: "Continue a run that stopped: skip instances already in results.jsonl.") var resume = false
        @Option(help: "Max steps per instance.") var maxSteps: Int?
        @Option(help: "Max USD per instance.") var maxCost: Double?
        @Option(help: "Max seconds per instance.") var maxTime: Double?
        @Option(help: "whole_file (default) or off: what the agent tries before its tool loop.")
        var firstAttempt: FerryConfig.FirstAttempt?
        @Option(help: "Fixes the first attempt samples per instance, chosen by the tests (1-8, default 1).")
        var candidates: Int?
        @Option(
            help:
                "auto (default): start the tool loop unless this model's recent loops in this eval kept no change; always; never."
        )
        var toolLoop: LoopGate.Mode?
        @Option(
            help:
                "auto (default): ask for replies after the attempt's first unless this model's recent later replies in this eval kept no change; always; never."
        )
        var attemptRetries: LoopGate.Mode?
        @Option(
            help:
                "Profiles tried in order per instance under its one budget, the next only when the change is not proved (e.g. local,anthropic)."
        )
        var cascade: String?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            let name = ((suite.suite as NSString).lastPathComponent as NSString).deletingPathExtension
            var options = try suite.options(out: out ?? "evals/out/\(name)-\(gold ? "gold-" : "")\(stamp)")
            options.gold = gold
            options.resume = resume
            options.label = label
            if let predictions { options.predictions = try EvalRunner.loadPredictions(predictions) }
            var config = try ConfigLoader.load(repo: nil, environment: environment)
            if let maxSteps { config.limits.maxSteps = maxSteps }
            if let maxCost { config.limits.maxCostUSD = maxCost }
            if let maxTime { config.limits.maxTimeSeconds = maxTime }
            if let firstAttempt { config.firstAttempt = firstAttempt }
            if let toolLoop { config.toolLoop = toolLoop }
            if let attemptRetries { config.attemptRetries = attemptRetries }
            if let candidates {
                guard (1...FerryConfig.maxCandidates).contains(candidates) else {
                    throw FerryError(.usage, "--candidates must be 1 to \(FerryConfig.maxCandidates)")
                }
                config.candidates = candidates
            }
            print("eval \(suite.suite) → \(options.outDirectory)")
            let view = ProgressView()
            let frozen = options
            let progress: @Sendable (EvalProgress) -> Void = { p in
                let eta = p.etaSeconds.map { " · ETA " + ProgressView.clock($0) } ?? ""
                let mark = p.last.resolved ? "✓" : (p.last.error != nil ? "!" : "✗")
                print(
                    String(
                        format: "[%d/%d] %@ %@ (%@) · resolved %d · $%.4f%@", p.done, p.total, mark, p.last.instanceID,
                        (p.last.error.map { "error: \($0.prefix(60))" } ?? p.last.status), p.resolved, p.costUSD, eta))
                fflush(nil)
            }
            let metrics: EvalMetrics
            if gold || predictions != nil {
                metrics = try await EvalRunner(options: frozen, agent: nil).run(progress: progress)
            } else if let cascade {
                let names = cascade.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard CascadePolicy.valid(names) else {
                    throw FerryError(
                        .usage, "--cascade takes 2 to 4 different profiles, e.g. --cascade local,anthropic")
                }
                let profiles = try names.map { try config.profile(named: $0, environment: environment) }
                let keys = try profiles.map { try FerryConfig.apiKey(for: $0, environment: environment) }
                let agentConfig = config
                let secrets = Redactor.secrets(in: environment, extra: keys.compactMap { $0 })
                metrics = try await EvalCommand.withModels(profiles, keys: keys, view: view) { models in
                    var agent = EvalAgent(model: models[0], config: agentConfig, secrets: secrets)
                    agent.cascade = zip(names, models).map { EvalAgent.CascadeModel(profile: $0, model: $1) }
                    let frozenAgent = agent
                    return try await Interrupts.cancelling {
                        try await EvalRunner(options: frozen, agent: frozenAgent).run(progress: progress)
                    }
                }
            } else {
                let profile = try modelOptions.resolve(config: config, environment: environment)
                let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
                let agentConfig = config
                metrics = try await LocalModelSession.with(
                    profile, hooks: .init(progress: view.update, status: view.status)
                ) { profile in
                    try await ModelFactory.withModel(profile: profile, apiKey: apiKey) { model in
                        let agent = EvalAgent(
                            model: model, config: agentConfig,
                            secrets: Redactor.secrets(in: environment, extra: apiKey.map { [$0] } ?? []))
                        return try await Interrupts.cancelling {
                            try await EvalRunner(options: frozen, agent: agent).run(progress: progress)
                        }
                    }
                }
            }
            print("")
            for line in EvalReport.summaryLines(metrics) { print(line) }
            print(
                "report: \(options.outDirectory)/report.{md,html,json} · results: \(options.outDirectory)/results.jsonl"
            )
        }
    }

    /// Every profile's model, each in its own scope (a local one's server started once for the whole eval).
    static func withModels<T: Sendable>(
        _ profiles: [ModelProfile], keys: [String?], view: ProgressView, models: [any ChatModel] = [],
        _ body: @escaping @Sendable ([any ChatModel]) async throws -> T
    ) async throws -> T {
        guard models.count < profiles.count else { return try await body(models) }
        let index = models.count
        return try await LocalModelSession.with(
            profiles[index], hooks: .init(progress: view.update, status: view.status)
        ) { profile in
            try await ModelFactory.withModel(profile: profile, apiKey: keys[index]) { model in
                try await withModels(profiles, keys: keys, view: view, models: models + [model], body)
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every task: the gold patch resolves it and the base fails its FAIL_TO_PASS tests.")

        @OptionGroup var suite: SuiteOptions
        @Option(help: "Scratch directory.") var out: String?

        func run() async throws {
            let options = try suite.options(
                out: out
                    ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                        "ferry-validate-\(UUID().uuidString.prefix(8))"
                    ).path)
            let checks = try await EvalRunner(options: options, agent: nil).validate { check in
                print(
                    "\(check.valid ? "ok     " : "INVALID") \(check.instanceID)\(check.problem.map { ": \($0)" } ?? "")"
                )
                if !check.excludedTests.isEmpty {
                    print(
                        "        excluded: \(check.excludedTests.joined(separator: ", ")) (\(check.exclusionReason ?? ""))"
                    )
                }
                fflush(nil)
            }
            let invalid = checks.filter { !$0.valid }.count
            let excluded = checks.filter { !$0.excludedTests.isEmpty }
            print(
                "\(checks.count - invalid) valid, \(invalid) invalid; \(excluded.count) with tests excluded "
                    + "(\(excluded.reduce(0) { $0 + $1.excludedTests.count }) tests)")
            if !excluded.isEmpty {
                let file = options.outDirectory + "/exclusions.toml"
                try ValidationExclusions.toml(checks).write(toFile: file, atomically: true, encoding: .utf8)
                print("exclusions: \(file) (pass it to ferry eval with --exclusions)")
            }
            if invalid > 0 { throw ExitCode(1) }
        }
    }

    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare eval runs: a table and an accuracy/cost chart.")

        @Argument(help: "Eval output directories.") var directories: [String]
        @Option(help: "Where to write compare.md and compare.html.") var out = "evals/out/compare"

        func run() async throws {
            print(try EvalReport.compare(directories, output: out))
            print("written: \(out)/compare.md, \(out)/compare.html")
        }
    }
}
