import FerryAgent
import FerryCore
import FerryIndex
import FerryModels
import Foundation

/// What the assistant surfaces (`ferry mcp`, `ferry chat`, the server's `/mcp` and `/v1/chat/completions`) ask of one
/// repository: search, symbols, locate, the repo map and answers with citations, all from its knowledge index. The
/// index is brought up to date before each question (only changed files are re-read), so line numbers match the
/// files the developer is looking at.
public struct RepoAssistant: Sendable {
    public let index: CodeIndex
    public var root: String { index.root }

    public init(index: CodeIndex) {
        self.index = index
    }

    /// The repository's index, built on first use (seeded from the repository's own index in a worktree).
    public static func open(root: String) async throws -> RepoAssistant {
        let index = try CodeIndex.openSeeded(root: root)
        _ = try await index.update()
        return RepoAssistant(index: index)
    }

    /// One search result with the lines it covers (at most `lines` of them), ready to show.
    public struct Excerpt: Codable, Sendable, Hashable {
        public var path: String
        public var startLine: Int
        public var endLine: Int
        public var symbol: String?
        public var kind: String
        public var text: String
    }

    public func search(_ query: String, limit: Int = 8, lines: Int = 12) async throws -> [Excerpt] {
        _ = try await index.update()
        return try index.search(query, limit: max(1, min(limit, 50))).map { hit in
            Excerpt(
                path: hit.path, startLine: hit.startLine, endLine: hit.endLine, symbol: hit.symbol, kind: hit.kind,
                text: Self.lines(
                    of: root + "/" + hit.path, from: hit.startLine, to: min(hit.endLine, hit.startLine + lines - 1)))
        }
    }

    public struct Symbol: Codable, Sendable {
        public var definitions: [SymbolHit]
        public var references: [ReferenceHit]
    }

    public func findSymbol(_ name: String, referenceLimit: Int = 30) async throws -> Symbol {
        _ = try await index.update()
        let (definitions, references) = try await index.findSymbol(name, referenceLimit: referenceLimit)
        return Symbol(definitions: definitions, references: references)
    }

    public func locate(_ problem: String, limit: Int = 10) async throws -> [FileScore] {
        _ = try await index.update()
        return try index.locate(problem, limit: max(1, min(limit, 50)))
    }

    /// The repository's most central files and their symbols (PageRank over who uses whose names), cut to a budget.
    public func repoMap(task: String? = nil, budgetTokens: Int = 2048) async throws -> String {
        _ = try await index.update()
        return try index.repoMap(task: task, budgetTokens: budgetTokens)
    }

    /// An answer from retrieved code, streamed through `onText`, with its citations checked against the files.
    /// `history` is the conversation so far (its last 8 turns are sent); a short follow-up ("and where is it
    /// called?") is searched together with the question before it.
    public func ask(
        _ question: String, model: any ChatModel, history: [ChatMessage] = [],
        onRetrieved: @escaping @Sendable ([ChunkHit], Int) -> Void = { _, _ in },
        onText: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> AskAnswer {
        _ = try await index.update()
        return try await CodeQA.ask(
            question, index: index, model: model, budgetTokens: CodeQA.contextBudget(for: model.profile),
            history: Array(history.suffix(8)), retrievalQuery: Self.searchText(question, history: history),
            onRetrieved: onRetrieved, onText: onText)
    }

    static func searchText(_ question: String, history: [ChatMessage]) -> String {
        guard question.split(separator: " ").count < 8, let previous = history.last(where: { $0.role == .user }) else {
            return question
        }
        return previous.content + "\n" + question
    }

    /// Lines `from...to` (1-based) of a file, joined; empty when the file cannot be read.
    static func lines(of path: String, from start: Int, to end: Int) -> String {
        guard let content = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        let all = content.split(separator: "\n", omittingEmptySubsequences: false)
        guard start >= 1, start <= all.count else { return "" }
        return all[(start - 1)..<min(end, all.count)].joined(separator: "\n")
    }
}
