import FerryCore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryEval

/// `ferry eval mine` on a repository whose history is known: one commit that fixes a bug with its test, and commits
/// that must be left out (docs only, a test that passes before the fix too, a fix without tests). The tests run in
/// the real sandbox with the real pytest.
@Suite struct HistoryMinerTests {
    func commit(_ repo: String, _ files: [String: String], message: String) async throws {
        for (path, content) in files {
            let full = repo + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(content.utf8).write(to: URL(fileURLWithPath: full))
        }
        let git = Git(repo)
        _ = try await git.run("add", "-A")
        _ = try await git.run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    }

    @Test func keepsTheCommitWhoseTestFailsWithoutItsFixAndSaysWhyTheOthersAreLeftOut() async throws {
        let repo = try await FixtureRepo.make([
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef double(a):\n    return a * 2\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ])
        _ = try await Git(repo).run("tag", "v1.4.2")
        try await commit(repo, ["README.md": "calc\n"], message: "Say what calc is")
        try await commit(
            repo,
            [
                "calc.py": "def add(a, b):\n    return a + b\n\n\ndef double(a):\n    return a * 2\n",
                "tests/test_calc.py":
                    "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            ], message: "add() subtracted instead of adding\n\nadd(2, 3) gave -1.")
        try await commit(
            repo,
            [
                "calc.py": "def add(a, b):\n    return a + b\n\n\ndef double(a):\n    return add(a, a)\n",
                "tests/test_calc.py":
                    "from calc import add, double\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_double():\n    assert double(2) == 4\n",
            ], message: "double() reuses add() and gains a test")
        try await commit(
            repo, ["calc.py": "def add(a, b):\n    return b + a\n\n\ndef double(a):\n    return add(a, a)\n"],
            message: "Swap the operands of add")

        var options = HistoryMiner.Options(
            repo: repo, since: "2000-01-01", testCommand: "python3 -m pytest -rA -q -p no:cacheprovider")
        options.timeoutSeconds = 120
        let (instances, rejected) = try await HistoryMiner(options: options).mine()
        #expect(instances.count == 1)
        let instance = try #require(instances.first)
        #expect(instance.failToPass == ["tests/test_calc.py::test_add"])
        #expect(instance.passToPass == ["tests/test_calc.py::test_zero"])
        #expect(instance.problemStatement == "add() subtracted instead of adding\n\nadd(2, 3) gave -1.")
        #expect(instance.patch?.contains("+    return a + b") == true)
        #expect(instance.patch?.contains("tests/") == false)
        #expect(instance.testPatch.contains("+def test_add():"))
        #expect(instance.testPatch.contains("a/calc.py") == false)
        #expect(instance.agentTestCmd == "python3 -m pytest -q -p no:cacheprovider {related_tests}")
        let parent = try await Git(repo).run("rev-list", "--reverse", "HEAD").split(separator: "\n")[1]
        #expect(instance.baseCommit == String(parent))
        // The release the base builds on: the nearest tag's major.minor.
        #expect(instance.version == "1.4")
        #expect(
            rejected.map(\.reason) == [
                "the first commit (no parent to start from)", "no test file changes",
                "no test goes from failing to passing with the commit", "no test file changes",
            ])

        // The suite it makes is valid for the eval's own check: gold resolves, the base fails.
        let suite = repo + "/../mined.jsonl"
        let encoder = JSONEncoder()
        try (String(decoding: try encoder.encode(instance), as: UTF8.self) + "\n").write(
            toFile: suite, atomically: true, encoding: .utf8)
        let checks = try await EvalRunner(
            options: EvalOptions(suitePath: suite, outDirectory: repo + "/../validate"), agent: nil
        ).validate { _ in }
        #expect(checks.map(\.valid) == [true])
    }

    @Test func aTagReadsAsTheReleaseItNames() {
        #expect(HistoryMiner.releaseVersion("v2.26.0") == "2.26")
        #expect(HistoryMiner.releaseVersion("sympy-1.1.1") == "1.1")
        #expect(HistoryMiner.releaseVersion("5.4") == "5.4")
        #expect(HistoryMiner.releaseVersion("release-2024.10.3") == "2024.10")
        #expect(HistoryMiner.releaseVersion("nightly") == nil)
        #expect(HistoryMiner.releaseVersion("v7") == nil)
    }

    @Test func theVersionTheSourceDeclaresComesBeforeTheNearestTag() async throws {
        let repo = try await FixtureRepo.make(["src/pkg/core.py": "x = 1\n"])
        let git = Git(repo)
        _ = try await git.run("tag", "v2.0.3")
        #expect(await HistoryMiner.version(at: try await git.resolve("HEAD"), git: git) == "2.0")
        // Past the tag, main develops the next release and says so; a vendored package's version does not count.
        try await commit(
            repo,
            [
                "src/pkg/__init__.py": "__version__ = \"2.1.0.dev0\"\n",
                "src/pkg/vendor/lib/__init__.py": "__version__ = \"1.26.0\"\n",
                "tests/__init__.py": "__version__ = \"9.9\"\n",
            ], message: "Start 2.1 development")
        #expect(await HistoryMiner.version(at: try await git.resolve("HEAD"), git: git) == "2.1")
        try await commit(
            repo, ["pyproject.toml": "[project]\nname = \"pkg\"\nversion = \"3.0.0.dev\"\n"],
            message: "Move to pyproject")
        #expect(await HistoryMiner.version(at: try await git.resolve("HEAD"), git: git) == "3.0")
        // Neither a declaration nor a tag: no version.
        let bare = try await FixtureRepo.make(["a.py": "x = 1\n"])
        #expect(await HistoryMiner.version(at: try await Git(bare).resolve("HEAD"), git: Git(bare)) == nil)
    }

    @Test func namedInstancesRunInTheEnvironmentForTheirVersionWhereThereIsOne() throws {
        let catalog = try EnvironmentCatalog.parse(
            """
            [[environment]]
            repo = "acme/calc"
            versions = ["2.1"]
            python = "3.11"
            requirements = ["pytest==7.4.4"]
            """)
        func mined(_ version: String?) -> EvalInstance {
            var instance = EvalInstance(
                instanceID: "calc-\(version ?? "none")", repo: "/src/calc", problemStatement: "p", failToPass: ["t"],
                version: version)
            instance.testCmd = "venv/bin/python -m pytest -rA"
            instance.agentTestCmd = "venv/bin/python -m pytest {related_tests}"
            return instance
        }
        let named = HistoryMiner.named([mined("2.1"), mined("2.2"), mined(nil)], as: "acme/calc", catalog: catalog)
        #expect(named.map(\.repo) == ["acme/calc", "acme/calc", "acme/calc"])
        // 2.1 has an environment: its commands decide. 2.2 and no version keep the miner's.
        #expect(named.map { $0.testCmd == nil } == [true, false, false])
        #expect(named.map { $0.agentTestCmd == nil } == [true, false, false])
    }

    @Test func aKeptCommitTakesTheTextOfTheIssueItsPullRequestClosed() async throws {
        let repo = try await FixtureRepo.make([
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ])
        try await commit(
            repo,
            [
                "calc.py": "def add(a, b):\n    return a + b\n",
                "tests/test_calc.py":
                    "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            ], message: "Make add add (#12)")
        try await FakeHTTPServer.with(LinkedIssuesTests.answers) { server in
            var options = HistoryMiner.Options(
                repo: repo, since: "2000-01-01", testCommand: "python3 -m pytest -rA -q -p no:cacheprovider")
            options.timeoutSeconds = 120
            options.issues = LinkedIssues(repository: "acme/calc", apiBase: server.baseURL, token: nil)
            let lines = LockedLines()
            let (instances, _) = try await HistoryMiner(options: options).mine { lines.append($0) }
            #expect(instances.first?.problemStatement.hasPrefix("add() subtracts\n\nadd(2, 3) gives -1.") == true)
            #expect(instances.first?.problemStatement.hasSuffix("Make add add (#12)") == true)
            #expect(lines.all.contains { $0.contains("kept") && $0.contains("issue #11") })
        }
    }
}

/// Progress lines from a `@Sendable` callback.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
