import FerryCore
import FerryWorkspace
import Foundation
import GRDB

/// A chunk found by full-text search.
public struct ChunkHit: Codable, Hashable, Sendable {
    public var path: String
    public var startLine: Int
    public var endLine: Int
    public var symbol: String?
    public var score: Double
    public var kind: String

    public init(path: String, startLine: Int, endLine: Int, symbol: String?, score: Double, kind: String) {
        self.path = path
        self.startLine = startLine
        self.endLine = endLine
        self.symbol = symbol
        self.score = score
        self.kind = kind
    }
}

public struct SymbolHit: Codable, Hashable, Sendable {
    public var path: String
    public var name: String
    public var kind: String
    public var scope: String?
    public var line: Int
    public var endLine: Int?
    public var signature: String?
}

public struct ReferenceHit: Codable, Hashable, Sendable {
    public var path: String
    public var line: Int
    public var text: String
}

/// A file ranked by `locate`, with the functions in it most likely involved.
public struct FileScore: Codable, Hashable, Sendable {
    public var path: String
    public var score: Double
    public var reasons: [String]
    public var functions: [String]

    public init(path: String, score: Double, reasons: [String], functions: [String]) {
        self.path = path
        self.score = score
        self.reasons = reasons
        self.functions = functions
    }
}

/// Which signals `locate` uses (the localisation bench turns them off one at a time).
public struct LocateFeatures: Sendable, Hashable {
    public var bm25 = true
    /// Files named in the text: paths, dotted modules, traceback frames.
    public var mentions = true
    /// Files defining identifiers that the text names.
    public var symbols = true
    /// Tests, docs and examples ranked below source (changes land in source).
    public var demoteTests = true
    /// Each ranked file's definitions ordered by BM25 over all of that file's chunks, not only the chunks that made
    /// the corpus-wide top 400 (in a large file the one to change often did not).
    public var fileFunctions = true

    public init() {}

    public static func parse(_ text: String) throws -> LocateFeatures {
        var features = LocateFeatures()
        features.bm25 = false
        features.mentions = false
        features.symbols = false
        features.demoteTests = false
        features.fileFunctions = false
        for name in text.split(separator: ",") {
            switch name.trimmingCharacters(in: .whitespaces) {
            case "bm25": features.bm25 = true
            case "mentions": features.mentions = true
            case "symbols": features.symbols = true
            case "tests": features.demoteTests = true
            case "functions": features.fileFunctions = true
            case "all": features = LocateFeatures()
            default:
                throw FerryError(
                    .usage, "unknown locate feature \(name): use bm25, mentions, symbols, tests, functions or all")
            }
        }
        return features
    }
}

public enum QueryText {
    static let stopwords: Set<String> = [
        "the", "and", "for", "that", "this", "with", "not", "are", "but", "was", "when", "from", "have", "has", "you",
        "your", "can", "should", "would", "could", "will", "there", "their", "what", "which", "how", "why", "where",
        "into", "also", "then", "than", "them", "they", "these", "those", "been", "being", "were", "its", "our", "all",
        "any", "some", "one", "two", "use", "used", "using", "get", "got", "like", "just", "only", "does", "did",
        "doesn",
        "isn", "don", "out", "way", "here", "now", "new", "see", "may", "might", "more", "most", "other", "such",
        "because", "about", "after", "before", "same", "both", "each", "very", "want", "need", "make", "made", "seems",
        "self", "def", "return", "import", "none", "true", "false", "class", "print", "expected", "following", "code",
        "error", "issue", "bug", "problem", "example", "instead", "however", "would", "think", "thanks", "please",
        "http", "https", "www", "com", "github", "org", "html", "line", "file", "traceback", "recent", "call", "last",
        "python", "version", "value", "result", "output", "works", "work", "case", "test", "tests", "let", "want",
        // A commit message or an issue's title says it fixes something; a comment in the code that says "fixed"
        // (sqlparse's reindent.py: "# issue121, errors in statement fixed??") is not where the fix goes.
        "fix", "fixes", "fixed", "fixing", "issues", "bugs", "closes", "resolves",
    ]

    /// The search terms of free text: identifiers kept whole (lowercased) and split into words, stopwords dropped,
    /// most frequent first.
    public static func terms(_ text: String, limit: Int = 48) -> [String] {
        var counts: [String: Int] = [:]
        var order: [String] = []
        func add(_ word: String) {
            guard word.count >= 3, word.count <= 40, !stopwords.contains(word), !word.allSatisfy(\.isNumber) else {
                return
            }
            if counts[word] == nil { order.append(word) }
            counts[word, default: 0] += 1
        }
        for identifier in Identifiers.scan(text) {
            let words = Identifiers.split(identifier)
            if words.count > 1, !identifier.contains("_") { add(identifier.lowercased()) }
            words.forEach(add)
        }
        let ranked = order.enumerated().sorted { a, b in
            let ca = counts[a.element]!
            let cb = counts[b.element]!
            return ca != cb ? ca > cb : a.offset < b.offset
        }
        return ranked.prefix(limit).map(\.element)
    }

    static func ftsQuery(_ terms: [String]) -> String {
        terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "") + "\"" }.joined(separator: " OR ")
    }

    static func isTestOrDoc(_ path: String) -> Bool {
        let parts = path.lowercased().split(separator: "/").dropLast()
        return TestPaths.isTest(path)
            || parts.contains { ["doc", "docs", "examples", "example", "benchmarks"].contains(String($0)) }
    }
}
