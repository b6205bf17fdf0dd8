// Measures Ferry's own overhead per agent step: a 50-step run against a zero-latency `ScriptedModel`, so every
// millisecond is the harness (history, tools, trace, store), not inference. Run with `make bench`.
import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryTesting
import FerryWorkspace
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The bench's script for `ScriptedModel`: a cycle of read, search, list and edit, then finish; it notes when each
/// call arrives.
final class BenchScript: Sendable {
    let steps: Int
    let calls = Mutex<[ContinuousClock.Instant]>([])

    init(steps: Int) { self.steps = steps }

    var model: ScriptedModel {
        ScriptedModel(profile: ModelProfile(name: "bench", provider: .openai, model: "gpt-4.1-mini")) { index, _ in
            self.calls.withLock { $0.append(.now) }
            return self.reply(index)
        }
    }

    func reply(_ index: Int) -> ModelReply {
        let usage = Usage(
            inputTokens: 1_500 + 150 * index, outputTokens: 60, cachedInputTokens: 1_400 + 150 * (index - 1))
        let call: (String, JSONValue)
        if index >= steps {
            call = ("finish", ["summary": "bench"])
        } else {
            switch index % 4 {
            case 0: call = ("read_file", ["path": "src/module\(index % 20).py"])
            case 1: call = ("search", ["pattern": "def function_\(index % 7)"])
            case 2: call = ("list_files", ["glob": "src/*.py"])
            default:
                call = (
                    "edit_file",
                    [
                        "path": "src/module\(index % 20).py", "old": "VALUE = \(index / 20)",
                        "new": "VALUE = \(index / 20 + 1)",
                    ]
                )
            }
        }
        return ModelReply(
            content: "step \(index)",
            toolCalls: [ToolCall(id: "c\(index)", name: call.0, arguments: call.1.jsonString)],
            usage: usage)
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func milliseconds(_ duration: Duration) -> Double {
    duration.inSeconds * 1000
}

@main
struct Bench {
    static func main() async throws {
        let steps = Int(ProcessInfo.processInfo.environment["FERRY_BENCH_STEPS"] ?? "") ?? 50
        let runs = Int(ProcessInfo.processInfo.environment["FERRY_BENCH_RUNS"] ?? "") ?? 3
        var files: [String: String] = [:]
        for i in 0..<20 {
            files["src/module\(i).py"] =
                (0..<40).map { "def function_\($0)(x):\n    return x + \($0)\n" }.joined() + "VALUE = 0\n"
        }
        files["README.md"] = "bench fixture\n"
        var perStep: [Double] = []
        var totals: [Double] = []
        for run in 1...runs {
            let repo = try await FixtureRepo.make(files)
            let data = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-bench-\(UUID().uuidString.prefix(8))"
            ).path
            var config = FerryConfig(dataDirectory: data)
            config.testCommand = "true"
            config.limits.maxSteps = steps + 5
            let store = try SQLiteRunStore(path: config.storePath)
            let script = BenchScript(steps: steps)
            let runner = AgentRunner(model: script.model, store: store, config: config)
            let started = ContinuousClock.now
            let result = try await runner.run(RunRequest(task: "bench", repo: repo))
            let total = milliseconds(ContinuousClock.now - started)
            let instants = script.calls.withLock { $0 }
            let deltas = zip(instants.dropFirst(), instants).map { milliseconds($0 - $1) }
            perStep += deltas
            totals.append(total)
            print(
                String(
                    format: "run %d: %@ after %d steps, %.0f ms total (incl. worktree, baseline, verify, commit)",
                    run, result.status.rawValue, result.record.steps, total))
            try? FileManager.default.removeItem(atPath: (repo as NSString).deletingLastPathComponent)
            try? FileManager.default.removeItem(atPath: data)
        }
        print("")
        print("harness overhead per step over \(perStep.count) steps (\(runs) runs of \(steps)):")
        print(
            String(
                format: "  median %.2f ms   p95 %.2f ms   max %.2f ms", percentile(perStep, 0.5),
                percentile(perStep, 0.95), perStep.max() ?? 0))
        print(String(format: "  whole run median %.0f ms", percentile(totals, 0.5)))
        print(String(format: "  peak RSS %.1f MB", peakRSSMegabytes()))
        try await sandboxStartup()
        try await readLargeFile()
    }

    /// One `true` in the sandbox, with and without the per-command pids cgroup, interleaved so noise hits both.
    static func sandboxStartup() async throws {
        let repo = try await FixtureRepo.make(["a.txt": "a"])
        let capped = try BubblewrapRunner(policy: SandboxPolicy(workspace: repo))
        let uncapped = try BubblewrapRunner(policy: SandboxPolicy(workspace: repo, maxProcesses: 0))
        var with: [Double] = []
        var without: [Double] = []
        for _ in 0..<40 {
            for (runner, into) in [(capped, 0), (uncapped, 1)] {
                let started = ContinuousClock.now
                _ = try await runner.run(CommandRequest(script: "true", workingDirectory: repo))
                let ms = milliseconds(ContinuousClock.now - started)
                if into == 0 { with.append(ms) } else { without.append(ms) }
            }
        }
        print("")
        print("sandboxed command (`true`), 40 each, interleaved:")
        print(
            String(
                format: "  with the process cap (pids cgroup or rlimit) median %.1f ms   without %.1f ms   ratio %.2f",
                percentile(with, 0.5), percentile(without, 0.5),
                percentile(with, 0.5) / max(percentile(without, 0.5), 0.001)))
    }

    /// read_file on a 300 MB file: refused without reading it; on a 15 MB file: streamed, a window kept.
    static func readLargeFile() async throws {
        let repo = try await FixtureRepo.make(["a.txt": "a"])
        let big = repo + "/big.log"
        FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        let line = Data(String(repeating: "x", count: 99).utf8 + [0x0A])
        var chunk = Data()
        for _ in 0..<10_000 { chunk.append(line) }
        for _ in 0..<15 { handle.write(chunk) }  // 15 MB
        try handle.close()
        let huge = repo + "/huge.bin"
        FileManager.default.createFile(atPath: huge, contents: nil)
        truncate(huge, 300 * 1024 * 1024)
        let tools = ToolBox(
            workspace: try Workspace(root: repo), runner: DirectRunner(policy: SandboxPolicy(workspace: repo)))
        let before = peakRSSMegabytes()
        var started = ContinuousClock.now
        let window = await tools.execute(
            ToolCall(
                id: "1", name: "read_file", arguments: #"{"path": "big.log", "start_line": 100000, "end_line": 100100}"#
            ))
        let streamMS = milliseconds(ContinuousClock.now - started)
        started = ContinuousClock.now
        let refused = await tools.execute(ToolCall(id: "2", name: "read_file", arguments: #"{"path": "huge.bin"}"#))
        let refuseMS = milliseconds(ContinuousClock.now - started)
        print("")
        print("read_file on large files (peak RSS before: \(String(format: "%.1f", before)) MB):")
        print(
            String(
                format: "  15 MB log, lines 100000-100100: %.0f ms, %@", streamMS,
                window.isError ? "error" : "\(window.output.split(separator: "\n").count) lines"))
        print(String(format: "  300 MB file: %.1f ms, %@", refuseMS, refused.isError ? "refused" : "read"))
        print(String(format: "  peak RSS after: %.1f MB", peakRSSMegabytes()))
    }
}
