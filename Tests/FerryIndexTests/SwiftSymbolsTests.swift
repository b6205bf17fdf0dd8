import FerryTesting
import Foundation
import Testing

@testable import FerryIndex

/// Swift files get symbols with spans from Ferry's own scanner (Universal Ctags 5.9 has no Swift parser).
@Suite struct SwiftSymbolsTests {
    static let source = """
        import Foundation

        /// Tokens.
        enum Tokens {
            static func digest(_ key: String) -> String {
                let text = "not a { brace" // nor } this
                return text
            }

            case plain
        }

        public struct Store: Sendable {
            let path: String
            var count: Int {
                path.count
            }

            public init(path: String) throws {
                self.path = path
            }

            func write(
                _ value: Int,
                to file: String
            ) async throws -> Int {
                /* { */ return value
            }
        }

        protocol Runner {
            func run(_ script: String) async throws -> Int
            var name: String { get }
        }

        extension Store {
            func read() -> String { path }
            func update(progress: (Int) -> Void = { _ in }) -> Int {
                let local = 1
                return local
            }
        }
        """

    @Test func typesFunctionsAndPropertiesWithSpansAndScopes() {
        let symbols = SwiftSymbols.scan(Self.source)
        func find(_ name: String, in scope: String? = nil) -> SymbolDefinition? {
            symbols.first { $0.name == name && (scope == nil || $0.scope == scope) }
        }
        #expect(find("Tokens")?.kind == "enum")
        #expect(find("Tokens")?.line == 4 && find("Tokens")?.endLine == 11)
        #expect(find("digest", in: "Tokens")?.kind == "method")
        #expect(
            find("digest")?.line == 5 && find("digest")?.endLine == 8, "braces in strings and comments are not counted")
        #expect(find("plain", in: "Tokens")?.kind == "enumerator")
        #expect(find("Store")?.line == 13 && find("Store")?.endLine == 29)
        #expect(find("path", in: "Store")?.kind == "property" && find("path", in: "Store")?.endLine == nil)
        #expect(find("count", in: "Store")?.endLine == 17)
        #expect(find("init", in: "Store")?.line == 19 && find("init", in: "Store")?.endLine == 21)
        #expect(
            find("write", in: "Store")?.line == 23 && find("write", in: "Store")?.endLine == 28, "a wrapped signature")
        #expect(find("run", in: "Runner")?.endLine == nil, "a requirement has no body")
        #expect(find("Runner")?.endLine == 34)
        #expect(find("read", in: "Store")?.line == 37 && find("read", in: "Store")?.endLine == 37)
        #expect(
            find("update", in: "Store")?.line == 38 && find("update", in: "Store")?.endLine == 41,
            "a closure as a default argument")
        // Nothing from inside function bodies.
        #expect(find("text") == nil)
        #expect(find("local") == nil)
    }

    @Test func aSwiftRepositoryIsSearchableBySymbol() async throws {
        let root = try await FixtureRepo.make(["Sources/Store.swift": Self.source])
        let index = try CodeIndex(root: root)
        _ = try await index.update()
        let (definitions, _) = try await index.findSymbol("digest", referenceLimit: 0)
        #expect(definitions.first?.path == "Sources/Store.swift" && definitions.first?.line == 5)
        let hits = try index.search("digest key", limit: 3)
        #expect(hits.first?.symbol?.contains("digest") == true, "\(hits)")
    }
}
