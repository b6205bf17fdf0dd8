import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryEval

/// An eval's model must not read the fix from the repository's future. The suite's repository here holds, after the
/// instance's base, the fix commit on `main`, a tag and a branch at it, a remote, reflog entries and an object no ref
/// reaches. A scripted model runs every git command a published agent has used to find such things; what it is
/// shown (the tool results sent back to the model, over real HTTP, from the real sandbox) holds none of it, while
/// the base commit itself is there.
@Suite struct EvalHistoryTests {
    @Test func theModelSeesTheBaseAndItsAncestorsOnlyNeverTheFix() async throws {
        let repo = try await FixtureRepo.make(EvalTests.base)
        let git = Git(repo)
        try "# notes\n".write(toFile: repo + "/NOTES.md", atomically: true, encoding: .utf8)
        try await git.run("add", "NOTES.md")
        try await git.run("commit", "-q", "-m", "an ancestor of the base")
        let base = try await git.run("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        // The future: the fix (with a marker only it carries), a tag, a branch, a remote, an unreachable object.
        try "def add(a, b):\n    return a + b  # FIXMARKER\n".write(
            toFile: repo + "/calc.py", atomically: true, encoding: .utf8)
        try await git.run("commit", "-q", "-am", "FIXMARKER: add() adds")
        let fix = try await git.run("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
        try await git.run("tag", "-a", "v9.9-fixtag", "-m", "FIXMARKER release")
        try await git.run("branch", "fixbranch")
        try await git.run("remote", "add", "upstream", "https://example.invalid/upstream.git")
        try await git.run("update-ref", "refs/remotes/upstream/main", fix)
        let loose = try await HostCommand.run(
            "sh", ["-c", "printf 'FIXMARKER unreachable' | git hash-object -w --stdin"], in: repo)
        let unreachable = loose.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(unreachable.count == 40)

        var instance = EvalTests().instance("leak-1", repo: repo)
        instance.baseCommit = base
        let suite = try EvalTests().suite([instance])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-eval-leak-\(UUID().uuidString.prefix(8))"
        ).path
        let probes = [
            "git log --all --oneline --decorate", "git tag -l", "git branch -a", "git remote -v", "git reflog --all",
            "git cat-file --batch-all-objects --batch | tr '\\000' ' '", "git show \(fix):calc.py",
            "git cat-file -p \(unreachable)",
            "git fsck --lost-found --unreachable", "ls -R \"$(git rev-parse --git-common-dir)\"",
            "cat \"$(git rev-parse --git-common-dir)/packed-refs\"", "git for-each-ref",
        ]
        let script: [FakeStep] =
            probes.map { .call("shell", ["command": .string($0 + " 2>&1")], usage: EvalTests.usage) }
            + [.call("finish", ["summary": "looked around"], usage: EvalTests.usage)]
        let shown = try await FakeModelServer.with(.openai, script: script) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
            let client = ModelFactory.httpClient(for: profile)
            var config = FerryConfig(dataDirectory: out + "/unused")
            config.limits.repairRounds = 0
            config.limits.maxSteps = 40
            config.firstAttempt = .off
            let agent = EvalAgent(
                model: ModelFactory.make(profile: profile, apiKey: nil, client: client), config: config)
            let options = EvalOptions(suitePath: suite, outDirectory: out)
            do {
                _ = try await EvalRunner(options: options, agent: agent).run()
                try await client.shutdown()
            } catch {
                try await client.shutdown()
                throw error
            }
            // The tool results of the last request: everything every probe printed.
            let last = try #require(server.requests.last)
            guard case .array(let messages) = last["messages"] ?? .null else { return [String]() }
            return messages.filter { $0["role"]?.stringValue == "tool" }.compactMap { $0["content"]?.stringValue }
        }
        #expect(shown.count == probes.count, "\(shown)")
        // git names the ids the probes asked for when it cannot find them: those lines echo the model's own words.
        let all = shown.joined(separator: "\n")
        #expect(all.contains("Not a valid object name \(unreachable)"), "\(all)")
        #expect(
            all.contains("not in '\(fix)'") || all.contains("invalid object name '\(fix)'")
                || all.contains("bad revision"), "\(all)")
        let text = all.split(separator: "\n").filter { !$0.hasPrefix("fatal:") }.joined(separator: "\n")
        // The probes ran and saw the past: the base commit and its ancestor.
        #expect(text.contains(String(base.prefix(7))), "\(text)")
        #expect(text.contains("an ancestor of the base"))
        // …and nothing of the future.
        for leak in [
            "FIXMARKER", String(fix.prefix(7)), "v9.9-fixtag", "fixbranch", "upstream", String(unreachable.prefix(7)),
        ] {
            #expect(!text.contains(leak), "the model saw \(leak) in: \(text.replacingOccurrences(of: "\0", with: " "))")
        }
        // The copy the agent worked on is gone; the suite's repository is as it was.
        #expect(!FileManager.default.fileExists(atPath: out + "/history/leak-1"))
        #expect(try await git.run("rev-parse", "fixbranch").hasPrefix(fix))
    }
}
