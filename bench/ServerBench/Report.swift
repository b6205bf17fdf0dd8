import Foundation

/// The run's figures as Markdown.
struct Report {
    var options: Options
    var elapsed: Double
    var createMillis: [Double]
    var createSeconds: Double
    var statuses: [String]
    var claimWait: [Double]
    var claimMillis: [Double]
    var attempts: Int
    var phases: Phases
    var idle: (list: Wrk, get: Wrk)
    var load: (list: Wrk, get: Wrk)
    var drainedWhileWrk: Bool
    var cpu: CPU

    var markdown: String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var lines = [
            "# Team server under load",
            "",
            "`make bench-server` (bench/ServerBench): \(options.tasks) tasks, \(options.workers) `ferry worker` processes (one worker each) and "
                + "`ferry serve --workers 0` (the API) on one throwaway PostgreSQL cluster, on a \(cores)-core machine. "
                + "The model answers at once (the fix, then `finish`); each task runs the real pipeline: a git worktree, the "
                + "baseline tests and the verification in the bubblewrap sandbox, the commit. `wrk -t1 -c4` on list and get runs "
                + "for \(options.wrkSeconds) s from the moment the workers start, beside them.",
            "",
            "## Throughput",
            "",
            "| | |",
            "|---|---|",
            "| tasks | \(options.tasks) (\(statuses.joined(separator: ", "))) |",
            "| attempts | \(attempts) |",
            "| queue drained in | \(fmt(elapsed)) s |",
            "| **tasks per second, end to end** | **\(fmt(Double(options.tasks) / elapsed, 2))** |",
            "| creates (sequential, no worker running) | \(fmt(Double(options.tasks) / createSeconds)) /s; p50 \(fmt(percentile(createMillis, 50))) ms, p99 \(fmt(percentile(createMillis, 99))) ms |",
            "",
            "## Claims",
            "",
            "| | p50 | p99 | max |",
            "|---|---|---|---|",
            "| claim statement (`FOR UPDATE SKIP LOCKED`, as the worker timed it), ms | \(fmt(percentile(claimMillis, 50), 2)) | \(fmt(percentile(claimMillis, 99), 2)) | \(fmt(claimMillis.max(), 2)) |",
            "| claim latency (task due → claimed; the `ferry_claim_latency_seconds` histogram), s | \(fmt(percentile(claimWait, 50))) | \(fmt(percentile(claimWait, 99))) | \(fmt(claimWait.max())) |",
            "",
            "All \(options.tasks) tasks were queued before the workers started, so the claim latency is mostly time spent "
                + "waiting behind other tasks: it grows with the queue's depth over the workers' throughput.",
            "",
            "## Where a task's time goes",
            "",
            "| phase | p50 s | p99 s | share of the mean |",
            "|---|---|---|---|",
        ]
        let total = phases.series.last.map { $0.seconds.reduce(0, +) } ?? 0
        for (name, seconds) in phases.series {
            let share = total > 0 ? seconds.reduce(0, +) / total * 100 : 0
            lines.append(
                "| \(name) | \(fmt(percentile(seconds, 50), 3)) | \(fmt(percentile(seconds, 99), 3)) | \(fmt(share))% |"
            )
        }
        let wall = elapsed * Double(cores)
        let rest = max(0, cpu.machine - cpu.api - cpu.workersOwn - cpu.postgres)
        func share(_ seconds: Double) -> String { "\(fmt(seconds)) | \(fmt(seconds / wall * 100))%" }
        lines += [
            "",
            "## CPU while the queue drained",
            "",
            "| what | CPU s | share of \(cores) cores × \(fmt(elapsed)) s |",
            "|---|---|---|",
            "| everything else: git, bubblewrap, the python tests, and wrk itself | \(share(rest)) |",
            "| the `ferry worker` processes themselves | \(share(cpu.workersOwn)) |",
            "| PostgreSQL (all backends) | \(share(cpu.postgres)) |",
            "| the API process (serving wrk) | \(share(cpu.api)) |",
            "| the whole machine | \(share(cpu.machine)) |",
            "",
            "## API latency (`wrk -t1 -c4 --latency`)",
            "",
            "| endpoint | when | p50 ms | p99 ms | requests/s | non-2xx |",
            "|---|---|---|---|---|---|",
            row("`GET /v1/tasks?limit=50`", "idle (queue full, no worker)", idle.list),
        ]
        if options.wrkSeconds > 0 { lines.append(row("`GET /v1/tasks?limit=50`", "under load", load.list)) }
        lines.append(row("`GET /v1/tasks/{id}`", "idle (queue full, no worker)", idle.get))
        if options.wrkSeconds > 0 { lines.append(row("`GET /v1/tasks/{id}`", "under load", load.get)) }
        if !drainedWhileWrk, options.wrkSeconds > 0 {
            lines += ["", "Note: the queue drained before wrk ended; part of the 'under load' run was idle."]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func row(_ endpoint: String, _ when: String, _ wrk: Wrk) -> String {
        "| \(endpoint) | \(when) | \(fmt(wrk.p50Millis, 2)) | \(fmt(wrk.p99Millis, 2)) | \(fmt(wrk.requestsPerSecond, 0)) | \(wrk.non2xx) |"
    }
}
