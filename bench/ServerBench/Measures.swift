import FerryTesting
import Foundation

/// Nearest-rank percentile (p in 0...100); nil for no values.
func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

func fmt(_ value: Double?, _ digits: Int = 1) -> String {
    value.map { String(format: "%.\(digits)f", $0) } ?? "–"
}

/// `wrk --latency` on one URL for a while.
struct Wrk {
    var p50Millis: Double?
    var p99Millis: Double?
    var requestsPerSecond: Double?
    var non2xx = 0
    var raw = ""

    static func run(_ url: String, key: String, seconds: Int, root: String, name: String) async throws -> Wrk {
        let (_, output) = try await ChildProcess.run(
            "/usr/bin/wrk", ["-t1", "-c4", "-d\(seconds)s", "--latency", "-H", "Authorization: Bearer \(key)", url])
        try? output.write(toFile: root + "/wrk-\(name).txt", atomically: true, encoding: .utf8)
        return parse(output)
    }

    static func parse(_ text: String) -> Wrk {
        var result = Wrk(raw: text)
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.count == 2, fields[0] == "50%" { result.p50Millis = millis(fields[1]) }
            if fields.count == 2, fields[0] == "99%" { result.p99Millis = millis(fields[1]) }
            if line.hasPrefix("Requests/sec:") { result.requestsPerSecond = Double(fields.last ?? "") }
            if line.hasPrefix("Non-2xx or 3xx responses:") { result.non2xx = Int(fields.last ?? "") ?? 0 }
        }
        return result
    }

    static func millis(_ text: String) -> Double? {
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }
}

/// CPU seconds used by each part, from /proc; `machine` is every process's, from /proc/stat.
struct CPU {
    var api = 0.0
    var workersOwn = 0.0
    var postgres = 0.0
    var machine = 0.0

    /// What was used between two samples.
    static func - (later: CPU, earlier: CPU) -> CPU {
        CPU(
            api: later.api - earlier.api, workersOwn: later.workersOwn - earlier.workersOwn,
            postgres: later.postgres - earlier.postgres, machine: later.machine - earlier.machine)
    }

    /// Busy time of all cores (user, nice, system, irq, softirq, steal), in seconds.
    static func machineBusy() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return 0 }
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// utime, stime, cutime, cstime (seconds) and the parent's pid.
    static func stat(_ pid: Int32) -> (own: Double, children: Double, ppid: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ").map(String.init)
        guard fields.count > 14 else { return nil }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        let value = { (index: Int) in (Double(fields[index]) ?? 0) / tick }
        return (value(11) + value(12), value(13) + value(14), Int32(fields[1]) ?? 0)
    }

    static func sample(api: Int32, workers: [Int32], postmasterFile: String) -> CPU {
        var cpu = CPU()
        cpu.machine = machineBusy()
        cpu.api = stat(api)?.own ?? 0
        for worker in workers { cpu.workersOwn += stat(worker)?.own ?? 0 }
        let postmasterText = (try? String(contentsOfFile: postmasterFile, encoding: .utf8)) ?? ""
        if let line = postmasterText.split(separator: "\n").first, let postmaster = Int32(line) {
            let main = stat(postmaster)
            cpu.postgres = (main?.own ?? 0) + (main?.children ?? 0)
            let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
            for pid in pids where pid != postmaster {
                if let s = stat(pid), s.ppid == postmaster { cpu.postgres += s.own }
            }
        }
        return cpu
    }
}

/// Where each task's time went, from its attempt and its run's events.
struct Phases {
    static let query = """
        SELECT a.claimed_at, a.ended_at,
            min(CASE WHEN e.type = 'run.started' THEN e.time END),
            min(CASE WHEN e.type = 'tests.baseline.started' THEN e.time END),
            max(CASE WHEN e.type = 'tests.baseline' THEN e.time END),
            min(CASE WHEN e.type = 'verify.started' THEN e.time END),
            max(CASE WHEN e.type = 'verify.result' THEN e.time END),
            max(CASE WHEN e.type = 'run.finished' THEN e.time END)
        FROM attempts a JOIN tasks t ON t.id = a.task_id AND t.attempt = a.attempt JOIN events e ON e.run_id = t.run_id
        WHERE a.ended_at IS NOT NULL
        GROUP BY a.task_id, a.claimed_at, a.ended_at
        """

    /// Name and seconds per task.
    var series: [(name: String, seconds: [Double])] = []

    init(rows: [String]) {
        let names = [
            "claim → run started (checkout fetch, worktree, run record)",
            "run started → baseline tests started (repo map, setup)",
            "baseline tests (sandboxed python -m unittest)",
            "agent loop (2 model calls at zero latency, the edit)",
            "verification (the project's tests on the change, sandboxed)",
            "finishing (commit, diff, summary, run files)",
            "recording the end (fenced finish, webhook outbox)",
            "whole attempt",
        ]
        var columns = Array(repeating: [Double](), count: names.count)
        for row in rows {
            let values = row.split(separator: "|", omittingEmptySubsequences: false).map { Double($0) }
            guard values.count == 8, let claimed = values[0], let ended = values[1], let rs = values[2],
                let bs = values[3],
                let be = values[4], let vs = values[5], let ve = values[6], let rf = values[7]
            else { continue }
            for (index, value) in [
                rs - claimed, bs - rs, be - bs, vs - be, ve - vs, rf - ve, ended - rf, ended - claimed,
            ].enumerated() {
                columns[index].append(value)
            }
        }
        series = zip(names, columns).map { ($0, $1) }
    }
}
