import FerryAgent
import FerryCore
import Foundation

/// The live output of a run: a line per step, or JSONL with `--json`.
struct LiveView: Sendable {
    let json: Bool

    func show(_ event: RunEvent) {
        if json {
            print(event.jsonLine)
            fflush(nil)
            return
        }
        var line: String?
        switch event.event {
        case .runStarted(let run):
            line =
                "ferry run \(run.runID) on \(run.branch) · model \(run.model) (\(run.toolProtocol)) · sandbox \(run.sandbox)"
            if run.sandbox == "none" { line! += "  [WARNING: commands run unsandboxed]" }
        case .baseline(let tests):
            line = "baseline  `\(tests.command)` → \(Self.testWord(tests))"
        case .toolResult(let result):
            line =
                Self.pad(String(format: "%4d", result.step), 4) + "  " + Self.pad(result.tool, 10) + " "
                + Self.pad(String(result.brief.prefix(44)), 44) + String(format: " %6.2fs  ", result.durationSeconds)
                + Self.pad(Self.compact(result.totalTokens), 7, left: true) + " tok  " + RunReport.usd(result.costUSD)
                + (result.isError ? "  ✗" : "")
        case .attemptStarted(let attempt):
            line = "attempt   whole-file rewrite of \(attempt.files.joined(separator: ", "))"
        case .attemptReproduction(let test):
            line =
                "attempt   reproduction test in \(test.path): "
                + (test.kept ? "fails before the fix, kept" : "dropped (\(test.reason ?? ""))")
        case .attemptFinished:
            line = "attempt   no fix passed; undone"
        case .attemptRetriesSkipped(let skipped):
            line = "attempt   one reply only: \(skipped.message)"
        case .loopSkipped(let skipped):
            line = "loop      not started: \(skipped.message)"
        case .modelReply(let reply):
            if let error = reply.formatError {
                line = String(format: "%4d  malformed reply: ", reply.step) + String(error.prefix(80))
            }
        case .modelRetry(let retry):
            line = "      model: \(retry.reason) — retrying in \(String(format: "%.1f", retry.waitSeconds))s"
        case .modelError(let error):
            line = "      model error: \(error.error)"
        case .verifyResult(let result):
            line = "verify    \(result.outcome)" + (result.tests.map { " → \(Self.testWord($0))" } ?? "")
        case .contextCompacted(let compacted):
            line = "      context compacted: \(compacted.tokensBefore) → \(compacted.tokensAfter) tokens"
        case .runHalted(let halted):
            line = "halted    \(halted.message)"
        case .runError(let failure):
            line = "error: \(failure.error)"
        default:
            break
        }
        if let line {
            print(line)
            fflush(nil)
        }
    }

    static func testWord(_ tests: TraceEvent.Tests) -> String {
        (tests.passed ? "pass" : tests.timedOut ? "timed out" : "fail") + (tests.summary.map { " (\($0))" } ?? "")
    }

    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        guard text.count < width else { return text }
        let fill = String(repeating: " ", count: width - text.count)
        return left ? fill + text : text + fill
    }

    static func compact(_ tokens: Int) -> String {
        tokens >= 10_000 ? String(format: "%.1fk", Double(tokens) / 1000) : "\(tokens)"
    }
}

/// The short report printed when a run ends.
enum Report {
    static func text(_ result: RunResult) -> String {
        let record = result.record
        var text = "\n"
        text += "status    \(record.status.rawValue.uppercased()) — \(record.reason)\n"
        if let commit = record.commitSHA {
            text +=
                "change    \(record.branch) @ \(commit.prefix(12)) (\(RunReport.changedFiles(in: result.diff).joined(separator: ", ")))\n"
        } else {
            text += "change    none\n"
        }
        if record.sandbox == "none" {
            text += "sandbox   NONE: commands ran unsandboxed (set by \(result.sandboxSource))\n"
        }
        text += "tokens    \(record.inputTokens) in (\(record.cachedTokens) cached) · \(record.outputTokens) out\n"
        text += "cost      \(RunReport.usd(record.costUSD))\(result.costBreakdown.priceKnown ? "" : " (price unknown)")"
        text += " · \(record.steps) steps · \(String(format: "%.1f", record.wallSeconds))s\n"
        for (index, line) in RunReport.cascadeLines(result).enumerated() {
            text += (index == 0 ? "cascade   " : "          ") + line + "\n"
        }
        if !result.cascade.isEmpty {
            text += "          all stages: \(RunReport.usd(result.totalCostUSD))"
            if let atLast = result.cascadeAtLastPriceUSD {
                text +=
                    ", against \(RunReport.usd(atLast)) for the same tokens at \(result.cascadeLastProfile ?? "the last profile")'s price"
            }
            text += "\n"
        }
        text += "files     \(record.runDirectory)/{summary.md,change.patch,result.json,trace.jsonl}\n"
        return text
    }
}
