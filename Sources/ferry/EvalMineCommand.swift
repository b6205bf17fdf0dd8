import ArgumentParser
import FerryCore
import FerryEval
import FerryWorkspace
import Foundation

extension EvalCommand {
    struct Mine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Build a SWE-bench-format suite from a repository's own history (commits that change source and tests together).",
            discussion: """
                Each kept instance is validated in the sandbox: its tests fail at the parent commit with the commit's \
                test changes and pass with its source changes too. Check the suite again with `ferry eval validate`, \
                then run it with `ferry eval run`.

                Example: ferry eval mine ../flask --since 2023-10-01 \\
                  --test-command "PYTHONPATH=src ~/.cache/ferry/envs/flask/bin/python -m pytest -rA -q -p no:cacheprovider" \\
                  --out flask-mined.jsonl
                """)

        @Argument(help: "The repository (a clone with its history).") var repo: String
        @Option(help: "Commits since this date (git's --since).") var since: String
        @Option(help: "Commits until this date.") var until: String?
        @Option(help: "The test command, run with the test files appended; it must print pytest's -rA summary.")
        var testCommand: String
        @Option(help: "Host paths the sandbox shows read-only (the test command's venv), comma-separated.")
        var readOnly: String?
        @Option(help: "Stop after this many kept instances.") var limit: Int?
        @Option(help: "Seconds one run of the tests may take; a run cut short keeps no instance.")
        var testTimeout: Double = 600
        @Option(help: "The suite file to write (JSONL).") var out: String
        @Flag(help: "Add to the suite file instead of replacing it.") var append = false
        @Option(
            help: "The GitHub repository (owner/name) whose issues the commits link to; default: the origin remote's.")
        var github: String?
        @Option(help: "GitHub's API (for GitHub Enterprise).") var githubApi = "https://api.github.com"
        @Flag(help: "Leave linked issues out: problem statements are the commit messages alone.") var noIssues = false
        @Option(
            name: .customLong("as"),
            help: ArgumentHelp(
                "Name the instances' repository owner/name (found through `ferry eval run --repos`); where the environment specs have its version, their environment runs the tests.",
                valueName: "owner/name"))
        var name: String?
        @Option(help: "Environment specs for --as (default: evals/swebench/environments.toml when it exists).")
        var envs: String?

        func validate() throws {
            if let name, name.split(separator: "/", omittingEmptySubsequences: false).count != 2 || name.contains(" ") {
                throw ValidationError("--as takes owner/name, not \(name)")
            }
            if envs != nil, name == nil { throw ValidationError("--envs only serves --as owner/name") }
            if !(testTimeout > 0) { throw ValidationError("--test-timeout takes a positive number of seconds") }
        }

        func run() async throws {
            let repoPath = (repo as NSString).expandingTildeInPath
            guard FileManager.default.fileExists(atPath: repoPath + "/.git") else {
                throw FerryError(.usage, "\(repoPath) is not a git clone with a work tree")
            }
            var options = HistoryMiner.Options(
                repo: URL(fileURLWithPath: repoPath).standardizedFileURL.path, since: since, testCommand: testCommand)
            options.until = until
            options.limit = limit
            options.timeoutSeconds = testTimeout
            options.readOnlyBinds = (readOnly ?? "").split(separator: ",").map {
                ($0.trimmingCharacters(in: .whitespaces) as NSString).expandingTildeInPath
            }
            if !noIssues {
                let remote = try? await Git(repoPath).run("remote", "get-url", "origin")
                if let repository = github ?? remote.flatMap(LinkedIssues.repository(fromRemote:)) {
                    // The token is sent to the API only, never printed or written to the suite.
                    let token = ProcessInfo.processInfo.environment["GITHUB_TOKEN"]
                    options.issues = LinkedIssues(repository: repository, apiBase: githubApi, token: token)
                    print(
                        "linked issues: read from \(githubApi) for \(repository)\(token == nil ? " (no GITHUB_TOKEN: 60 requests an hour)" : "")"
                    )
                } else {
                    print("linked issues: left out (no GitHub origin remote; name one with --github owner/name)")
                }
            }
            // Read before mining, which can take hours: a bad spec file must not cost them.
            let specs = envs ?? EvalCommand.SuiteOptions.bundledSpecs
            let catalog =
                name == nil
                ? nil
                : envs != nil || FileManager.default.fileExists(atPath: specs)
                    ? try EnvironmentCatalog.load(specs) : EnvironmentCatalog()
            var (instances, rejected) = try await HistoryMiner(options: options).mine { line in
                print(line)
                fflush(nil)
            }
            if let name, let catalog {
                instances = HistoryMiner.named(instances, as: name, catalog: catalog)
                let inEnvironments = instances.filter { $0.testCmd == nil }.count
                print(
                    "as \(name): \(inEnvironments) of \(instances.count) instances run in \(specs)'s environments, the rest with the test command"
                )
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var text = append ? ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") : ""
            for instance in instances { text += String(decoding: try encoder.encode(instance), as: UTF8.self) + "\n" }
            try Data(text.utf8).write(to: URL(fileURLWithPath: out))
            print("\n\(instances.count) instances kept, \(rejected.count) commits left out → \(out)")
            for (reason, count) in Dictionary(grouping: rejected, by: { Self.kind($0.reason) }).mapValues(\.count)
                .sorted(by: { $0.value > $1.value })
            {
                print("  \(count) × \(reason)")
            }
        }

        /// A rejection's reason without its numbers, to count alike ones together.
        static func kind(_ reason: String) -> String {
            reason.replacingOccurrences(of: #"\d+"#, with: "N", options: .regularExpression)
        }
    }
}
