import FerryCore
import FerryTesting
import Foundation

// The team server under load (`make bench-server`): a throwaway PostgreSQL cluster, `ferry serve` (API only) and N
// `ferry worker` processes, a zero-latency model that fixes the fixture's bug in two calls, T tasks, and `wrk` on
// the list and get endpoints while the workers drain the queue. Prints a Markdown report (docs/results/).

struct Options {
    var tasks = 200
    var workers = 4
    var wrkSeconds = 20
    var ferry = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "ferry"
    ).path
    var out: String?
    /// Tasks for the queue-only run (0: none).
    var queueOnly = 2000
    /// Tasks for the dashboard-only run (0: the load run instead).
    var dashboard = 0
    /// Where to save screenshots of the dashboard over the load run's data (with eval reports to import).
    var screenshots: String?
    var evalReports: [String] = []
    /// Entries for the audit chain's run (0: the load run instead).
    var audit = 0
    /// Runs for the gates' record read (0: the load run instead).
    var gate = 0

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--tasks": tasks = Int(value) ?? tasks
            case "--workers": workers = Int(value) ?? workers
            case "--wrk-seconds": wrkSeconds = Int(value) ?? wrkSeconds
            case "--ferry": ferry = value
            case "--out": out = value
            case "--queue-only": queueOnly = Int(value) ?? queueOnly
            case "--dashboard": dashboard = Int(value) ?? dashboard
            case "--screenshots": screenshots = value
            case "--eval-report": evalReports.append(value)
            case "--audit": audit = Int(value) ?? audit
            case "--gate": gate = Int(value) ?? gate
            default: fatalError("unknown option \(flag)")
            }
        }
    }
}

let options = Options(CommandLine.arguments)
if options.audit > 0 {
    let report = "# The audit chain's cost\n\n" + (try await AuditBench.run(entries: options.audit))
    print(report)
    if let out = options.out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
    exit(0)
}
if options.gate > 0 {
    let report = "# The gates' record at a task's start\n\n" + (try await GateBench.run(runs: options.gate))
    print(report)
    if let out = options.out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
    exit(0)
}
if options.dashboard > 0 {
    let report = "# The dashboard under a full store\n" + (try await DashboardBench.run(tasks: options.dashboard))
    print(report)
    if let out = options.out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
    exit(0)
}
guard FileManager.default.isExecutableFile(atPath: options.ferry) else {
    fatalError("no ferry binary at \(options.ferry)")
}
guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else {
    fatalError("wrk is missing: apt-get install wrk")
}

let files = [
    "calc.py": "def add(a, b):\n    return a - b\n",
    "test_calc.py":
        "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
]

/// The model: the fix on the first call, `finish` once a tool result is in the conversation.
let responder: @Sendable (JSONValue) -> FakeStep = { body in
    let messages: [JSONValue]
    if case .array(let items)? = body["messages"] { messages = items } else { messages = [] }
    let toolResults = messages.filter { $0["role"] == "tool" }.count
    return toolResults == 0
        ? .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"])
        : .call("finish", ["summary": "add() subtracted; it now adds."])
}

let url = try await PostgresCluster.freshDatabase()
let cluster = try await PostgresCluster.start()
let repo = try await FixtureRepo.make(files)
let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-load-\(UUID().uuidString.prefix(8))")
    .path

var report = try await FakeModelServer.with(.openai, responder: responder) { fake in
    try fake.writeConfig(configHome: root + "/config")
    let bench = LoadBench(options: options, url: url, cluster: cluster, repo: repo, root: root)
    return try await bench.run()
}
if options.queueOnly > 0 {
    report += try await QueueOnly.run(
        url: try await PostgresCluster.freshDatabase(), tasks: options.queueOnly, claimers: options.workers)
}
print(report)
if let out = options.out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
