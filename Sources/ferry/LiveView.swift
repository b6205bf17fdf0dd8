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
        let data = event.data
        var line: String?
        switch event.type {
        case "run.started":
            line = "ferry run \(data["run_id"]?.stringValue ?? "") on \(data["branch"]?.stringValue ?? "") "
                + "· model \(data["model"]?.stringValue ?? "") (\(data["tool_protocol"]?.stringValue ?? ""))"
                + " · sandbox \(data["sandbox"]?.stringValue ?? "")"
            if data["sandbox"]?.stringValue == "none" { line! += "  [WARNING: commands run unsandboxed]" }
        case "tests.baseline":
            line = "baseline  `\(data["command"]?.stringValue ?? "")` → \(Self.testWord(data))"
        case "tool.result":
            let step = data["step"]?.intValue ?? 0
            let tool = data["tool"]?.stringValue ?? ""
            let brief = data["brief"]?.stringValue ?? ""
            let duration = data["duration_s"]?.doubleValue ?? 0
            let tokens = data["total_tokens"]?.intValue ?? 0
            let cost = data["cost_usd"]?.doubleValue ?? 0
            let error = data["is_error"]?.boolValue == true ? "  ✗" : ""
            line = Self.pad(String(format: "%4d", step), 4) + "  " + Self.pad(tool, 10) + " " + Self.pad(String(brief.prefix(44)), 44)
                + String(format: " %6.2fs  ", duration) + Self.pad(Self.compact(tokens), 7, left: true) + " tok  "
                + RunReport.usd(cost) + error
        case "attempt.started":
            var files = ""
            if case .array(let paths)? = data["files"] { files = paths.compactMap(\.stringValue).joined(separator: ", ") }
            line = "attempt   whole-file rewrite of \(files)"
        case "attempt.reproduction":
            line = "attempt   reproduction test in \(data["path"]?.stringValue ?? ""): "
                + (data["kept"]?.boolValue == true ? "fails before the fix, kept" : "dropped (\(data["reason"]?.stringValue ?? ""))")
        case "attempt.finished":
            line = "attempt   no fix passed; undone, the tool loop takes over"
        case "model.reply":
            if let error = data["format_error"]?.stringValue {
                line = String(format: "%4d  malformed reply: %@", data["step"]?.intValue ?? 0, String(error.prefix(80)) as NSString)
            }
        case "model.retry":
            line = "      model: \(data["reason"]?.stringValue ?? "") — retrying in \(String(format: "%.1f", data["wait_s"]?.doubleValue ?? 0))s"
        case "model.error":
            line = "      model error: \(data["error"]?.stringValue ?? "")"
        case "verify.result":
            line = "verify    \(data["outcome"]?.stringValue ?? "")" + (data["tests"].map { $0 == .null ? "" : " → \(Self.testWord($0))" } ?? "")
        case "context.compacted":
            line = "      context compacted: \(data["tokens_before"]?.intValue ?? 0) → \(data["tokens_after"]?.intValue ?? 0) tokens"
        case "run.error":
            line = "error: \(data["error"]?.stringValue ?? "")"
        default:
            break
        }
        if let line {
            print(line)
            fflush(nil)
        }
    }

    static func testWord(_ data: JSONValue) -> String {
        let passed = data["passed"]?.boolValue == true
        let summary = data["summary"]?.stringValue.map { " (\($0))" } ?? ""
        return (passed ? "pass" : data["timed_out"]?.boolValue == true ? "timed out" : "fail") + summary
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
            text += "change    \(record.branch) @ \(commit.prefix(12)) (\(RunReport.changedFiles(in: result.diff).joined(separator: ", ")))\n"
        } else {
            text += "change    none\n"
        }
        if record.sandbox == "none" { text += "sandbox   NONE: commands ran unsandboxed (set by \(result.sandboxSource))\n" }
        text += "tokens    \(record.inputTokens) in (\(record.cachedTokens) cached) · \(record.outputTokens) out\n"
        text += "cost      \(RunReport.usd(record.costUSD))\(result.costBreakdown.priceKnown ? "" : " (price unknown)")"
        text += " · \(record.steps) steps · \(String(format: "%.1f", record.wallSeconds))s\n"
        text += "files     \(record.runDirectory)/{summary.md,change.patch,result.json,trace.jsonl}\n"
        return text
    }
}
