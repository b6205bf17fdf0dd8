import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation

/// Scoring a patch: the instance's tests, applied in a worktree of the base, as SWE-bench's harness does.
extension EvalRunner {
    /// Reads SWE-bench predictions (JSONL with `instance_id` and `model_patch`).
    public static func loadPredictions(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(.usage, "cannot read \(path)")
        }
        var predictions: [String: String] = [:]
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            guard let json = JSONValue.parse(String(line)), let id = json["instance_id"]?.stringValue else {
                throw FerryError(.usage, "\(path):\(number + 1): not a prediction (needs instance_id and model_patch)")
            }
            predictions[id] = json["model_patch"]?.stringValue ?? ""
        }
        return predictions
    }

    /// Applies the patch and then the hidden tests to a clean copy at the base commit, and runs the tests.
    func score(_ instance: EvalInstance, patch: String, repo: String, base: String, into result: inout InstanceResult)
        async throws
    {
        let directory =
            options.outDirectory + "/work/score-" + instance.instanceID.replacingOccurrences(of: "/", with: "_")
        let git = Git(repo)
        try? await git.removeWorktree(path: directory)
        try? FileManager.default.removeItem(atPath: directory)
        try await git.run("worktree", "add", "-q", "--detach", directory, base)
        do {
            try await scoreInWorktree(instance, patch: patch, directory: directory, repoGit: git, into: &result)
        } catch {
            try? await git.removeWorktree(path: directory)
            throw error
        }
        try? await git.removeWorktree(path: directory)
    }

    /// Where the last scoring of `instance` left its test log.
    func testLog(_ instance: EvalInstance) -> String {
        options.outDirectory + "/work/\(instance.instanceID.replacingOccurrences(of: "/", with: "_")).test.log"
    }

    /// The paths a unified diff changes (both sides of each `diff --git` header).
    static func files(touchedBy patch: String) -> [String] {
        var paths: [String] = []
        for line in patch.split(separator: "\n") where line.hasPrefix("diff --git ") {
            let parts = line.dropFirst("diff --git ".count).split(separator: " ")
            for part in parts where part.hasPrefix("a/") || part.hasPrefix("b/") {
                let path = String(part.dropFirst(2))
                if !paths.contains(path) { paths.append(path) }
            }
        }
        return paths
    }

    func scoreInWorktree(
        _ instance: EvalInstance, patch: String, directory: String, repoGit git: Git, into result: inout InstanceResult
    ) async throws {
        let scoring = Git(directory)
        if !patch.isEmpty {
            guard try await Self.apply(patch, in: scoring, name: "model.patch") else {
                result.patchApplied = false
                return
            }
        }
        result.patchApplied = !patch.isEmpty
        if !instance.testPatch.isEmpty {
            // As SWE-bench's harness does: the files the test patch touches go back to the base first, so tests the
            // agent added to the same files cannot conflict with the official ones.
            try await scoring.reset(Self.files(touchedBy: instance.testPatch), to: "HEAD")
            guard try await Self.apply(instance.testPatch, in: scoring, name: "test.patch") else {
                throw FerryError(.git, "the test patch does not apply on top of the change")
            }
        }
        let commonGitDir = try await git.run("rev-parse", "--path-format=absolute", "--git-common-dir")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var environment: PreparedEnvironment?
        if let spec = try options.environments.spec(for: instance) {
            environment = try await environments.prepare(spec)
        }
        let variables =
            environment?.variables(scoringCopy: directory, hostPath: ProcessInfo.processInfo.environment["PATH"]) ?? [:]
        let runner = try makeRunner(
            SandboxPolicy(
                workspace: directory, readOnlyPaths: [directory + "/.git", commonGitDir], environment: variables,
                // The venvs live in Ferry's cache, which the sandbox hides; the scoring copy needs them.
                readOnlyBinds: [environments.root]))
        if let setup = environment?.spec.setup {
            let script = setup.replacingOccurrences(of: "{version}", with: instance.version ?? "0")
            let output = try await runner.run(
                CommandRequest(script: script, workingDirectory: directory, timeoutSeconds: 600))
            guard output.succeeded else {
                throw FerryError(.io, "environment setup failed: \(output.output.suffix(600))")
            }
        }
        if let setup = instance.setup, !setup.isEmpty {
            let output = try await runner.run(
                CommandRequest(script: setup, workingDirectory: directory, timeoutSeconds: options.testTimeoutSeconds))
            guard output.succeeded else {
                throw FerryError(.io, "setup failed: \(output.output.suffix(600))")
            }
        }
        let (statuses, log) = try await HiddenTests.run(
            instance, in: directory, with: runner, python: environment == nil ? options.python : "python",
            timeout: options.testTimeoutSeconds, prologue: environment?.servicesPrologue ?? "")
        try? Data(log.utf8).write(to: URL(fileURLWithPath: testLog(instance)))
        result.failToPass = Dictionary(uniqueKeysWithValues: instance.failToPass.map { ($0, statuses[$0] ?? false) })
        result.passToPass = Dictionary(uniqueKeysWithValues: instance.passToPass.map { ($0, statuses[$0] ?? false) })
        result.resolved =
            !patch.isEmpty && result.failToPass.values.allSatisfy { $0 } && result.passToPass.values.allSatisfy { $0 }
    }

    static func apply(_ patch: String, in git: Git, name: String) async throws -> Bool {
        let file = git.directory + "/../" + (git.directory as NSString).lastPathComponent + "." + name
        try Data(patch.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        for arguments in [["apply", "--whitespace=nowarn", file], ["apply", "--whitespace=nowarn", "--3way", file]] {
            if (try? await git.run(arguments)) != nil { return true }
        }
        let fallback = try await HostCommand.run(
            "patch", ["-p1", "--batch", "--fuzz=3", "-i", file], in: git.directory)
        return fallback.status == 0
    }
}
