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
        /// What the run spent, over every phase.
        let budget: Budget
        let compactions: Int
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
            let (diff, commitSHA) = await commit(&outcome)
            // Events the store refused are still in trace.jsonl; the run says how many, so the record is not
            // silently short.
            let lost = await recorder.storeErrors
            if !lost.isEmpty {
                outcome.reason +=
                    (outcome.reason.isEmpty ? "" : "; ")
                    + "\(lost.count) trace event(s) could not be stored (trace.jsonl has them): \(lost[0])"
            }
            let usage = budget.usage
            record.status = outcome.status
            record.reason = redactor(outcome.reason)
            record.summary = redactor(outcome.summary)
            record.task = redactor(record.task)
            record.steps = budget.steps
            record.inputTokens = usage.inputTokens
            record.outputTokens = usage.outputTokens
            record.cachedTokens = usage.cachedInputTokens
            record.cacheWriteTokens = usage.cacheWriteTokens
            record.costUSD = budget.costUSD
            record.wallSeconds = wallSeconds
            record.commitSHA = commitSHA
            record.finishedAt = Date()

            var result = RunResult(
                record: record, diff: redactor(diff), baseline: baseline, final: finalTests, limit: outcome.limit,
                costBreakdown: CostBreakdown(usage: usage, price: price))
            result.sandboxSource = sandboxSource
            result.testNotes = await recorder.testNotes
            if let output = baseline?.output { result.baseline?.output = redactor(output) }
            if let output = finalTests?.output { result.final?.output = redactor(output) }
            for failure in RunFiles.write(result, compactions: compactions) {
                await recorder.record(.runError(.init(failure)))
            }
            await recorder.record(
                .runFinished(
                    .init(
                        status: outcome.status, reason: outcome.reason, limit: outcome.limit, commit: commitSHA,
                        steps: record.steps, usage: usage, costUSD: record.costUSD, wallSeconds: record.wallSeconds,
                        runDir: runDirectory)))
            await recorder.close()
            try await store.update(record)

            if !keepWorktree {
                try? await repoGit.removeWorktree(path: worktreePath)
                if commitSHA == nil { try? await repoGit.run("branch", "-D", record.branch, allowFailure: true) }
            }
            return result
        }

        /// Commits the change through `ChangeGuard` (which may leave files out or redact them, and then the outcome
        /// says so): its diff and commit, or an empty diff and nil when nothing could be committed (the trace says
        /// why).
        func commit(_ outcome: inout AgentMachine.Outcome) async -> (diff: String, sha: String?) {
            let judged = outcome
            do {
                let committed = try await ChangeGuard.commit(
                    git: worktreeGit, root: worktreePath, base: base, maxFileBytes: maxFileBytes, redactor: redactor
                ) { guarded in
                    AgentRunner.commitMessage(
                        task: record.task, outcome: judged.committed(differingBy: guarded.notes), runID: record.id)
                }
                outcome = outcome.committed(differingBy: committed.guarded.notes)
                if !committed.guarded.notes.isEmpty {
                    await recorder.record(
                        .changeGuarded(.init(leftOut: committed.guarded.leftOut, redacted: committed.guarded.redacted)))
                }
                return (committed.diff, committed.sha)
            } catch {
                await recorder.record(.runError(.init("could not commit: \(error)")))
                return ("", nil)
            }
        }
    }
}

/// The four files of a finished run.
enum RunFiles {
    /// Writes them; returns what could not be written (each file is tried whatever happened to the others).
    static func write(_ result: RunResult, compactions: Int) -> [String] {
        let directory = result.record.runDirectory
        let files: [(String, String)] = [
            ("change.patch", result.diff), ("summary.md", RunReport.summaryMarkdown(result)),
            ("result.json", RunReport.resultJSON(result, compactions: compactions).jsonString),
        ]
        return files.compactMap { name, text in
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
                return nil
            } catch {
                return "could not write \(name): \(error.localizedDescription)"
            }
        }
    }
}
