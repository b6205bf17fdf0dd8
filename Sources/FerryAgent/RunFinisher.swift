import FerryCore
import FerryStore
import FerryWorkspace
import Foundation

extension AgentRunner {
    /// The last part of a run: the change is checked (size, secrets), committed on the run's branch, the four files
    /// written, the store row updated and the worktree removed. Everything written passes through the run's
    /// `Redactor` here, once: the record, the summary, the diff, the commit message.
    struct Finishing: Sendable {
        var record: RunRecord
        var outcome: AgentMachine.Outcome
        let loop: AgentMachine
        let baseline: TestRun?
        let finalTests: TestRun?
        let wallSeconds: Double
        let base: String
        let repoGit: Git
        let worktreeGit: Git
        let recorder: EventRecorder
        let keepWorktree: Bool
        let worktreePath: String
        let price: Price?
        let store: any RunStore
        let redactor: Redactor
        let maxFileBytes: Int
        let sandboxSource: String

        func run() async throws -> RunResult {
            var record = self.record
            var outcome = self.outcome
            let runDirectory = record.runDirectory
            var diff = ""
            var commitSHA: String?
            do {
                let committed = try await ChangeGuard.commit(
                    git: worktreeGit, root: worktreePath, base: base, maxFileBytes: maxFileBytes, redactor: redactor
                ) { guarded in
                    // The committed change is not the one the tests judged.
                    if !guarded.notes.isEmpty {
                        if outcome.status == .verified { outcome.status = .unverified }
                        outcome.reason += (outcome.reason.isEmpty ? "" : "; ") + guarded.notes.joined(separator: "; ")
                    }
                    return AgentRunner.commitMessage(task: record.task, outcome: outcome, runID: record.id)
                }
                if !committed.guarded.notes.isEmpty {
                    await recorder.record(
                        "change.guarded",
                        [
                            "left_out": .array(committed.guarded.leftOut.map { .string($0) }),
                            "redacted": .array(committed.guarded.redacted.map { .string($0) }),
                        ])
                }
                diff = committed.diff
                commitSHA = committed.sha
            } catch {
                await recorder.record("run.error", ["error": .string("could not commit: \(error)")])
            }
            let usage = loop.usage
            record.status = outcome.status
            record.reason = redactor(outcome.reason)
            record.summary = redactor(outcome.summary)
            record.task = redactor(record.task)
            record.steps = loop.steps
            record.inputTokens = usage.inputTokens
            record.outputTokens = usage.outputTokens
            record.cachedTokens = usage.cachedInputTokens
            record.cacheWriteTokens = usage.cacheWriteTokens
            record.costUSD = loop.costUSD
            record.wallSeconds = wallSeconds
            record.commitSHA = commitSHA
            record.finishedAt = Date()

            var result = RunResult(
                record: record, diff: redactor(diff), baseline: baseline, final: finalTests, limit: outcome.limit,
                costBreakdown: CostBreakdown(usage: usage, price: price))
            result.sandboxSource = sandboxSource
            if let output = baseline?.output { result.baseline?.output = redactor(output) }
            if let output = finalTests?.output { result.final?.output = redactor(output) }
            RunFiles.write(result, compactions: loop.compactions)
            await recorder.record(
                "run.finished",
                [
                    "status": .string(outcome.status.rawValue), "reason": .string(outcome.reason),
                    "limit": outcome.limit.map { JSONValue.string($0.rawValue) } ?? .null,
                    "commit": commitSHA.map { JSONValue.string($0) } ?? .null, "steps": .number(Double(record.steps)),
                    "usage": AgentRunner.usageJSON(usage), "cost_usd": .number(record.costUSD),
                    "wall_s": .number(record.wallSeconds), "run_dir": .string(runDirectory),
                ])
            await recorder.close()
            try await store.update(record)

            if !keepWorktree {
                try? await repoGit.removeWorktree(path: worktreePath)
                if commitSHA == nil { try? await repoGit.run("branch", "-D", record.branch, allowFailure: true) }
            }
            return result
        }
    }
}

/// The four files of a finished run.
enum RunFiles {
    static func write(_ result: RunResult, compactions: Int) {
        let directory = result.record.runDirectory
        try? Data(result.diff.utf8).write(to: URL(fileURLWithPath: directory + "/change.patch"))
        try? Data(RunReport.summaryMarkdown(result).utf8).write(to: URL(fileURLWithPath: directory + "/summary.md"))
        try? Data(RunReport.resultJSON(result, compactions: compactions).jsonString.utf8).write(
            to: URL(fileURLWithPath: directory + "/result.json"))
    }
}

/// What may go into a run's commit. Everything is staged, then files over the size limit are taken out of the commit
/// (a 300 MB blob has no place on a branch someone will push), and secrets in the changed text files are replaced:
/// a key the model saw must never be committed.
enum ChangeGuard {
    struct Result {
        var leftOut: [String] = []
        var redacted: [String] = []
        var notes: [String] = []
    }

    static func apply(git: Git, root: String, base: String, maxFileBytes: Int, redactor: Redactor) async throws -> Result {
        var result = Result()
        let changed = try await git.changedFiles(against: base)
        for path in changed {
            let full = root + "/" + path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: full),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            if size > maxFileBytes {
                try await git.run("rm", "--cached", "-q", "--", path)
                result.leftOut.append(path)
                result.notes.append(
                    "\(path) (\(megabytes(size))) was left out of the commit: it is over the \(megabytes(maxFileBytes)) "
                        + "file size limit ([limits] max_file_mb)")
                continue
            }
            guard !redactor.isEmpty, let data = FileManager.default.contents(atPath: full), !data.prefix(8000).contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            guard redactor.contains(in: text) else { continue }
            try Workspace.write(Data(redactor(text).utf8), to: full)
            try await git.run("add", "--", path)
            result.redacted.append(path)
            result.notes.append("\(path) held a secret from Ferry's environment, replaced with \(Redactor.mask) before the commit")
        }
        return result
    }

    /// What `commit` made.
    struct Committed {
        var guarded: Result
        var diff: String
        var sha: String?
    }

    /// Stages and guards the change, then commits it (when there is one) with the message `message` gives once it
    /// knows what the guard did; the message is redacted like everything else.
    static func commit(
        git: Git, root: String, base: String, maxFileBytes: Int, redactor: Redactor, message: (Result) -> String
    ) async throws -> Committed {
        let guarded = try await apply(git: git, root: root, base: base, maxFileBytes: maxFileBytes, redactor: redactor)
        let diff = try await git.run("diff", "--cached", "--binary", base)
        let text = message(guarded)
        let sha = diff.isEmpty ? nil : try await git.commit(message: redactor(text))
        return Committed(guarded: guarded, diff: diff, sha: sha)
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_048_576)
    }
}
