import ArgumentParser
import FerryAgent
import FerryCore
import FerryStore
import Foundation

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List recent runs.")

    @Option(help: "How many runs to list.") var limit = 20
    @Flag(help: "One JSON object per line.") var json = false
    @Flag(help: "Close runs whose process died, remove leftover worktrees and ferry/* branches without commits.")
    var prune = false

    func run() async throws {
        let config = try ConfigLoader.load(repo: nil)
        let store = try SQLiteRunStore(path: config.storePath)
        let reconciler = RunReconciler(
            store: store, redactor: Redactor(secrets: Redactor.secrets(in: ProcessInfo.processInfo.environment)),
            maxFileBytes: config.maxCommitFileBytes)
        if prune {
            let pruned = try await reconciler.prune(dataDirectory: config.dataDirectory)
            for run in pruned.reconciled {
                print(
                    "closed \(run.id) as interrupted"
                        + (run.commit.map { "; partial change committed (\($0.prefix(12)))" } ?? ""))
            }
            for path in pruned.worktrees { print("removed worktree \(path)") }
            for branch in pruned.branches { print("deleted branch \(branch) (no commit of its own)") }
            if pruned.reconciled.isEmpty && pruned.worktrees.isEmpty && pruned.branches.isEmpty {
                print("nothing to prune")
            }
            return
        }
        try await reconciler.reconcile()
        let runs = try await store.runs(limit: limit)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            for run in runs { print(String(decoding: try encoder.encode(run), as: UTF8.self)) }
            return
        }
        guard !runs.isEmpty else {
            print("no runs yet; start one with: ferry run \"<task>\"")
            return
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        var rows = [["ID", "WHEN", "STATUS", "STEPS", "TOKENS", "COST", "TIME", "MODEL", "TASK"]]
        for run in runs {
            let task = run.task.split(separator: "\n").first.map(String.init) ?? ""
            rows.append([
                run.id, formatter.string(from: run.createdAt), run.status.rawValue, "\(run.steps)",
                "\(run.inputTokens + run.outputTokens)", RunReport.usd(run.costUSD),
                String(format: "%.0fs", run.wallSeconds), run.model,
                task.count > 40 ? String(task.prefix(39)) + "…" : task,
            ])
        }
        print(Table.render(rows))
    }
}

enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a run: its summary, diff and cost breakdown.")

    @Argument(help: "A run id, or a unique prefix of one.") var run: String
    @Flag(help: "Print result.json.") var json = false

    func run() async throws {
        let config = try ConfigLoader.load(repo: nil)
        let store = try SQLiteRunStore(path: config.storePath)
        try await RunReconciler(
            store: store, redactor: Redactor(secrets: Redactor.secrets(in: ProcessInfo.processInfo.environment)),
            maxFileBytes: config.maxCommitFileBytes
        ).reconcile()
        guard let record = try await store.run(run) else {
            throw FerryError(.usage, "no run matches '\(run)'; `ferry runs` lists them")
        }
        let directory = record.runDirectory
        func read(_ name: String) -> String? {
            FileManager.default.contents(atPath: directory + "/" + name).map { String(decoding: $0, as: UTF8.self) }
        }
        if json {
            print(read("result.json") ?? "{}")
            return
        }
        if let summary = read("summary.md") {
            print(summary)
        } else {
            print("# Ferry run \(record.id)\n\nStatus: \(record.status.rawValue) — \(record.reason)\n")
            print(RunReport.costTable(record, CostBreakdown()))
        }
        let diff = read("change.patch") ?? ""
        print("## Diff\n")
        print(diff.isEmpty ? "(no change)" : diff)
        print("Trace: \(directory)/trace.jsonl")
    }
}
