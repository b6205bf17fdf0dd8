import ArgumentParser
import FerryAgent
import FerryCore
import FerryEval
import FerryIndex
import FerryModels
import Foundation
import Synchronization

/// Opening and refreshing a repository's index, with progress on stderr.
enum IndexSession {
    static func open(repo: String?, quiet: Bool = false) async throws -> (CodeIndex, IndexStats) {
        let root = EvalOptions.absolute(repo ?? FileManager.default.currentDirectoryPath)
        guard FileManager.default.fileExists(atPath: root) else {
            throw FerryError(.usage, "repository \(root) does not exist")
        }
        let index = try CodeIndex.openSeeded(root: root)
        let fresh = !index.exists
        if fresh, !quiet { FileHandle.standardError.write(Data("ferry: no index for \(root) yet; building it\n".utf8)) }
        let view = ProgressView()
        let stats = try await index.update { progress in
            guard !quiet, fresh || progress.total > 200 else { return }
            view.spin("indexing: \(progress.phase) \(progress.done)/\(progress.total) files")
        }
        if !quiet, fresh {
            view.line(String(format: "ferry: indexed %d files in %.1fs", stats.files, stats.seconds))
        }
        if let warning = stats.warning { FileHandle.standardError.write(Data("ferry: warning: \(warning)\n".utf8)) }
        return (index, stats)
    }
}

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Build or update the repository's knowledge index (symbols, BM25 chunks, docs)."
    )

    @Option(help: "The repository (default: the current directory).") var repo: String?
    @Flag(help: "Print the statistics as JSON.") var json = false

    func run() async throws {
        let (index, stats) = try await IndexSession.open(repo: repo, quiet: json)
        let counts = try index.counts()
        if json {
            struct Output: Encodable {
                var stats: IndexStats
                var files: Int
                var symbols: Int
                var chunks: Int
                var bytes: Int
                var path: String
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(
                String(
                    decoding: try encoder.encode(
                        Output(
                            stats: stats, files: counts.files, symbols: counts.symbols,
                            chunks: counts.chunks, bytes: index.sizeOnDisk, path: index.path)), as: UTF8.self))
        } else {
            print(
                String(
                    format: "indexed %d files (%d changed, %d removed, %d unchanged, %d skipped) in %.2fs",
                    stats.files, stats.changed, stats.removed, stats.unchanged, stats.skipped, stats.seconds))
            print(
                "index: \(counts.files) files, \(counts.symbols) symbols, \(counts.chunks) chunks, "
                    + String(format: "%.1f MB", Double(index.sizeOnDisk) / 1e6) + " at \(index.path)")
        }
    }
}

struct LocateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locate",
        abstract: "Rank the files (and functions) most likely to need a change for a problem statement.")

    @Argument(help: "The problem statement, or - to read it from stdin.") var statement: String
    @Option(help: "The repository (default: the current directory).") var repo: String?
    @Option(help: "How many files.") var limit = 10
    @Flag(help: "Also list the likely functions in each file.") var functions = false
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Signals to use, comma-separated: bm25, mentions, symbols, tests (default all).") var features = "all"
    @Flag(help: "Let the model re-rank the index's candidates (uses the model options).") var rerank = false
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let text =
            statement == "-"
            ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : statement
        let (index, _) = try await IndexSession.open(repo: repo, quiet: json)
        let useModel = rerank || modelOptions.model != nil || modelOptions.profile != nil
        var ranked = try index.locate(
            text, limit: useModel ? max(limit, 15) : limit, features: try LocateFeatures.parse(features))
        if useModel { ranked = try await rerankWithModel(text, ranked) }
        ranked = Array(ranked.prefix(limit))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(ranked), as: UTF8.self))
            return
        }
        for (position, file) in ranked.enumerated() {
            print(
                String(
                    format: "%2d. %@  (%.3f: %@)", position + 1, file.path, file.score,
                    file.reasons.prefix(4).joined(separator: ", ")))
            if functions { for function in file.functions { print("      \(function)") } }
        }
    }

    /// The model orders the candidates; files it leaves out keep their order after the ones it names.
    func rerankWithModel(_ text: String, _ candidates: [FileScore]) async throws -> [FileScore] {
        let environment = ProcessInfo.processInfo.environment
        let config = try ConfigLoader.load(repo: repo, environment: environment)
        let profile = try modelOptions.resolve(config: config, environment: environment)
        let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
        return try await Interrupts.cancelling {
            try await LocalModelSession.with(profile) { profile in
                try await ModelFactory.withModel(profile: profile, apiKey: apiKey) { model in
                    try await LocateRerank.rerank(text, candidates, model: model)
                }
            }
        }
    }
}

struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask", abstract: "Answer a question about the code, citing file:line; builds the index if needed.")

    @Argument(help: "The question.") var question: String
    @Option(help: "The repository (default: the current directory).") var repo: String?
    @Flag(help: "Print the answer, citations and sources as JSON instead of streaming.") var json = false
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let (index, _) = try await IndexSession.open(repo: repo, quiet: json)
        let config = try ConfigLoader.load(repo: index.root, environment: environment)
        let profile = try modelOptions.resolve(config: config, environment: environment)
        let apiKey = try FerryConfig.apiKey(for: profile, environment: environment)
        let view = ProgressView()
        let streaming = !json
        // The sign of life comes first, before a local model's server is started: what was read and how big the
        // prompt is (on stderr, so stdout carries only the answer).
        let prepared = try await CodeQA.context(
            for: question, index: index, budgetTokens: CodeQA.contextBudget(for: profile))
        if streaming {
            let sources = prepared.sources
            let list = sources.prefix(6).map { "\($0.path):\($0.startLine)-\($0.endLine)" }.joined(separator: ", ")
            let tokens = CodeIndex.estimateTokens(prepared.text + question) + 120
            FileHandle.standardError.write(
                Data(
                    "ferry: read \(sources.count) excerpt(s) (\(list)\(sources.count > 6 ? ", …" : "")); asking \(profile.model) with ~\(tokens) tokens\n"
                        .utf8))
        }
        let first = Mutex(true)
        // SIGINT or SIGTERM cancels the answer, so the local model's server this started is stopped, not left behind.
        let answer = try await Interrupts.cancelling {
            try await LocalModelSession.with(profile, hooks: .init(progress: view.update, status: view.status)) {
                profile in
                try await ModelFactory.withModel(profile: profile, apiKey: apiKey) { model in
                    try await CodeQA.ask(
                        question, index: index, model: model, budgetTokens: CodeQA.contextBudget(for: profile),
                        prepared: prepared,
                        onText: { text in
                            guard streaming else { return }
                            if first.withLock({ $0 }) {
                                first.withLock { $0 = false }
                                view.clear()
                            }
                            FileHandle.standardOutput.write(Data(text.utf8))
                        },
                        onPromptProgress: { processed, total in
                            if streaming { view.prompt(processed: processed, total: total) }
                        })
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(answer), as: UTF8.self))
            return
        }
        print("")
        let invalid = answer.citations.filter { !$0.valid }
        let sources = answer.sources.map { "\($0.path):\($0.startLine)-\($0.endLine)" }.joined(separator: ", ")
        FileHandle.standardError.write(
            Data(
                ("\n— sources: \(sources.isEmpty ? "none" : sources)\n"
                    + "— citations: \(answer.citations.count - invalid.count) valid"
                    + (invalid.isEmpty
                        ? ""
                        : ", \(invalid.count) not in the repo: "
                            + invalid.map { "\($0.path):\($0.line)" }.joined(separator: ", "))
                    + String(
                        format: " · %d tokens · $%.4f\n", answer.usage.inputTokens + answer.usage.outputTokens,
                        answer.costUSD)).utf8))
    }
}
