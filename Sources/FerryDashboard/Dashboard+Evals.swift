import FerryCore
import FerryServer
import FerryServerStore
import FerryStore
import Foundation
import Hummingbird

/// Accuracy: `ferry eval` reports (imported, or written by the server's accuracy watch) over time against the 80%
/// line, one report's instances, and, for the watch's own reports, each instance's run and trace.
extension Dashboard {
    func addEvalRoutes(to router: Router<ServerContext>) {
        router.get("/evals") { request, _ in try await handle { try await evalsPage(request) } }
        router.post("/evals") { request, context in
            try await handle { try await importEval(request, remote: context.remote) }
        }
        router.get("/evals/:id") { request, context in
            try await handle { try await evalPage(request, id: context.parameters.get("id") ?? "") }
        }
        router.get("/evals/:id/runs/:run") { request, context in
            try await handle {
                try await evalRunPage(
                    request, id: context.parameters.get("id") ?? "", run: context.parameters.get("run") ?? "")
            }
        }
    }

    func evalsPage(_ request: Request) async throws -> Response {
        let viewer = try await signedIn(request)
        let records = try await store.evals(tenantID: viewer.principal.tenantID)
        var rows: [[String: Any]] = []
        var bySuite: [String: [Double]] = [:]
        for record in records {
            guard let report = JSONValue.parse(record.report), let metrics = report["metrics"] else { continue }
            // A suite is named by its folder when its file has the usual name (evals/ferry-easy/suite.jsonl); a
            // project's watch by its project and profile, so each makes one line over time.
            let watch = report["watch"]?["project_name"]?.stringValue.map { project in
                "watch: \(project)" + (report["watch"]?["profile"]?.stringValue.map { " (\($0))" } ?? "")
            }
            let suite =
                watch ?? report["suite"]?.stringValue.map { path -> String in
                    let url = URL(fileURLWithPath: path)
                    return url.lastPathComponent == "suite.jsonl"
                        ? url.deletingLastPathComponent().lastPathComponent : url.lastPathComponent
                } ?? record.name
            // Reports are checked when imported; one stored before that check is shown with what is out of range
            // as "?" (never converted where it could trap).
            func value(_ key: String, _ range: ClosedRange<Double>) -> Double? {
                metrics[key]?.doubleValue.flatMap { $0.isFinite && range.contains($0) ? $0 : nil }
            }
            let rate = value("resolve_rate", 0...1) ?? 0
            bySuite[suite, default: []].append(rate)
            func pct(_ key: String) -> String { value(key, 0...1).map { String(format: "%.1f%%", $0 * 100) } ?? "?" }
            func count(_ key: String) -> String { value(key, 0...1e12).map { String(Int($0.rounded())) } ?? "?" }
            rows.append([
                "name": record.name, "id": record.id, "suite": suite, "at": Self.time(record.at) as Any,
                "resolved": "\(count("resolved"))/\(count("total"))",
                "rate": pct("resolve_rate"), "ci": "\(pct("ci95_low"))–\(pct("ci95_high"))",
                "falseVerified": pct("false_verified_rate"),
                "perResolved": value("usd_per_resolved", 0...1e12).map(Self.money) ?? "–", "met": rate >= 0.8,
                // A watch's instances resolved by its previous run and not by this one.
                "regressions": Self.regressions(report) as Any,
            ])
        }
        let series = bySuite.sorted { $0.key < $1.key }.map { (name: $0.key, points: $0.value) }
        return html(
            "evals",
            [
                "title": "Accuracy", "runs": rows.reversed() as [[String: Any]], "hasRuns": !rows.isEmpty,
                "chart": Charts.rates(
                    series, goal: 0.8, label: "Resolve rate per eval run, by suite, against the 80% line"),
                "suites": series.map(\.name),
            ], viewer: viewer)
    }

    static func regressions(_ report: JSONValue) -> String? {
        guard case .array(let items)? = report["watch"]?["regressions"], !items.isEmpty else { return nil }
        return items.compactMap(\.stringValue).prefix(20).joined(separator: ", ")
    }

    func importEval(_ request: Request, remote: String?) async throws -> Response {
        let viewer = try await signedIn(request)
        let fields = try await form(request, viewer)
        guard let text = fields["report"], let parsed = JSONValue.parse(text), parsed["metrics"]?["resolve_rate"] != nil
        else {
            throw page(
                .badRequest,
                "That is not a `ferry eval` report.json (it needs metrics.resolve_rate). Go back and paste the file.")
        }
        let report: JSONValue
        do {
            report = try ServerAPI.importable(parsed)
        } catch let problem as Problem {
            throw page(.badRequest, "That report cannot be shown: \(problem.detail).")
        }
        let name = (fields["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let label = name.isEmpty ? (report["metrics"]?["label"]?.stringValue ?? "eval") : name
        let id = try await store.addEval(
            tenantID: viewer.principal.tenantID, name: label, report: report.jsonString, at: Date())
        try await ServerAPI(store: store, runStore: runStore).record(
            viewer.principal, "eval.import", id, label, remote, surface: .dashboard)
        return Self.redirect("/evals")
    }

    /// The viewer's tenant's eval `id` and its parsed report.
    func evalRecord(_ viewer: Viewer, _ id: String) async throws -> (EvalRecord, JSONValue) {
        guard let record = try await store.evals(tenantID: viewer.principal.tenantID).first(where: { $0.id == id }),
            let report = JSONValue.parse(record.report)
        else { throw page(.notFound, "No eval run \(id).") }
        return (record, report)
    }

    /// One eval run: its figures, what the watch mined, and each instance with its verdict, cost and (for the
    /// watch's runs) a link to its trace.
    func evalPage(_ request: Request, id: String) async throws -> Response {
        let viewer = try await signedIn(request)
        let (record, report) = try await evalRecord(viewer, id)
        let metrics = report["metrics"] ?? .null
        let traces = report["watch"]?["traces"]?.boolValue == true
        func number(_ value: JSONValue?) -> Double? { value?.doubleValue.flatMap { $0.isFinite ? $0 : nil } }
        func pct(_ key: String) -> String {
            number(metrics[key]).map { (0...1).contains($0) ? String(format: "%.1f%%", $0 * 100) : "?" } ?? "–"
        }
        func whole(_ value: JSONValue?) -> String {
            number(value).map { (0...1e12).contains($0) ? String(Int($0.rounded())) : "?" } ?? "–"
        }
        let instances = (report["instances"]?.arrayItems ?? []).map { item -> [String: Any] in
            let runID = item["run_id"]?.stringValue
            let tokens = (number(item["input_tokens"]) ?? 0) + (number(item["output_tokens"]) ?? 0)
            return [
                "id": item["instance_id"]?.stringValue ?? "?", "resolved": item["resolved"]?.boolValue == true,
                "status": item["status"]?.stringValue ?? "–",
                "cost": number(item["cost_usd"]).map { Self.money(max(0, $0)) } ?? "–",
                "tokens": whole(.number(tokens)), "time": Self.duration(number(item["wall_seconds"])),
                "profile": item["profile"]?.stringValue as Any, "stages": whole(item["stages"]),
                "excluded": item["excluded"]?.stringValue as Any,
                "error": item["error"]?.stringValue.map { String($0.prefix(300)) } as Any,
                "trace": (traces ? runID : nil).map { "/evals/\(record.id)/runs/\($0)" } as Any,
            ]
        }
        let watch = report["watch"]
        let values: [String: Any] = [
            "title": record.name, "id": record.id, "at": Self.time(record.at) as Any,
            "label": metrics["label"]?.stringValue ?? "–",
            "resolved": "\(whole(metrics["resolved"]))/\(whole(metrics["total"]))", "rate": pct("resolve_rate"),
            "ci": "\(pct("ci95_low"))–\(pct("ci95_high"))", "falseVerified": pct("false_verified_rate"),
            "perResolved": number(metrics["usd_per_resolved"]).map { Self.money(max(0, $0)) } ?? "–",
            "met": (number(metrics["resolve_rate"]) ?? 0) >= 0.8,
            "watch": watch.map { watch -> [String: Any] in
                [
                    "project": watch["project_name"]?.stringValue ?? "?",
                    "profile": watch["profile"]?.stringValue ?? "–",
                    "mined": whole(watch["mined"]), "rejected": whole(watch["rejected"]),
                    "days": whole(watch["since_days"]), "regressions": Self.regressions(report) as Any,
                ]
            } as Any,
            "instances": instances, "hasInstances": !instances.isEmpty,
        ]
        return html("eval", values, viewer: viewer)
    }

    /// One instance's run in a watch's eval: the run, its verification evidence and its trace. Only a report the
    /// server wrote (`watch.traces`, which imports cannot carry) opens a run, and only a run that report names.
    func evalRunPage(_ request: Request, id: String, run: String) async throws -> Response {
        let viewer = try await signedIn(request)
        let (record, report) = try await evalRecord(viewer, id)
        // Also bound on the server's side: the run must be one the watch made for a project of this tenant (its
        // checkout lies under the watch's folder for that project), whatever a stored report says.
        guard report["watch"]?["traces"]?.boolValue == true,
            let projectID = report["watch"]?["project"]?.stringValue,
            let project = try await store.project(id: projectID), project.tenantID == viewer.principal.tenantID,
            let instance = (report["instances"]?.arrayItems ?? []).first(where: {
                $0["run_id"]?.stringValue == run
            }),
            let stored = try await runStore.run(run), stored.id == run,
            stored.repo.contains("/watch/\(projectID)/")
        else { throw page(.notFound, "No run \(run) in eval run \(id).") }
        let events = try await runStore.events(of: run)
        let trace = Self.traceRows(events)
        let values: [String: Any] = [
            "title": instance["instance_id"]?.stringValue ?? run, "eval": record.name, "evalID": record.id,
            "run": run, "status": stored.status.rawValue, "reason": stored.reason, "model": stored.model,
            "resolved": instance["resolved"]?.boolValue == true, "cost": Self.money(stored.costUSD),
            "time": Self.duration(stored.wallSeconds), "steps": stored.steps,
            "tokens": stored.inputTokens + stored.outputTokens, "task": stored.task, "summary": stored.summary,
            "evidence": Self.evidence(events), "trace": trace, "hasTrace": !trace.isEmpty,
        ]
        return html("evalrun", values, viewer: viewer)
    }
}
