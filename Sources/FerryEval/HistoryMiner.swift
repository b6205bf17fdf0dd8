import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation

/// Builds a SWE-bench-format suite from a repository's own history, so a customer can measure Ferry on their code.
///
/// Each commit (merges left out) that changes Python source and tests together is a candidate: its source changes are
/// the gold `patch`, its test changes the hidden `test_patch`, its parent the base, its message (and the text of the
/// issues it links, when `Options.issues` can read them) the problem statement, and its version the release it builds
/// on (the nearest tag), so that results can be read per release. The test files the test patch touches run twice in the sandbox at the parent, with the test patch: once
/// without the gold patch and once with it. Tests that fail without and pass with it are `FAIL_TO_PASS`; tests that
/// pass both times are `PASS_TO_PASS`. A candidate with no `FAIL_TO_PASS` test is rejected with the reason, so every
/// kept instance is validated: the gold patch resolves it and the base fails it.
public struct HistoryMiner: Sendable {
    public struct Options: Sendable {
        public var repo: String
        public var since: String
        public var until: String?
        /// The test command, run with the test files appended (`PYTHONPATH=src /venv/bin/python -m pytest -rA -q`):
        /// it must print pytest's `-rA` summary.
        public var testCommand: String
        public var limit: Int?
        public var maxSourceFiles = 4
        public var maxPatchLines = 300
        /// Host paths the sandbox shows read-only (the venv the test command uses).
        public var readOnlyBinds: [String] = []
        public var timeoutSeconds = 600.0
        /// Where the issues a commit links to are read, for the problem statement (nil: the commit message alone).
        public var issues: LinkedIssues?

        public init(repo: String, since: String, testCommand: String) {
            self.repo = repo
            self.since = since
            self.testCommand = testCommand
        }
    }

    public struct Rejection: Sendable, Hashable {
        public var commit: String
        public var reason: String
    }

    public let options: Options
    public let makeRunner: @Sendable (SandboxPolicy) throws -> any CommandRunner

    public init(
        options: Options,
        makeRunner: @escaping @Sendable (SandboxPolicy) throws -> any CommandRunner = {
            try BubblewrapRunner(policy: $0)
        }
    ) {
        self.options = options
        self.makeRunner = makeRunner
    }

    /// The validated instances (oldest first) and why the other candidates were left out.
    public func mine(progress: @Sendable (String) -> Void = { _ in }) async throws -> (
        instances: [EvalInstance], rejected: [Rejection]
    ) {
        let git = Git(options.repo)
        var arguments = ["rev-list", "--no-merges", "--reverse", "--since=\(options.since)"]
        if let until = options.until { arguments.append("--until=\(until)") }
        let commits = try await git.run(arguments + ["HEAD"]).split(separator: "\n").map(String.init)
        let name = ((options.repo as NSString).standardizingPath as NSString).lastPathComponent
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-mine-\(UUID().uuidString.prefix(8))"
        ).path
        _ = try await git.run("worktree", "add", "-q", "--detach", scratch, "HEAD")
        do {
            let found = try await mine(commits, name: name, scratch: scratch, progress: progress)
            _ = try? await git.run("worktree", "remove", "--force", scratch)
            return found
        } catch {
            _ = try? await git.run("worktree", "remove", "--force", scratch)
            throw error
        }
    }

    func mine(
        _ commits: [String], name: String, scratch: String, progress: @Sendable (String) -> Void
    ) async throws -> (instances: [EvalInstance], rejected: [Rejection]) {
        let git = Git(options.repo)
        let tree = Git(scratch)
        let commonGitDir = try await tree.run("rev-parse", "--path-format=absolute", "--git-common-dir")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let runner = try makeRunner(
            SandboxPolicy(
                workspace: scratch, readOnlyPaths: [scratch + "/.git", commonGitDir],
                readOnlyBinds: options.readOnlyBinds))
        var instances: [EvalInstance] = []
        var rejected: [Rejection] = []
        var issues = options.issues
        for commit in commits {
            if let limit = options.limit, instances.count >= limit { break }
            let short = String(commit.prefix(10))
            let found: Result<EvalInstance, Reason>
            do {
                found = try await candidate(commit, git: git)
            } catch {
                found = .failure(Reason(text: "git could not split it (\(error))"))
            }
            switch found {
            case .failure(let reason):
                rejected.append(Rejection(commit: short, reason: reason.text))
            case .success(var instance):
                instance.instanceID = "\(name)-\(short)"
                if let reason = try await validate(&instance, tree: tree, runner: runner) {
                    rejected.append(Rejection(commit: short, reason: reason))
                    progress("\(short) rejected: \(reason)")
                } else {
                    var linked = ""
                    if let source = issues {
                        do {
                            let (text, numbers) = try await source.statement(for: instance.problemStatement)
                            instance.problemStatement = text
                            if !numbers.isEmpty {
                                linked = ", issue " + numbers.map { "#\($0)" }.joined(separator: ", ")
                            }
                        } catch {
                            // One failure (no network, a rate limit) stops the lookups: the rest keep their messages.
                            issues = nil
                            progress("linked issues left out from here on: \(error)")
                        }
                    }
                    instances.append(instance)
                    progress(
                        "\(short) kept: \(instance.failToPass.count) FAIL_TO_PASS, \(instance.passToPass.count) PASS_TO_PASS\(linked)"
                    )
                }
            }
        }
        return (instances, rejected)
    }

    struct Reason: Error { var text: String }

    /// The commit split into gold patch and test patch, or why it is not a candidate.
    func candidate(_ commit: String, git: Git) async throws -> Result<EvalInstance, Reason> {
        let parent = commit + "^"
        guard (try? await git.run("rev-parse", "--verify", "-q", parent)) != nil else {
            return .failure(Reason(text: "the first commit (no parent to start from)"))
        }
        let files = try await git.run("diff", "--name-only", parent, commit).split(separator: "\n").map(String.init)
        let tests = files.filter { TestPaths.isTest($0) && $0.hasSuffix(".py") }
        let sources = files.filter { !TestPaths.isTest($0) && $0.hasSuffix(".py") && !Self.isAuxiliary($0) }
        guard !tests.isEmpty else { return .failure(Reason(text: "no test file changes")) }
        guard !sources.isEmpty else { return .failure(Reason(text: "no source file changes")) }
        guard sources.count <= options.maxSourceFiles else {
            return .failure(Reason(text: "\(sources.count) source files changed (more than \(options.maxSourceFiles))"))
        }
        let patch = try await git.run(["diff", parent, commit, "--"] + sources)
        let changed = patch.split(separator: "\n").filter {
            ($0.hasPrefix("+") || $0.hasPrefix("-")) && !$0.hasPrefix("+++") && !$0.hasPrefix("---")
        }
        guard changed.count <= options.maxPatchLines else {
            return .failure(Reason(text: "\(changed.count) changed source lines (more than \(options.maxPatchLines))"))
        }
        let testPatch = try await git.run(["diff", parent, commit, "--"] + tests)
        let message = try await git.run("log", "-1", "--format=%B", commit).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard message.split(separator: " ").count >= 3 else {
            return .failure(Reason(text: "the message says too little"))
        }
        let base = try await git.resolve(parent)
        var instance = EvalInstance(
            instanceID: commit, repo: (options.repo as NSString).standardizingPath, baseCommit: base,
            problemStatement: message, testPatch: testPatch, failToPass: [], passToPass: [], patch: patch,
            testCmd: options.testCommand, testRunner: HiddenTests.Runner.pytest.rawValue)
        instance.agentTestCmd = Self.agentCommand(options.testCommand)
        instance.version = await Self.version(at: base, git: git)
        return .success(instance)
    }

    /// The version a commit is on, as SWE-bench names its instances' versions (major.minor of what the package says it
    /// is): the version the source declares (`__version__ = "2.1.0.dev0"`, or `version = "3.0.0"` in pyproject.toml or
    /// setup.cfg), else the nearest tag it descends from (`v2.26.0`, `sympy-1.1.1`). Nil when neither reads as one.
    /// The declared one comes first: between releases a branch already develops the next one (flask's main after the
    /// 2.0.3 tag says 2.1.0.dev0), and that is the release whose dependencies its tests need.
    static func version(at commit: String, git: Git) async -> String? {
        if let declared = await declaredVersion(at: commit, git: git) { return declared }
        guard let tag = try? await git.run("describe", "--tags", "--abbrev=0", commit) else { return nil }
        return releaseVersion(tag.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The shallowest declaration in the tree, so that a vendored package's own `__version__` does not count.
    static func declaredVersion(at commit: String, git: Git) async -> String? {
        let pattern = #"^(__version__|version) *= *['"][0-9]+\.[0-9]+"#
        let files = ["*__init__.py", "*__version__.py", "*version.py", "*release.py", "pyproject.toml", "setup.cfg"]
        guard let found = try? await git.run(["grep", "-I", "-E", pattern, commit, "--"] + files) else { return nil }
        var best: (depth: Int, path: String, value: String)?
        for line in found.split(separator: "\n") {
            // `commit:path:text`. In Python files only `__version__` counts (a `version = ...` there is any variable).
            let parts = line.dropFirst(commit.count + 1).split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasSuffix(".py") == parts[1].hasPrefix("__version__"),
                !TestPaths.isTest(parts[0]), let value = releaseVersion(parts[1])
            else { continue }
            let candidate = (depth: parts[0].split(separator: "/").count, path: parts[0], value: value)
            if best.map({ (candidate.depth, candidate.path) < ($0.depth, $0.path) }) ?? true { best = candidate }
        }
        return best?.value
    }

    /// The instances as instances of `name` (`owner/name`, resolved through `ferry eval run --repos`): where the
    /// catalog has an environment for that repository at an instance's version, the miner's own test commands go and
    /// the environment's run its tests, as for SWE-bench's instances; elsewhere they stay.
    public static func named(_ instances: [EvalInstance], as name: String, catalog: EnvironmentCatalog)
        -> [EvalInstance]
    {
        instances.map { instance in
            var named = instance
            named.repo = name
            if (try? catalog.spec(for: named)) != nil {
                named.testCmd = nil
                named.agentTestCmd = nil
            }
            return named
        }
    }

    static func releaseVersion(_ tag: String) -> String? {
        guard let range = tag.range(of: #"(?<![0-9.])[0-9]+\.[0-9]+"#, options: .regularExpression) else { return nil }
        return String(tag[range])
    }

    /// The agent's test command: the miner's, on the task's related tests, without `-rA`'s long summary.
    static func agentCommand(_ testCommand: String) -> String {
        testCommand.replacingOccurrences(of: " -rA", with: "") + " {related_tests}"
    }

    /// Runs the test patch's files without and with the gold patch; fills FAIL_TO_PASS and PASS_TO_PASS, or says why
    /// the instance cannot be kept.
    func validate(_ instance: inout EvalInstance, tree: Git, runner: any CommandRunner) async throws -> String? {
        guard let base = instance.baseCommit, let patch = instance.patch else { return "no base or patch" }
        _ = try await tree.run("checkout", "-q", "-f", base)
        _ = try await tree.run("clean", "-fdxq")
        guard try await EvalRunner.apply(instance.testPatch, in: tree, name: "test.patch") else {
            return "the test patch does not apply at the parent"
        }
        let files = HiddenTests.testFiles(inPatch: instance.testPatch)
            .filter { $0.hasSuffix(".py") && FileManager.default.fileExists(atPath: tree.directory + "/" + $0) }
        guard !files.isEmpty else { return "the test patch only deletes tests" }
        let before = try await run(files, tree: tree, runner: runner)
        guard try await EvalRunner.apply(patch, in: tree, name: "gold.patch") else {
            return "the gold patch does not apply"
        }
        let after = try await run(files, tree: tree, runner: runner)
        instance.failToPass = after.filter { $0.value && before[$0.key] != true }.map(\.key).sorted()
        instance.passToPass = after.filter { $0.value && before[$0.key] == true }.map(\.key).sorted()
        guard !after.isEmpty else { return "the tests did not run (no pytest summary; is the environment right?)" }
        guard !instance.failToPass.isEmpty else { return "no test goes from failing to passing with the commit" }
        return nil
    }

    func run(_ files: [String], tree: Git, runner: any CommandRunner) async throws -> [String: Bool] {
        let command = options.testCommand + " " + files.map(shellQuote).joined(separator: " ")
        let result = try await runner.run(
            CommandRequest(
                script: command, workingDirectory: tree.directory, timeoutSeconds: options.timeoutSeconds,
                outputLimit: 4_000_000))
        return HiddenTests.parsePytest(result.output)
    }

    /// Docs, examples and build scripts: not where a fix lands.
    static func isAuxiliary(_ path: String) -> Bool {
        let lower = path.lowercased()
        return ["docs/", "doc/", "examples/", "example/", "scripts/", "benchmarks/"].contains { lower.hasPrefix($0) }
            || ["setup.py", "conftest.py", "noxfile.py"].contains((lower as NSString).lastPathComponent)
    }
}
