import FerryCore
import FerrySandbox
import FerryTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite struct SandboxTests {
    func sandbox(network: Bool = false) async throws -> (BubblewrapRunner, String) {
        let repo = try await FixtureRepo.make(["a.txt": "a"])
        let policy = SandboxPolicy(workspace: repo, allowNetwork: network)
        var host = ProcessInfo.processInfo.environment
        host["OPENAI_API_KEY"] = "fake-openai-key-never-seen-0123456789"
        host["MY_SECRET_TOKEN"] = "hunter2hunter2"
        return (try BubblewrapRunner(policy: policy, hostEnvironment: host), repo)
    }

    func run(_ runner: some CommandRunner, _ script: String, in dir: String, timeout: Double = 30) async throws
        -> CommandResult
    {
        try await runner.run(CommandRequest(script: script, workingDirectory: dir, timeoutSeconds: timeout))
    }

    @Test func workspaceIsWritableButNothingElse() async throws {
        let (runner, repo) = try await sandbox()
        let inside = try await run(runner, "echo hi > new.txt && cat new.txt", in: repo)
        #expect(inside.exitCode == 0)
        #expect(FileManager.default.fileExists(atPath: repo + "/new.txt"))
        let parent = (repo as NSString).deletingLastPathComponent
        // The workspace's parent is under the private /tmp inside: a write there never reaches the host.
        _ = try await run(runner, "echo x > \(parent)/escape.txt", in: repo)
        #expect(!FileManager.default.fileExists(atPath: parent + "/escape.txt"))
        // The home directories are empty tmpfs inside: a write there dies with the sandbox.
        _ = try await run(runner, "echo x > /root/ferry-escape.txt", in: repo)
        #expect(!FileManager.default.fileExists(atPath: "/root/ferry-escape.txt"))
        let etc = try await run(runner, "echo x > /etc/ferry-escape", in: repo)
        #expect(etc.exitCode != 0)
        #expect(etc.output.contains("Read-only file system"))
        #expect(!FileManager.default.fileExists(atPath: "/etc/ferry-escape"))
    }

    @Test func gitDirectoryIsReadOnly() async throws {
        let (runner, repo) = try await sandbox()
        let before = try String(contentsOfFile: repo + "/.git/HEAD", encoding: .utf8)
        let result = try await run(runner, "echo corrupt > .git/HEAD", in: repo)
        #expect(result.exitCode != 0)
        #expect(try String(contentsOfFile: repo + "/.git/HEAD", encoding: .utf8) == before)
        let commit = try await run(runner, "git -c user.name=x -c user.email=y commit --allow-empty -m x", in: repo)
        #expect(commit.exitCode != 0)
    }

    @Test func tmpIsPrivate() async throws {
        let (runner, repo) = try await sandbox()
        let marker = "ferry-private-\(UUID().uuidString)"
        _ = try await run(runner, "echo x > /tmp/\(marker)", in: repo)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"))
    }

    @Test func networkIsBlockedUnlessAllowed() async throws {
        // A real listener on the host's loopback: reachable without the sandbox, not from inside it.
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        defer { channel.close(promise: nil) }
        let (runner, repo) = try await sandbox()
        let blocked = try await run(runner, "exec 3<>/dev/tcp/127.0.0.1/\(port) && echo connected", in: repo)
        #expect(!blocked.output.contains("connected"))
        let (open, openRepo) = try await sandbox(network: true)
        let allowed = try await run(open, "exec 3<>/dev/tcp/127.0.0.1/\(port) && echo connected", in: openRepo)
        #expect(allowed.output.contains("connected"))
    }

    @Test func secretsAreNotInTheEnvironment() async throws {
        let (runner, repo) = try await sandbox()
        let result = try await run(runner, "env", in: repo)
        #expect(result.exitCode == 0)
        #expect(!result.output.contains("fake-openai-key-never-seen"))
        #expect(!result.output.contains("hunter2"))
        #expect(result.output.contains("HOME=/tmp"))
    }

    @Test func timeoutKillsGrandchildren() async throws {
        let (runner, repo) = try await sandbox()
        // A grandchild that would keep writing ticks forever.
        let script = "(while true; do echo t >> ticks; sleep 0.1; done) & sleep 1000"
        let result = try await run(runner, script, in: repo, timeout: 1)
        #expect(result.timedOut)
        #expect(result.exitCode == nil)
        #expect(result.durationSeconds < 10)
        let count = { (try? String(contentsOfFile: repo + "/ticks", encoding: .utf8))?.count ?? 0 }
        let after = count()
        try await Task.sleep(for: .milliseconds(600))
        #expect(count() == after, "the grandchild is still writing after the timeout")
    }

    @Test func directRunnerTimeoutKillsTheProcessGroup() async throws {
        let repo = try await FixtureRepo.make(["a": ""])
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let result = try await run(
            runner, "(while true; do echo t >> ticks; sleep 0.1; done) & sleep 1000", in: repo, timeout: 1)
        #expect(result.timedOut)
        let count = { (try? String(contentsOfFile: repo + "/ticks", encoding: .utf8))?.count ?? 0 }
        let after = count()
        try await Task.sleep(for: .milliseconds(600))
        #expect(count() == after)
    }

    @Test func missingBubblewrapSaysHowToInstallIt() {
        #expect {
            try BubblewrapRunner(policy: SandboxPolicy(workspace: "/tmp"), hostEnvironment: ["PATH": "/nonexistent"])
        } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .sandboxUnavailable && error.message.contains("apt-get install bubblewrap")
                && error.message.contains("--sandbox none")
        }
    }

    @Test func exitCodesAndOutputAreReported() async throws {
        let (runner, repo) = try await sandbox()
        let result = try await run(runner, "echo out; echo err >&2; exit 7", in: repo)
        #expect(result.exitCode == 7)
        #expect(result.output.contains("out") && result.output.contains("err"))
    }
}
