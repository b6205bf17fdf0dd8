import FerryCore
import FerryStore
import Foundation

/// The human and machine forms of a finished run: `summary.md`, `result.json` and the terminal report.
public enum RunReport {
    public static func resultJSON(_ result: RunResult, compactions: Int = 0) -> JSONValue {
        let record = result.record
        return [
            "id": .string(record.id), "status": .string(record.status.rawValue), "reason": .string(record.reason),
            "limit": result.limit.map { JSONValue.string($0.rawValue) } ?? .null,
            "repo": .string(record.repo), "base": .string(record.base), "branch": .string(record.branch),
            "commit": record.commitSHA.map { JSONValue.string($0) } ?? .null, "task": .string(record.task),
            "summary": .string(record.summary), "model": .string(record.model), "provider": .string(record.provider),
            "sandbox": .string(record.sandbox), "steps": .number(Double(record.steps)),
            "compactions": .number(Double(compactions)),
            "tool_loop": record.toolLoop.map { JSONValue.string($0.rawValue) } ?? .null,
            "attempt_retries": record.retries.map { JSONValue.string($0.rawValue) } ?? .null,
            "usage": [
                "input_tokens": .number(Double(record.inputTokens)),
                "output_tokens": .number(Double(record.outputTokens)),
                "cached_input_tokens": .number(Double(record.cachedTokens)),
                "cache_write_tokens": .number(Double(record.cacheWriteTokens)),
            ],
            "cost_usd": .number(record.costUSD),
            "cost_breakdown": [
                "input_usd": .number(result.costBreakdown.inputUSD),
                "cached_input_usd": .number(result.costBreakdown.cachedInputUSD),
                "cache_write_usd": .number(result.costBreakdown.cacheWriteUSD),
                "output_usd": .number(result.costBreakdown.outputUSD),
                "price_known": .bool(result.costBreakdown.priceKnown),
            ],
            "wall_seconds": .number(record.wallSeconds),
            "tests": ["baseline": result.baseline?.json ?? .null, "final": result.final?.json ?? .null],
            "run_dir": .string(record.runDirectory),
            "cascade": result.cascade.isEmpty ? .null : cascadeJSON(result),
        ]
    }

    /// The cascade's stages and what they cost together.
    static func cascadeJSON(_ result: RunResult) -> JSONValue {
        [
            "total_cost_usd": .number(result.totalCostUSD),
            "last_profile": result.cascadeLastProfile.map(JSONValue.string) ?? .null,
            "at_last_profile_price_usd": result.cascadeAtLastPriceUSD.map(JSONValue.number) ?? .null,
            "stages": .array(
                result.cascade.map {
                    [
                        "profile": .string($0.profile), "model": .string($0.model), "run_id": .string($0.runID),
                        "status": .string($0.status.rawValue), "reason": .string($0.reason),
                        "cost_usd": .number($0.costUSD), "steps": .number(Double($0.steps)),
                        "wall_seconds": .number($0.wallSeconds), "chosen": .bool($0.chosen),
                        "input_tokens": .number(Double($0.usage.inputTokens)),
                        "output_tokens": .number(Double($0.usage.outputTokens)),
                    ]
                }),
        ]
    }

    /// The cascade in a few words (a task's reason): each stage's end and cost, and whose change it is.
    public static func cascadeSummary(_ result: RunResult) -> String? {
        guard let chosen = result.cascade.first(where: \.chosen) else { return nil }
        return "cascade: "
            + result.cascade.map { "\($0.profile) \($0.status.rawValue) \(usd($0.costUSD))" }
            .joined(separator: ", ") + "; the change is \(chosen.profile)'s"
            + (result.cascadeAtLastPriceUSD.map { atLast in
                let last = result.cascadeLastProfile ?? ""
                return "; \(usd(result.totalCostUSD)) in all against \(usd(atLast)) for the same tokens at the last "
                    + "profile's (\(last)'s) price"
            } ?? "")
    }

    /// One line per stage, for the summary and the terminal.
    public static func cascadeLines(_ result: RunResult) -> [String] {
        result.cascade.enumerated().map { index, stage in
            "\(index + 1). \(stage.profile) (\(stage.model)): \(stage.status.rawValue), \(usd(stage.costUSD)), "
                + "\(stage.steps) steps\(stage.chosen ? " (its change is the one handed back)" : "") [run \(stage.runID)]"
        }
    }

    public static func summaryMarkdown(_ result: RunResult) -> String {
        let record = result.record
        var text = "# Ferry run \(record.id)\n\n"
        text += "**Status: \(record.status.rawValue)**: \(record.reason)\n\n"
        text += "## Task\n\n\(record.task)\n\n"
        if !record.summary.isEmpty { text += "## Summary\n\n\(record.summary)\n\n" }
        text += "## Change\n\n"
        text += "- branch `\(record.branch)` from `\(record.base.prefix(12))`"
        text += record.commitSHA.map { ", commit `\($0.prefix(12))`\n" } ?? ", no commit (no change)\n"
        text += "- files: \(changedFiles(in: result.diff).joined(separator: ", "))\n"
        text +=
            "- sandbox: \(record.sandbox == "none" ? "**none** (commands ran unsandboxed; set by \(result.sandboxSource))" : record.sandbox)\n\n"
        text += "## Tests\n\n"
        if let baseline = result.baseline {
            text += "- command: `\(baseline.command)`\n"
            text += "- before: \(testLine(baseline))\n"
            text += "- after: \(result.final.map(testLine) ?? "not run")\n"
            text += result.testNotes.map { "- \($0)\n" }.joined() + "\n"
        } else {
            text += "No test command was found; the change is unverified.\n\n"
        }
        if !result.cascade.isEmpty {
            text += "## Cascade\n\n" + cascadeLines(result).map { "- \($0)\n" }.joined()
            text += "\nAll stages together: \(usd(result.totalCostUSD)).\n\n"
        }
        text += "## Cost\n\n" + costTable(record, result.costBreakdown)
        return text
    }

    public static func testLine(_ run: TestRun) -> String {
        (run.passed ? "pass" : run.timedOut ? "timed out" : "fail (exit \(run.exitCode.map(String.init) ?? "?"))")
            + (run.summaryLine.map { ", \($0)" } ?? "")
    }

    public static func costTable(_ record: RunRecord, _ breakdown: CostBreakdown) -> String {
        let uncached = max(0, record.inputTokens - record.cachedTokens - record.cacheWriteTokens)
        var text = "| tokens | count | USD |\n|---|---:|---:|\n"
        text += "| input (uncached) | \(uncached) | \(usd(breakdown.inputUSD)) |\n"
        text += "| input (cache read) | \(record.cachedTokens) | \(usd(breakdown.cachedInputUSD)) |\n"
        text += "| input (cache write) | \(record.cacheWriteTokens) | \(usd(breakdown.cacheWriteUSD)) |\n"
        text += "| output | \(record.outputTokens) | \(usd(breakdown.outputUSD)) |\n"
        text += "| **total** | \(record.inputTokens + record.outputTokens) | **\(usd(record.costUSD))** |\n"
        if !breakdown.priceKnown { text += "\nThe model's price is unknown (add it to the config), so cost shows 0.\n" }
        text +=
            "\n\(record.steps) steps, \(String(format: "%.1f", record.wallSeconds))s wall time, model \(record.model).\n"
        return text
    }

    public static func usd(_ value: Double) -> String {
        value == 0 ? "$0" : value < 0.01 ? String(format: "$%.5f", value) : String(format: "$%.4f", value)
    }

    public static func changedFiles(in diff: String) -> [String] {
        diff.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("diff --git a/") else { return nil }
            return line.split(separator: " ").last.map { String($0.dropFirst(2)) }
        }
    }
}
