import FerryCore
import Foundation

/// `report.json`, `report.md` and `report.html` for one run, and the comparison of several.
public enum EvalReport {
    public static func write(
        metrics: EvalMetrics, results: [InstanceResult], options: EvalOptions, to directory: String
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        struct Report: Encodable {
            var metrics: EvalMetrics
            var suite: String
            var gold: Bool
            var instances: [InstanceResult]
        }
        let sorted = results.sorted { $0.instanceID < $1.instanceID }
        try encoder.encode(Report(metrics: metrics, suite: options.suitePath, gold: options.gold, instances: sorted))
            .write(to: URL(fileURLWithPath: directory + "/report.json"))
        try Data(markdown(metrics, sorted).utf8).write(to: URL(fileURLWithPath: directory + "/report.md"))
        try Data(html(runs: [metrics], results: sorted).utf8).write(
            to: URL(fileURLWithPath: directory + "/report.html"))
    }

    public static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    /// With a cascade: how many instances the first profile settled (never reaching the next).
    public static func cascadeLine(_ results: [InstanceResult]) -> String? {
        let cascaded = results.filter { $0.stages != nil }
        guard !cascaded.isEmpty else { return nil }
        let first = cascaded.filter { $0.stages == 1 }.count
        let priced = cascaded.compactMap(\.cascadeAtLastPriceUSD)
        let against =
            priced.count == cascaded.count
            ? String(
                format: "; $%.4f in all against $%.4f for the same tokens at the last profile's price",
                cascaded.reduce(0) { $0 + $1.costUSD }, priced.reduce(0, +)) : ""
        return "cascade: \(first) of \(cascaded.count) instances never reached the second profile "
            + "(\(percent(Double(first) / Double(cascaded.count))))" + against
    }

    public static func summaryLines(_ m: EvalMetrics) -> [String] {
        [
            "resolved: \(m.resolved)/\(m.total) = \(percent(m.resolveRate)) (95% CI \(percent(m.ci95Low))–\(percent(m.ci95High)))",
            "false-verified: \(m.falseVerified) of \(m.verifiedClaims) verified claims (\(percent(m.falseVerifiedRate)))",
            String(
                format: "tokens/instance: %.0f · USD/instance: $%.4f · USD/resolved: %@", m.tokensPerInstance,
                m.usdPerInstance,
                m.usdPerResolved.map { String(format: "$%.4f", $0) } ?? "n/a"),
            String(
                format: "median wall: %.1fs · mean steps: %.1f · errors: %d · limits hit: %@", m.medianWallSeconds,
                m.meanSteps,
                m.errors,
                m.limitsHit.isEmpty
                    ? "none" : m.limitsHit.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ")),
        ] + (m.excluded > 0 ? ["excluded (cannot run here, not counted): \(m.excluded)"] : [])
    }

    /// The repository part of a SWE-bench id (`owner__name-123` → `owner/name`); nil for other ids.
    static func repository(of instanceID: String) -> String? {
        guard instanceID.contains("__"), let dash = instanceID.lastIndex(of: "-") else { return nil }
        return String(instanceID[..<dash]).replacingOccurrences(of: "__", with: "/")
    }

    /// Resolved/counted per repository, and the excluded instances with their reasons.
    static func byRepository(_ results: [InstanceResult]) -> String {
        let groups = Dictionary(grouping: results) { repository(of: $0.instanceID) ?? "" }
        guard groups.count > 1 || groups.keys.first != "" else { return "" }
        var text =
            "## By repository\n\n| repository | resolved | counted | excluded | rate |\n|---|---:|---:|---:|---:|\n"
        for (repo, group) in groups.sorted(by: { $0.key < $1.key }) {
            let counted = group.filter { $0.excluded == nil }
            let resolved = counted.filter(\.resolved).count
            text +=
                "| \(repo) | \(resolved) | \(counted.count) | \(group.count - counted.count) | "
                + (counted.isEmpty ? "n/a" : percent(Double(resolved) / Double(counted.count))) + " |\n"
        }
        return text + "\n"
    }

    /// Resolved/counted per repository and version, oldest first: how the rate moves from release to release (a
    /// suite mined from one repository's history spans many). Empty unless results carry two versions or more.
    static func byVersion(_ results: [InstanceResult]) -> String {
        let versioned = results.filter { $0.version != nil }
        let groups = Dictionary(grouping: versioned) { [repository(of: $0.instanceID) ?? "", $0.version ?? ""] }
        guard groups.count > 1 else { return "" }
        func numbers(_ version: String) -> [Int] { version.split(separator: ".").map { Int($0) ?? 0 } }
        let order = groups.keys.sorted {
            $0[0] != $1[0] ? $0[0] < $1[0] : numbers($0[1]).lexicographicallyPrecedes(numbers($1[1]))
        }
        var text = "## By version\n\n| repository | version | resolved | counted | rate |\n|---|---|---:|---:|---:|\n"
        for key in order {
            let counted = groups[key]!.filter { $0.excluded == nil }
            let resolved = counted.filter(\.resolved).count
            text +=
                "| \(key[0].isEmpty ? "—" : key[0]) | \(key[1]) | \(resolved) | \(counted.count) | "
                + (counted.isEmpty ? "n/a" : percent(Double(resolved) / Double(counted.count))) + " |\n"
        }
        return text + "\n"
    }

    static func exclusions(_ results: [InstanceResult]) -> String {
        let excluded = results.filter { $0.excluded != nil }
        let partly = results.filter { $0.excluded == nil && !($0.excludedTests ?? []).isEmpty }
        guard !excluded.isEmpty || !partly.isEmpty else { return "" }
        var text = "## Excluded (cannot run here)\n\n"
        text += excluded.map { "- \($0.instanceID): \($0.excluded ?? "")" }.joined(separator: "\n")
        if !partly.isEmpty {
            text +=
                (excluded.isEmpty ? "" : "\n")
                + partly.map {
                    "- \($0.instanceID), tests not scored: "
                        + ($0.excludedTests ?? []).map { "`\($0)`" }.joined(separator: ", ")
                }.joined(separator: "\n")
        }
        return text + "\n\n"
    }

    static func markdown(_ m: EvalMetrics, _ results: [InstanceResult]) -> String {
        var text = "# Eval: \(m.label)\n\n" + summaryLines(m).map { "- \($0)" }.joined(separator: "\n") + "\n"
        text += cascadeLine(results).map { "- \($0)\n" } ?? ""
        text += "\n"
        text += byRepository(results) + byVersion(results) + exclusions(results)
        text += "| instance | resolved | status | F2P | P2P | tokens | USD | wall s | steps | note |\n"
        text += "|---|---|---|---|---|---:|---:|---:|---:|---|\n"
        for r in results where r.excluded == nil {
            let f2p = "\(r.failToPass.values.filter { $0 }.count)/\(r.failToPass.count)"
            let p2p = "\(r.passToPass.values.filter { $0 }.count)/\(r.passToPass.count)"
            let note =
                r.error.map {
                    "error: "
                        + $0.prefix(80).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(
                            of: "\n", with: " ")
                }
                ?? (r.falseVerified ? "**false verified**" : r.limit.map { "limit: \($0)" } ?? "")
            text +=
                "| \(r.instanceID) | \(r.resolved ? "yes" : "no") | \(r.status) | \(f2p) | \(p2p) | \(r.inputTokens + r.outputTokens) | "
                + String(format: "%.4f", r.costUSD) + String(format: " | %.1f | ", r.wallSeconds)
                + "\(r.steps) | \(note) |\n"
        }
        return text
    }

    /// A standalone page: the summary, an SVG chart of resolve rate against cost per instance, and the table.
    public static func html(runs: [EvalMetrics], results: [InstanceResult]) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        var page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Ferry eval</title><style>
            body{font:14px system-ui,sans-serif;margin:2em;color:#222} table{border-collapse:collapse}
            td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} .yes{color:#080} .no{color:#a00}
            </style></head><body><h1>Ferry eval</h1>
            """
        for run in runs {
            page +=
                "<h2>\(escape(run.label))</h2><ul>" + summaryLines(run).map { "<li>\(escape($0))</li>" }.joined()
                + "</ul>"
        }
        page += "<h2>Accuracy against cost</h2>" + chart(runs)
        if !results.isEmpty {
            page +=
                "<h2>Instances</h2><table><tr><th>instance</th><th>resolved</th><th>status</th><th>tokens</th><th>USD</th><th>wall s</th><th>note</th></tr>"
            for r in results {
                let note = r.error ?? (r.falseVerified ? "false verified" : r.limit.map { "limit: \($0)" } ?? "")
                page +=
                    "<tr><td>\(escape(r.instanceID))</td><td class=\"\(r.resolved ? "yes" : "no")\">\(r.resolved ? "yes" : "no")</td>"
                    + "<td>\(escape(r.status))</td><td>\(r.inputTokens + r.outputTokens)</td>"
                    + String(format: "<td>%.4f</td><td>%.1f</td>", r.costUSD, r.wallSeconds)
                    + "<td>\(escape(String(note.prefix(160))))</td></tr>"
            }
            page += "</table>"
        }
        return page + "</body></html>\n"
    }

    /// Resolve rate (with its 95% interval) on the y axis, USD per instance on the x axis; one point per run.
    public static func chart(_ runs: [EvalMetrics]) -> String {
        let width = 560.0
        let height = 320.0
        let left = 60.0
        let bottom = 40.0
        let top = 20.0
        let right = 20.0
        let maxCost = max(runs.map(\.usdPerInstance).max() ?? 0, 1e-6) * 1.15
        func x(_ cost: Double) -> Double { left + cost / maxCost * (width - left - right) }
        func y(_ rate: Double) -> Double { height - bottom - rate * (height - bottom - top) }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"11\">"
        svg += "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(width - right)\" y2=\"\(y(0))\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(left)\" y2=\"\(y(1))\" stroke=\"#444\"/>"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += "<text x=\"\(left - 8)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(Int(tick * 100))%</text>"
            svg += "<line x1=\"\(left)\" y1=\"\(y(tick))\" x2=\"\(width - right)\" y2=\"\(y(tick))\" stroke=\"#eee\"/>"
        }
        for i in 0...4 {
            let cost = maxCost * Double(i) / 4
            svg +=
                "<text x=\"\(x(cost))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">$\(String(format: "%.4f", cost))</text>"
        }
        svg += "<text x=\"\((width + left) / 2)\" y=\"\(height - 4)\" text-anchor=\"middle\">USD per instance</text>"
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        for (index, run) in runs.enumerated() {
            let color = colors[index % colors.count]
            let px = x(run.usdPerInstance)
            svg +=
                "<line x1=\"\(px)\" y1=\"\(y(run.ci95Low))\" x2=\"\(px)\" y2=\"\(y(run.ci95High))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            svg += "<circle cx=\"\(px)\" cy=\"\(y(run.resolveRate))\" r=\"5\" fill=\"\(color)\"/>"
            let label = run.label.replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
                of: "&", with: "&amp;")
            svg +=
                "<text x=\"\(px + 8)\" y=\"\(y(run.resolveRate) - 6)\" fill=\"\(color)\">\(label) \(percent(run.resolveRate))</text>"
        }
        return svg + "</svg>"
    }

    /// Reads `report.json` from each directory and writes a comparison (Markdown and HTML) into `output`.
    public static func compare(_ directories: [String], output: String) throws -> String {
        var runs: [EvalMetrics] = []
        for directory in directories {
            guard let data = FileManager.default.contents(atPath: directory + "/report.json"),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                var metricsObject = json["metrics"] as? [String: Any]
            else { throw FerryError(.usage, "\(directory) has no readable report.json") }
            if metricsObject["excluded"] == nil { metricsObject["excluded"] = 0 }  // reports written before exclusions
            guard
                let metrics = try? JSONDecoder().decode(
                    EvalMetrics.self, from: JSONSerialization.data(withJSONObject: metricsObject))
            else { throw FerryError(.usage, "\(directory)/report.json has no readable metrics") }
            runs.append(metrics)
        }
        var text =
            "| run | resolved | rate (95% CI) | false-verified | tokens/inst | USD/inst | USD/resolved | median wall s |\n"
        text += "|---|---:|---|---:|---:|---:|---:|---:|\n"
        for m in runs {
            text +=
                "| \(m.label) | \(m.resolved)/\(m.total) | \(percent(m.resolveRate)) (\(percent(m.ci95Low))–\(percent(m.ci95High))) | "
                + "\(m.falseVerified)/\(m.verifiedClaims) | "
                + String(format: "%.0f | $%.4f | ", m.tokensPerInstance, m.usdPerInstance)
                + (m.usdPerResolved.map { String(format: "$%.4f", $0) } ?? "n/a")
                + String(format: " | %.1f |\n", m.medianWallSeconds)
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: output + "/compare.md"))
        try Data(html(runs: runs, results: []).utf8).write(to: URL(fileURLWithPath: output + "/compare.html"))
        return text
    }
}
