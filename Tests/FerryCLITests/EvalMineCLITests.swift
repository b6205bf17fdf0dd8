import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// `ferry eval mine --as owner/name`: the suite names the repository, and instances whose version has an environment
/// spec leave their tests to it; a malformed name, or a spec file that cannot be
/// read, is a usage error before any mining.
@Suite struct EvalMineCLITests {
    @Test func minedInstancesNamedAsARepositoryUseItsEnvironments() async throws {
        let repo = try await FixtureRepo.make([
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ])
        let git = Git(repo)
        _ = try await git.run("tag", "v1.4.0")
        for (path, text) in [
            ("calc.py", "def add(a, b):\n    return a + b\n"),
            (
                "tests/test_calc.py",
                "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
            ),
        ] {
            try text.write(toFile: repo + "/" + path, atomically: true, encoding: .utf8)
        }
        _ = try await git.run("add", "-A")
        _ = try await git.run(
            "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "add() subtracted instead of adding")
        let envs = repo + "/../envs.toml"
        try
            "[[environment]]\nrepo = \"acme/calc\"\nversions = [\"1.4\"]\npython = \"3.11\"\nrequirements = [\"pytest==7.4.4\"]\n"
            .write(toFile: envs, atomically: true, encoding: .utf8)
        let suite = repo + "/../suite.jsonl"
        // A spec file that cannot be read stops the command before any mining (which can take hours).
        let missing = try await CLITests().ferry([
            "eval", "mine", repo, "--since", "2000-01-01", "--no-issues", "--as", "acme/calc", "--envs",
            repo + "/../none.toml",
            "--test-command", "python3 -m pytest -rA -q -p no:cacheprovider", "--out", suite,
        ])
        #expect(missing.status == 2)
        #expect(!missing.stdout.contains("kept"), "\(missing.stdout)")
        let output = try await CLITests().ferry([
            "eval", "mine", repo, "--since", "2000-01-01", "--no-issues", "--as", "acme/calc", "--envs", envs,
            "--test-command", "python3 -m pytest -rA -q -p no:cacheprovider", "--out", suite,
        ])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        #expect(output.stdout.contains("as acme/calc: 1 of 1 instances run in \(envs)'s environments"))
        let lines = try String(contentsOfFile: suite, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let instance = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(instance?["repo"] as? String == "acme/calc")
        #expect(instance?["version"] as? String == "1.4")
        #expect(instance?["test_cmd"] == nil && instance?["agent_test_cmd"] == nil)
    }

    @Test func aNameThatIsNotOwnerSlashNameIsAUsageError() async throws {
        let repo = try await FixtureRepo.make(["a.py": "x = 1\n"])
        let output = try await CLITests().ferry([
            "eval", "mine", repo, "--since", "2000-01-01", "--as", "calc", "--test-command", "true", "--out",
            repo + "/../s.jsonl",
        ])
        #expect(output.status == 2)
        #expect(output.stderr.contains("--as takes owner/name, not calc"))
        // Spec files without --as would be read for nothing.
        let stray = try await CLITests().ferry([
            "eval", "mine", repo, "--since", "2000-01-01", "--envs", "x.toml", "--test-command", "true", "--out",
            repo + "/../s.jsonl",
        ])
        #expect(stray.status == 2)
        #expect(stray.stderr.contains("--envs only serves --as owner/name"))
    }
}
