import FerryAgent
import FerryCore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryEval
@testable import FerrySandbox

/// A hostile repository: its config, its files and its test suite are untrusted input.
@Suite struct HostileRepositoryTests {
    func repoConfig(_ toml: String, user: String? = nil) async throws -> (FerryConfig, String) {
        let repo = try await FixtureRepo.make([".ferry/config.toml": toml, "a.py": ""])
        let userPath = repo + "/../user-config-\(UUID().uuidString.prefix(6)).toml"
        if let user { try user.write(toFile: userPath, atomically: true, encoding: .utf8) }
        let config = try ConfigLoader.load(repo: repo, environment: ["HOME": "/nonexistent"], userConfigPath: userPath)
        return (config, repo)
    }

    /// Item 1: a committed `.ferry/config.toml` cannot switch the sandbox off, open the network, lift the process cap
    /// or show host paths inside; each request is ignored with a warning that names the file and the fix.
    @Test func aRepositoryCannotWeakenTheSandbox() async throws {
        let (config, repo) = try await repoConfig(
            "[sandbox]\nmode = \"none\"\nnetwork = true\nmax_processes = 0\nread_only = [\"~/.ssh\"]\n\n[project]\ntest_command = \"cat /proc/$PPID/environ\"\n"
        )
        #expect(config.sandbox == .bubblewrap)
        #expect(config.allowNetwork == false)
        #expect(config.maxProcesses == SandboxPolicy.defaultMaxProcesses)
        #expect(config.sandboxReadOnly.isEmpty)
        #expect(config.sandboxSource == "default")
        // The test command is the repository's to choose; it runs inside the sandbox like everything else.
        #expect(config.testCommand == "cat /proc/$PPID/environ")
        #expect(config.warnings.count == 4)
        #expect(
            config.warnings.allSatisfy {
                $0.contains(repo + "/.ferry/config.toml") && $0.contains("trust_repo_config = true")
            })
        #expect(config.warnings[0].contains("[sandbox] mode = \"none\"; ignored"))
    }

    @Test func aRepositoryMayTightenTheSandboxAndTheUserMayTrustIt() async throws {
        let (strict, _) = try await repoConfig("[sandbox]\nmax_processes = 100\nnetwork = false\n")
        #expect(strict.maxProcesses == 100)
        #expect(strict.warnings.isEmpty)
        let (trusted, repo) = try await repoConfig(
            "[sandbox]\nmode = \"none\"\nnetwork = true\n", user: "[sandbox]\ntrust_repo_config = true\n")
        #expect(trusted.sandbox == .none)
        #expect(trusted.allowNetwork)
        #expect(trusted.sandboxSource == repo + "/.ferry/config.toml")
        // Only the user can grant that trust.
        await #expect {
            _ = try await self.repoConfig("[sandbox]\ntrust_repo_config = true\n")
        } throws: { error in
            (error as? FerryError)?.message.contains("trust_repo_config is only read from your own config") == true
        }
    }

    /// Item 3: the process cap holds, as root too (a pids cgroup; RLIMIT_NPROC alone is not enforced for root).
    @Test func theProcessCapHolds() async throws {
        let repo = try await FixtureRepo.make(["a.txt": "a"])
        let runner = try BubblewrapRunner(policy: SandboxPolicy(workspace: repo, maxProcesses: 50))
        let marker = "ferry-sleeper-\(UUID().uuidString.prefix(8))"
        let script = """
            python3 - <<'EOF'
            import os
            n = 0
            try:
                while True:
                    pid = os.fork()
                    if pid == 0:
                        os.execvp("sleep", ["\(marker)", "30"])
                    n += 1
            except OSError as e:
                print("forked", n, "then", e.strerror)
            EOF
            """
        let result = try await runner.run(CommandRequest(script: script, workingDirectory: repo, timeoutSeconds: 60))
        let forked = result.output.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        #expect(result.output.contains("Resource temporarily unavailable"), "\(result.output)")
        #expect((forked ?? 999) < 50)
        // The sleepers died with the sandbox: none of them is left on the host.
        let survivors = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).filter { pid in
            guard Int(pid) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
                return false
            }
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }
        #expect(survivors.isEmpty)
        // A classic fork bomb is over within its timeout, and the next command runs.
        let bomb = try await runner.run(
            CommandRequest(script: "b() { b | b & }; b; wait", workingDirectory: repo, timeoutSeconds: 3))
        #expect(bomb.durationSeconds < 15)
        let after = try await runner.run(
            CommandRequest(script: "echo fine", workingDirectory: repo, timeoutSeconds: 30))
        #expect(after.exitCode == 0 && after.output.contains("fine"))
    }

    @Test func theProcessCapIsChosenOrRefusedClearly() throws {
        let policy = SandboxPolicy(workspace: "/tmp")
        #expect(try BubblewrapRunner.processCap(for: policy, cgroup: nil, isRoot: false) == .rlimit)
        #expect(
            try BubblewrapRunner.processCap(for: policy, cgroup: PidsCgroup(parent: "/x"), isRoot: true)
                == .cgroup(PidsCgroup(parent: "/x")))
        var off = policy
        off.maxProcesses = 0
        #expect(try BubblewrapRunner.processCap(for: off, cgroup: nil, isRoot: true) == .none)
        #expect {
            try BubblewrapRunner.processCap(for: policy, cgroup: nil, isRoot: true)
        } throws: { error in
            (error as? FerryError)?.message.contains("[sandbox] max_processes = 0") == true
        }
        #expect(policy.limitsPrologue.contains("ulimit -u 2048"))
    }

    /// Item 4: the user's keys, Ferry's config and store, and other runs' worktrees are not visible inside; the
    /// toolchains on PATH still are.
    @Test func theHomeDirectoryAndFerrysFoldersAreHidden() async throws {
        let fm = FileManager.default
        let home = fm.temporaryDirectory.appendingPathComponent("ferry-home-\(UUID().uuidString.prefix(8))").path
        let data = home + "/.local/share/ferry"
        for dir in [
            home + "/.ssh", home + "/.config/ferry", data + "/runs/other/worktree", home + "/.cache/ferry/envs",
        ] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try "-----BEGIN OPENSSH PRIVATE KEY-----\n".write(
            toFile: home + "/.ssh/id_ed25519", atomically: true, encoding: .utf8)
        try "[models.x]\n".write(toFile: home + "/.config/ferry/config.toml", atomically: true, encoding: .utf8)
        try "sqlite".write(toFile: data + "/ferry.sqlite", atomically: true, encoding: .utf8)
        try "other run's secret work".write(
            toFile: data + "/runs/other/worktree/x.py", atomically: true, encoding: .utf8)
        let workspace = data + "/runs/this/worktree"
        try fm.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        try "mine".write(toFile: workspace + "/mine.txt", atomically: true, encoding: .utf8)

        var host = ProcessInfo.processInfo.environment
        host["HOME"] = home
        host.removeValue(forKey: "XDG_DATA_HOME")
        host.removeValue(forKey: "XDG_CONFIG_HOME")
        host.removeValue(forKey: "XDG_CACHE_HOME")
        let policy = SandboxPolicy(workspace: workspace, readOnlyPaths: [], hiddenPaths: [data])
        let runner = try BubblewrapRunner(policy: policy, hostEnvironment: host)
        let script = """
            cat \(home)/.ssh/id_ed25519 2>&1; cat \(home)/.config/ferry/config.toml 2>&1; ls -A \(data) \(data)/runs 2>&1
            cat \(data)/runs/other/worktree/x.py 2>&1; ls -A /root 2>&1; cat mine.txt; python3 -c 'print("python ok")'
            """
        let result = try await runner.run(
            CommandRequest(script: script, workingDirectory: workspace, timeoutSeconds: 30))
        #expect(!result.output.contains("PRIVATE KEY"))
        #expect(!result.output.contains("[models.x]"))
        #expect(!result.output.contains("ferry.sqlite"))
        #expect(!result.output.contains("other run's secret work"))
        #expect(result.output.contains("\(home)/.ssh/id_ed25519: No such file or directory"))
        let listed = result.output.split(separator: "\n")
        #expect(!listed.contains(".ssh") && !listed.contains(".bash_history") && !listed.contains(".config"))
        #expect(result.output.contains("mine"))
        #expect(result.output.contains("python ok"), "the toolchain on PATH must stay usable: \(result.output)")

        // Explicit binds from the user's config show a tool cache again, read-only.
        let withCache = try BubblewrapRunner(
            policy: SandboxPolicy(
                workspace: workspace, readOnlyPaths: [], hiddenPaths: [data],
                readOnlyBinds: [home + "/.cache/ferry/envs"]),
            hostEnvironment: host)
        let cache = try await withCache.run(
            CommandRequest(
                script: "ls -d \(home)/.cache/ferry/envs && touch \(home)/.cache/ferry/envs/x",
                workingDirectory: workspace))
        #expect(cache.output.contains("/.cache/ferry/envs"))
        #expect(cache.output.contains("Read-only file system"))
    }

    @Test func mountsShowToolchainsButNeverCredentialFolders() {
        let host = ["HOME": "/home/u", "PATH": "/home/u/.pyenv/shims:/home/u/.local/bin:/home/u/.cargo/bin:/usr/bin"]
        let mounts = SandboxPolicy(workspace: "/home/u/.local/share/ferry/runs/r/worktree", readOnlyPaths: [])
            .mounts(host: host, fileExists: { _ in true })
        #expect(mounts.contains(.hide("/home/u")))
        #expect(mounts.contains(.hide("/home/u/.local/share/ferry")))
        #expect(mounts.contains(.readOnly("/home/u/.pyenv")))
        #expect(mounts.contains(.readOnly("/home/u/.cargo")))
        #expect(mounts.contains(.readOnly("/home/u/.rustup")))
        // ~/.local holds Ferry's data: only the PATH entry inside it is shown.
        #expect(mounts.contains(.readOnly("/home/u/.local/bin")))
        #expect(!mounts.contains(.readOnly("/home/u/.local")))
        // The worktree comes after the hidden folders it sits in.
        let hideIndex = mounts.firstIndex(of: .hide("/home/u/.local/share/ferry"))!
        let workspaceIndex = mounts.firstIndex(of: .writable("/home/u/.local/share/ferry/runs/r/worktree"))!
        #expect(hideIndex < workspaceIndex)
    }

    /// Item 11: a PASS_TO_PASS test in a file the test patch does not touch still runs (it used to count as failed).
    @Test func theScorerRunsEveryNamedTestsFile() async throws {
        let repo = try await FixtureRepo.make([
            "calc.py": "def add(a, b):\n    return a + b\n",
            "tests/test_new.py": "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            "tests/test_regress.py": "from calc import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ])
        let instance = EvalInstance(
            instanceID: "x", repo: repo, problemStatement: "",
            testPatch:
                "diff --git a/tests/test_new.py b/tests/test_new.py\n--- a/tests/test_new.py\n+++ b/tests/test_new.py\n@@ -1 +1 @@\n",
            failToPass: ["tests/test_new.py::test_add"], passToPass: ["tests/test_regress.py::test_zero"])
        #expect(HiddenTests.pytestFiles(instance, in: repo) == ["tests/test_new.py", "tests/test_regress.py"])
        let runner = try BubblewrapRunner(policy: SandboxPolicy(workspace: repo))
        let (results, _) = try await HiddenTests.run(instance, in: repo, with: runner, python: "python3", timeout: 120)
        #expect(results == ["tests/test_new.py::test_add": true, "tests/test_regress.py::test_zero": true])
    }

    @Test func sympyBareNamesFindTheirFiles() async throws {
        let repo = try await FixtureRepo.make([
            "sympy/core/tests/test_a.py": "def test_old():\n    pass\n",
            "sympy/core/tests/test_b.py": "def test_new():\n    pass\n",
            "sympy/other/tests/test_c.py": "def test_unrelated():\n    pass\n",
        ])
        let instance = EvalInstance(
            instanceID: "s", repo: "sympy/sympy", problemStatement: "",
            testPatch:
                "diff --git a/sympy/core/tests/test_b.py b/sympy/core/tests/test_b.py\n+++ b/sympy/core/tests/test_b.py\n",
            failToPass: ["test_new"], passToPass: ["test_old"])
        #expect(
            HiddenTests.sympyFiles(instance, in: repo) == ["sympy/core/tests/test_b.py", "sympy/core/tests/test_a.py"])
    }
}
