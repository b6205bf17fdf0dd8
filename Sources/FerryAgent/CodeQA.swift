import FerryCore
import FerryIndex
import FerryModels
import Foundation

/// A `path:line` (or `path:start-end`) in an answer, and whether it points at a real line of the repository.
public struct Citation: Codable, Hashable, Sendable {
    public var path: String
    public var line: Int
    public var endLine: Int?
    public var valid: Bool
}

public struct AskAnswer: Codable, Sendable {
    public var question: String
    public var answer: String
    public var citations: [Citation]
    public var sources: [ChunkHit]
    public var usage: Usage
    public var costUSD: Double
}

/// `ferry ask`: retrieve the code a question is about, let the model answer from it alone, and check the answer's
/// citations against the files.
public enum CodeQA {
    static let system = """
        You answer questions about a code repository using only the excerpts given. Each excerpt is headed by its \
        path and line range, and its lines are numbered. Cite the lines that support each point as path:line or \
        path:start-end, using the paths and line numbers shown. If the excerpts do \
        not hold the answer, say what is missing instead of guessing. Be brief.
        """

    /// Excerpts for the question, within a budget, most relevant first: the definitions of identifiers it names, then
    /// the definitions `locate` ranks best for it (whole functions of the likely files, not one-line excerpts of
    /// tests), then the best BM25 chunks. Tests come in only when the question is about tests.
    public static func context(for question: String, index: CodeIndex, budgetTokens: Int) async throws -> (
        text: String, sources: [ChunkHit]
    ) {
        let aboutTests = question.lowercased().contains("test")
        var hits: [ChunkHit] = []
        for name in Identifiers.scan(question).map(String.init)
        where name.count >= 3 && (name.contains("_") || name.contains(where: \.isUppercase)) {
            let (found, _) = try await index.findSymbol(name, referenceLimit: 0)
            let definitions = runningFirst(found, root: index.root)
            // A class too long to show whole says little in its first lines (the question is about its methods,
            // which `locate` finds); tests only when asked about.
            let useful = definitions.filter {
                (aboutTests || !TestPaths.isTest($0.path)) && (($0.endLine ?? $0.line) - $0.line < 80)
            }
            for definition in useful.prefix(2) {
                hits.append(Self.whole(definition, score: 1e9))
            }
        }
        // Hedged: `locate`'s first file is wrong about as often as right on real problem statements, so the best
        // BM25 chunks (which often hold the right file when it does not) come right after its first definition.
        let located = try await located(question, index: index, aboutTests: aboutTests)
        let chunks = try index.search(question, limit: 12).filter { aboutTests || !TestPaths.isTest($0.path) }
        hits += located.prefix(1) + chunks.prefix(2) + located.dropFirst() + chunks.dropFirst(2)
        var blocks: [String] = []
        var used = 0
        var sources: [ChunkHit] = []
        var covered: [String: [ClosedRange<Int>]] = [:]
        for hit in hits {
            if covered[hit.path]?.contains(where: { $0.overlaps(hit.startLine...hit.endLine) }) == true { continue }
            guard let content = try? String(contentsOfFile: index.root + "/" + hit.path, encoding: .utf8) else {
                continue
            }
            let lines = content.split(separator: "\n", omittingEmptySubsequences: false)
            guard hit.startLine <= lines.count else { continue }
            let end = min(hit.endLine, lines.count, hit.startLine + 79)
            var block = "### \(hit.path):\(hit.startLine)-\(end)\n"
            for number in hit.startLine...end { block += "\(number)\t\(lines[number - 1])\n" }
            let cost = CodeIndex.estimateTokens(block)
            if used + cost > budgetTokens { continue }
            blocks.append(block + "\n")
            used += cost
            sources.append(
                ChunkHit(
                    path: hit.path, startLine: hit.startLine, endLine: end, symbol: hit.symbol, score: hit.score,
                    kind: hit.kind))
            covered[hit.path, default: []].append(hit.startLine...end)
        }
        // The most relevant excerpt goes last, next to the question: a small model leans on what it read last.
        return (blocks.reversed().joined(), sources)
    }

    /// A definition, whole (up to 80 lines), as an excerpt.
    static func whole(_ definition: SymbolHit, score: Double) -> ChunkHit {
        let end = min(definition.endLine ?? definition.line + 30, definition.line + 79)
        return ChunkHit(
            path: definition.path, startLine: definition.line, endLine: end, symbol: definition.name, score: score,
            kind: "code")
    }

    /// A name's definitions with its `@overload` stubs last: a stub is a signature only, and the definition whose
    /// code runs is what answers a question (click's `Context.lookup_default` has two stubs above it).
    static func runningFirst(_ definitions: [SymbolHit], root: String) -> [SymbolHit] {
        var files: [String: [Substring]] = [:]
        let stubs = definitions.map { definition in
            let lines =
                files[definition.path]
                ?? ((try? String(contentsOfFile: root + "/" + definition.path, encoding: .utf8)) ?? "").split(
                    separator: "\n", omittingEmptySubsequences: false)
            files[definition.path] = lines
            return AttemptSymbols.isOverloadStub(definition.line, lines: lines)
        }
        return zip(definitions, stubs).filter { !$0.1 }.map(\.0) + zip(definitions, stubs).filter(\.1).map(\.0)
    }

    /// The definitions `locate` ranks best: the top functions of the likely files, taken file by file in turn (the
    /// first file's best, the second's best, then each one's next), so one long file cannot fill the budget.
    static func located(_ question: String, index: CodeIndex, aboutTests: Bool) async throws -> [ChunkHit] {
        let files = try index.locate(question, limit: 6).filter { aboutTests || !TestPaths.isTest($0.path) }.prefix(3)
        var perFile: [[ChunkHit]] = []
        for file in files {
            var found: [ChunkHit] = []
            for name in file.functions.prefix(4) {
                let (definitions, _) = try await index.findSymbol(name, referenceLimit: 0)
                if let definition = runningFirst(definitions, root: index.root).first(where: { $0.path == file.path }) {
                    found.append(Self.whole(definition, score: 1e8))
                }
            }
            perFile.append(found)
        }
        var ordered: [ChunkHit] = []
        for rank in 0..<4 {
            for found in perFile where rank < found.count { ordered.append(found[rank]) }
        }
        return ordered
    }

    /// How much retrieved code a question sends, by model: a local model on a CPU reads a prompt at ~100 tokens/s,
    /// so it gets a small budget (an answer must start while the developer is still looking); a hosted one more.
    public static func contextBudget(for profile: ModelProfile) -> Int {
        profile.provider == .local ? min(1_500, profile.contextWindow / 4) : min(12_000, profile.contextWindow / 3)
    }

    /// One answer. `history` is the conversation so far (questions and answers, without their excerpts: each turn
    /// retrieves afresh, and old excerpts would only spend tokens); `retrievalQuery` what to search for when the
    /// question alone is too short to find code ("and where is it called?"), by default the question.
    public static func ask(
        _ question: String, index: CodeIndex, model: any ChatModel, budgetTokens: Int = 6000,
        history: [ChatMessage] = [], retrievalQuery: String? = nil,
        prepared: (text: String, sources: [ChunkHit])? = nil,
        onRetrieved: @escaping @Sendable (_ sources: [ChunkHit], _ promptTokens: Int) -> Void = { _, _ in },
        onText: @escaping @Sendable (String) -> Void = { _ in },
        onPromptProgress: @escaping @Sendable (_ processed: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> AskAnswer {
        // `prepared`: the excerpts were retrieved already (before a local model's server started, so the sign of
        // life came at once).
        let retrieved: (text: String, sources: [ChunkHit])
        if let prepared {
            retrieved = prepared
        } else {
            retrieved = try await context(for: retrievalQuery ?? question, index: index, budgetTokens: budgetTokens)
        }
        let (excerpts, sources) = retrieved
        // A first sign of life before the model's first token: what was retrieved and how big the prompt is.
        onRetrieved(sources, CodeIndex.estimateTokens(system + excerpts + question))
        let user =
            excerpts.isEmpty
            ? "No code matched the question in the index.\n\nQuestion: \(question)"
            : "Excerpts from the repository:\n\n\(excerpts)Question: \(question)\n\n"
                + "Answer briefly. Then list the lines you used, each as path:line from the excerpts' headers."
        let reply = try await model.complete(
            ChatRequest(messages: [.system(system)] + history + [.user(user)], tools: [])
        ) { delta in
            switch delta {
            case .text(let text): onText(text)
            case .promptProgress(let processed, let total): onPromptProgress(processed, total)
            default: break
            }
        }
        let answer = reply.content.trimmingCharacters(in: .whitespacesAndNewlines)
        return AskAnswer(
            question: question, answer: answer, citations: citations(in: answer, root: index.root), sources: sources,
            usage: reply.usage, costUSD: model.cost(of: reply.usage))
    }

    /// Every `path:line` or `path:start-end` in the text whose path looks like a file, checked against the tree.
    public static func citations(in text: String, root: String) -> [Citation] {
        guard let regex = try? NSRegularExpression(pattern: #"([A-Za-z0-9_./-]+\.[A-Za-z0-9]+):(\d+)(?:-(\d+))?"#)
        else { return [] }
        var result: [Citation] = []
        var seen: Set<String> = []
        let ns = text as NSString
        for match in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let path = ns.substring(with: match.range(at: 1)).trimmingCharacters(in: CharacterSet(charactersIn: "./"))
            guard let line = Int(ns.substring(with: match.range(at: 2))) else { continue }
            let end = match.range(at: 3).location == NSNotFound ? nil : Int(ns.substring(with: match.range(at: 3)))
            guard seen.insert("\(path):\(line):\(end ?? 0)").inserted else { continue }
            var valid = false
            let full = (root + "/" + path as NSString).standardizingPath
            if full.hasPrefix(root + "/"), let content = try? String(contentsOfFile: full, encoding: .utf8) {
                let count = content.split(separator: "\n", omittingEmptySubsequences: false).count
                valid = line >= 1 && line <= count && (end.map { $0 >= line && $0 <= count } ?? true)
            }
            result.append(Citation(path: path, line: line, endLine: end, valid: valid))
        }
        return result
    }
}

/// `ferry locate --rerank`: a model orders the index's candidate files for a problem statement.
public enum LocateRerank {
    static func prompt(_ statement: String, _ candidates: [FileScore]) -> String {
        let list = candidates.enumerated().map {
            "\($0.offset + 1). \($0.element.path) — \($0.element.functions.prefix(4).joined(separator: ", "))"
        }
        .joined(separator: "\n")
        return """
            Problem statement:
            \(statement.prefix(6000))

            Candidate files:
            \(list)

            Which files must change to fix this? Reply with the file paths only, most likely first, one per line.
            """
    }

    /// The candidates in the model's order; files it leaves out keep their order after the ones it names, and a
    /// path the model invents is ignored.
    public static func rerank(_ statement: String, _ candidates: [FileScore], model: any ChatModel) async throws
        -> [FileScore]
    {
        let reply = try await model.complete(ChatRequest(messages: [.user(prompt(statement, candidates))], tools: []))
        var ordered: [FileScore] = []
        for line in reply.content.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            let match = candidates.filter { text.contains($0.path) }.max { $0.path.count < $1.path.count }
            if let match, !ordered.contains(match) { ordered.append(match) }
        }
        return ordered + candidates.filter { !ordered.contains($0) }
    }
}
