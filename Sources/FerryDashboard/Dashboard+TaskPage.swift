import FerryCore
import FerryServer
import FerryServerStore
import FerryStore
import Foundation
import Hummingbird

/// One task: what was asked and what came of it, the evidence, the trace (live while it runs) and the change.
extension Dashboard {
    func taskPage(_ request: Request, id: String) async throws -> Response {
        let viewer = try await signedIn(request)
        guard let task = try await store.task(id, tenantID: viewer.principal.tenantID) else {
            throw page(.notFound, "No task \(id).")
        }
        let project = try await store.project(id: task.projectID)
        var events: [RunEvent] = []
        if let run = task.runID { events = try await runStore.events(of: run) }
        let trace = Self.traceRows(events)
        let files = DiffView.files(task.diff ?? "")
        var values: [String: Any] = [
            "title": Self.title(task.task), "id": task.id, "text": task.task, "status": task.state.apiName,
            "reason": task.reason as Any, "project": project?.name ?? task.projectID,
            "model": task.model ?? project?.model ?? "default", "attempt": task.attempt,
            "maxAttempts": task.maxAttempts,
            "cost": Self.money(task.costUSD), "time": Self.duration(task.wallSeconds), "steps": task.steps,
            "branch": task.branch as Any, "commit": task.commitSHA.map { String($0.prefix(12)) } as Any,
            "pushedTo": task.pushedTo as Any, "errors": task.errors, "hasErrors": !task.errors.isEmpty,
            "created": Self.time(task.createdAt) as Any, "finished": Self.time(task.finishedAt) as Any,
            "retryOf": task.retryOf as Any, "maxCost": task.maxCostUSD.map(Self.money) as Any,
            "trace": trace, "hasTrace": !trace.isEmpty, "live": !task.state.isTerminal,
            "lastEvent": events.last.map { "\(task.runID ?? ""):\($0.seq)" } ?? "",
            "files": files.map(\.values), "hasDiff": !files.isEmpty, "changedFiles": files.count,
            "ended": task.state.isTerminal, "runID": task.runID as Any,
        ]
        values["evidence"] = Self.evidence(events)
        // A task from a forge: its issue, its pull request and how telling its end went.
        if let link = try await store.forgeLink(taskID: task.id) {
            values["forge"] =
                [
                    "issue": link.issue, "title": link.title, "pullRequest": link.pullRequest as Any,
                    "pullRequestURL": link.pullRequestURL as Any, "followUp": link.isFollowUp,
                    "state": link.state == "done"
                        ? "told" : link.state == "failed" ? "could not be told" : "to be told",
                    "lastError": link.lastError as Any,
                ] as [String: Any]
        }
        return html("task", values, viewer: viewer)
    }

    /// Which tests failed before the change and what the tests said after it.
    static func evidence(_ events: [RunEvent]) -> [[String: Any]] {
        var rows: [[String: Any]] = []
        for event in events {
            switch event.event {
            case .baseline(let tests):
                rows.append([
                    "when": "Before the change", "command": tests.command, "passed": tests.passed,
                    "verdict": tests.passed ? "passed" : (tests.timedOut ? "timed out" : "failed"),
                    "summary": tests.summary ?? "exit \(tests.exitCode.map(String.init) ?? "–")",
                ])
            case .verifyResult(let result):
                rows.append([
                    "when": "After the change" + (result.phase.map { " (\($0))" } ?? ""),
                    "command": result.tests?.command ?? "",
                    "passed": result.tests?.passed ?? false, "verdict": result.outcome,
                    "summary": result.tests?.summary ?? result.changedFiles.joined(separator: ", "),
                ])
            default: continue
            }
        }
        return rows
    }

    /// Each trace event folded: a summary line (what, tokens, cost, time since the previous event) and its data.
    static func traceRows(_ events: [RunEvent]) -> [[String: Any]] {
        var previous = events.first?.time
        return events.map { event in
            let delta = previous.map { event.time - $0 } ?? 0
            previous = event.time
            var summary = event.type
            var kind = "event"
            switch event.event {
            case .modelReply(let reply):
                kind = "model"
                let calls = reply.toolCalls.map(\.name).joined(separator: ", ")
                summary =
                    "model call \(reply.step): \(reply.usage.inputTokens) in / \(reply.usage.outputTokens) out tokens, "
                    + money(reply.costUSD) + (calls.isEmpty ? "" : " → \(calls)")
            case .toolResult(let result):
                kind = result.isError ? "tool error" : "tool"
                summary =
                    "\(result.tool) \(result.brief)" + String(format: " (%.2f s)", result.durationSeconds)
                    + (result.isError ? " — error" : "")
            case .baseline(let tests):
                kind = "tests"
                summary =
                    "tests before the change: " + (tests.passed ? "passed" : "failed")
                    + (tests.summary.map { " — \($0)" } ?? "")
            case .verifyResult(let result):
                kind = "tests"
                summary = "verification: \(result.outcome)" + (result.tests?.summary.map { " — \($0)" } ?? "")
            case .runFinished(let finished):
                kind = "end"
                summary = "run finished: \(finished.status.rawValue) — \(finished.reason)"
            default: break
            }
            return [
                "seq": event.seq, "type": event.type, "kind": kind, "summary": summary,
                "delta": String(format: "+%.2f s", delta), "data": event.jsonLine,
            ]
        }
    }
}
