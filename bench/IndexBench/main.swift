// The knowledge index on a real repository: cold index time, incremental re-index after touching one file, search
// latency against ripgrep over the same tree (median of the same queries, measured in one run, as a ratio), and the
// index's size on disk.
//
//   swift run -c release ferry-index-bench /path/to/sympy [queries=30]
import FerryCore
import FerryIndex
import FerryWorkspace
import Foundation

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty
        ? 0
        : sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func time<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try await body()
    return (value, (ContinuousClock.now - start).inSeconds)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: ferry-index-bench REPO [queries]")
    exit(2)
}
let repo = (arguments[1] as NSString).standardizingPath
let queryCount = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "ferry-index-bench-\(UUID().uuidString.prefix(8)).sqlite"
).path
defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }

let index = try CodeIndex(root: repo, path: path)
let (cold, coldSeconds) = try await time { try await index.update() }
let counts = try index.counts()
print(
    String(
        format: "cold index: %.2fs (%d files, %d symbols, %d chunks, %d skipped)", coldSeconds, counts.files,
        counts.symbols, counts.chunks, cold.skipped))
if let warning = cold.warning { print("warning: \(warning)") }

let (_, noChange) = try await time { try await index.update() }
print(String(format: "re-index with nothing changed: %.3fs", noChange))

// Touch one real source file (append a comment, then restore it), five times.
let files = try await HostCommand.run("git", ["ls-files", "*.py", "*.swift", "*.js", "*.go", "*.rs"], in: repo).stdout
    .split(separator: "\n").map(String.init)
// The largest indexed source file: the worst case for one file's re-index.
let sized = files.compactMap { file -> (String, Int)? in
    let size =
        ((try? FileManager.default.attributesOfItem(atPath: repo + "/" + file))?[.size] as? NSNumber)?.intValue ?? 0
    return size <= CodeIndex.maxFileBytes ? (file, size) : nil
}
let target = repo + "/" + (sized.max { $0.1 < $1.1 }?.0 ?? files[0])
let original = try Data(contentsOf: URL(fileURLWithPath: target))
var incremental: [Double] = []
for round in 0..<5 {
    try (original + Data("\n# ferry-index-bench \(round)\n".utf8)).write(to: URL(fileURLWithPath: target))
    let (stats, seconds) = try await time { try await index.update() }
    precondition(stats.changed == 1, "expected one changed file, got \(stats.changed)")
    incremental.append(seconds)
}
try original.write(to: URL(fileURLWithPath: target))
_ = try await index.update()
let targetSize = Double(original.count) / 1000
print(
    String(
        format: "incremental re-index after changing one file: median %.3fs (5 runs, %@, %.0f KB, the largest)",
        median(incremental), String(target.dropFirst(repo.count + 1)), targetSize))

// Queries: identifiers defined in the repository, picked evenly through the symbol table.
let names = try index.symbolSample(queryCount)
var indexTimes: [Double] = []
var rgTimes: [Double] = []
var hits = 0
for name in names {
    let (found, seconds) = try await time { try index.search(name, limit: 10) }
    indexTimes.append(seconds)
    if !found.isEmpty { hits += 1 }
    let (_, rgSeconds) = try await time {
        try await HostCommand.run("rg", ["-n", "--no-heading", "-e", name, "."], in: repo)
    }
    rgTimes.append(rgSeconds)
}
let indexMedian = median(indexTimes)
let rgMedian = median(rgTimes)
print(
    String(
        format:
            "search, %d queries: index median %.2f ms, rg median %.2f ms, rg/index = %.1fx (%d of %d found by the index)",
        names.count, indexMedian * 1000, rgMedian * 1000, rgMedian / max(indexMedian, 1e-9), hits, names.count))
// The repo map an agent run starts with (PageRank over the whole graph, personalised by the task), 1,024 tokens.
let task = "Mod(3*i, 2) should simplify to Mod(i, 2); the gcd of the coefficient is not taken out"
var mapTimes: [Double] = []
var mapTokens = 0
for _ in 0..<5 {
    let (map, seconds) = try await time { try index.repoMap(task: task, budgetTokens: 1_024) }
    mapTimes.append(seconds)
    mapTokens = CodeIndex.estimateTokens(map)
}
print(String(format: "repo map for a task: median %.2fs (5 runs, %d tokens)", median(mapTimes), mapTokens))
try index.checkpoint()
print(String(format: "index size on disk: %.1f MB (%@)", Double(index.sizeOnDisk) / 1e6, path))
