import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Synchronization
import Testing

@testable import FerryIndex

@Suite struct IndexTests {
    static let files: [String: String] = [
        "app/http.py": """
        import json


        def parseHeader(line):
            name, _, value = line.partition(":")
            return name.strip().lower(), value.strip()


        class Request:
            def __init__(self, raw):
                self.headers = dict(parseHeader(l) for l in raw.splitlines() if l)

            def content_length(self):
                return int(self.headers.get("content-length", 0))
        """,
        "app/cart.py": """
        from app.http import Request


        def cart_total(items, discount):
            total = sum(price * qty for price, qty in items)
            if discount > 100:
                raise ValueError("discount over 100%")
            return total * (100 - discount) / 100
        """,
        "app/util.py": """
        def clamp(value, low, high):
            return max(low, min(value, high))
        """,
        "tests/test_cart.py": """
        from app.cart import cart_total


        def test_cart_total():
            assert cart_total([(10, 2)], 0) == 20
        """,
        "docs/runbook.md": """
        # Runbook

        ## Rotating the signing key
        Run the rotate script, then restart the workers.
        """,
        ".gitignore": "build/\n*.log\n",
        "app/__init__.py": "from app.util import clamp\n",
        "build/generated.py": "def generated_function():\n    pass\n",
        "debug.log": "parseHeader failed\n",
        "node_modules/lib/index.js": "function vendored() {}\n",
    ]

    func makeIndex(_ files: [String: String] = IndexTests.files, ctags: String = "ctags") async throws -> (
        CodeIndex, String
    ) {
        let repo = try await FixtureRepo.make(files)
        // Ignored files are written after the commit, as a build would leave them.
        try Data("def generated_function():\n    pass\n".utf8).write(
            to: URL(fileURLWithPath: repo + "/build/generated.py"))
        return (try CodeIndex(root: repo, ctags: ctags), repo)
    }

    @Test func indexesSymbolsChunksAndDocsAndHonoursIgnoreRules() async throws {
        var files = Self.files
        files["logo.png"] = "\u{0}PNG"
        files["data.bin.txt"] = "abc\u{0}def"
        let (index, _) = try await makeIndex(files)
        let stats = try await index.update()
        #expect(stats.warning == nil)
        #expect(stats.changed == stats.files)
        let paths = try index.search("generated function vendored parse header runbook", limit: 50).map(\.path)
        #expect(!paths.contains("build/generated.py"))  // .gitignore
        #expect(!paths.contains("node_modules/lib/index.js"))  // vendored
        #expect(!paths.contains("debug.log"))  // ignored
        #expect(!paths.contains("data.bin.txt"))  // binary content
        #expect(paths.contains("docs/runbook.md"))  // docs are knowledge too
        let (definitions, references) = try await index.findSymbol("parseHeader")
        #expect(definitions.map(\.path) == ["app/http.py"])
        #expect(definitions.first?.line == 4 && definitions.first?.endLine == 6)
        #expect(references.contains { $0.path == "app/http.py" && $0.line == 11 })
        let method = try await index.findSymbol("Request.content_length").definitions
        #expect(method.count == 1 && method.first?.line == 13)
    }

    /// ctags gives a Python module's variables no end; the index gives them their statement's, so a table (a
    /// lexer's rules, a keyword list) is a definition with a span like a function.
    @Test func aPythonModulesTableHasItsStatementsSpan() async throws {
        var files = Self.files
        files["app/rules.py"] =
            "import re\n\nLIMIT = 10\nRULES = [\n    (r'[(]', 'open'),\n    (r'ORDER\\s+BY', 'kw'),\n]\n\n\ndef match(text):\n    return [name for rule, name in RULES if re.match(rule, text)]\n"
        let (index, _) = try await makeIndex(files)
        _ = try await index.update()
        let definitions = try index.definitions(in: "app/rules.py")
        let rules = try #require(definitions.first { $0.name == "RULES" })
        #expect(rules.line == 4 && rules.endLine == 7)
        #expect(definitions.first { $0.name == "LIMIT" }?.endLine == 3)
        #expect(definitions.first { $0.name == "match" }?.endLine == 11)
    }

    /// A repository is untrusted: a committed symlink to a file or folder outside it (a server's key, /etc) is never
    /// read into the index, so no search or answer over the index can show what it points at.
    @Test func symlinksOutOfTheRepositoryAreNeverRead() async throws {
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-outside-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "admin_key = 'OUTSIDESECRET'\n".write(toFile: outside + "/admin.py", atomically: true, encoding: .utf8)
        let repo = try await FixtureRepo.make(["app.py": "def handler():\n    return 1\n"])
        try FileManager.default.createSymbolicLink(
            atPath: repo + "/leak.py", withDestinationPath: outside + "/admin.py")
        try FileManager.default.createSymbolicLink(atPath: repo + "/leakdir", withDestinationPath: outside)
        _ = try await Git(repo).run("add", "-A")
        _ = try await Git(repo).run("commit", "-qm", "links")
        let index = try CodeIndex(root: repo, path: repo + "/../index.sqlite")
        _ = try await index.update()
        #expect(try index.search("OUTSIDESECRET").isEmpty)
        #expect(try index.search("admin key").isEmpty)
        #expect(!(try index.search("handler").isEmpty))
    }

    @Test func updatesOnlyWhatChanged() async throws {
        let (index, repo) = try await makeIndex()
        let first = try await index.update()
        let again = try await index.update()
        #expect(again.changed == 0 && again.removed == 0 && again.unchanged == first.files)
        try
            "def clamp(value, low, high):\n    return min(max(value, low), high)\n\n\ndef wrap_angle(a):\n    return a % 360\n"
            .write(toFile: repo + "/app/util.py", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: repo + "/tests/test_cart.py")
        // Touched but identical: hashed, not re-indexed.
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(60)], ofItemAtPath: repo + "/app/cart.py")
        let third = try await index.update()
        #expect(third.changed == 1 && third.removed == 1)
        #expect(try await index.findSymbol("wrap_angle").definitions.first?.path == "app/util.py")
        #expect(try await index.findSymbol("test_cart_total").definitions.isEmpty)
        let fourth = try await index.update()
        #expect(fourth.changed == 0)
    }

    @Test func aWorktreeStartsFromItsRepositorysIndex() async throws {
        let (main, repo) = try await makeIndex()
        _ = try await main.update()
        let worktree = repo + "-wt"
        _ = try await HostCommand.run("git", ["worktree", "add", "-q", "--detach", worktree, "HEAD"], in: repo)
        try "def clamp(v, lo, hi):\n    return v\n\n\ndef only_here():\n    pass\n".write(
            toFile: worktree + "/app/util.py", atomically: true, encoding: .utf8)
        let index = try CodeIndex.openSeeded(root: worktree)
        #expect(index.path.contains("/worktrees/") && index.path != main.path)
        let stats = try await index.update()
        #expect(stats.changed == 1 && stats.unchanged == stats.files - 1)  // only the edited file is re-read
        #expect(try await index.findSymbol("only_here").definitions.first?.line == 5)
        #expect(try await main.findSymbol("only_here").definitions.isEmpty)  // the main index is its own
    }

    @Test func aSubdirectoryOfARepositoryKeepsItsIndexOutOfTheTree() async throws {
        let repo = try await FixtureRepo.make(["pkg/a.py": "def f():\n    pass\n", "README.md": "# r\n"])
        let path = CodeIndex.defaultPath(for: repo + "/pkg")
        #expect(path.hasPrefix(repo + "/.git/ferry/") && path.hasSuffix("index-pkg.sqlite"))
        let index = try CodeIndex(root: repo + "/pkg")
        #expect(try await index.update().files == 1)
        let status = try await HostCommand.run("git", ["status", "--porcelain"], in: repo)
        #expect(status.stdout.isEmpty)
    }

    @Test func aCtagsFailureStillIndexesText() async throws {
        let (index, _) = try await makeIndex(ctags: "/bin/false")
        let stats = try await index.update()
        #expect(stats.warning?.contains("ctags failed") == true)
        #expect(stats.symbols == 0 && stats.chunks > 0)
        #expect(try index.search("cart total discount").first?.path == "app/cart.py")
        let (index2, _) = try await makeIndex(ctags: "/nonexistent/ctags")
        #expect(try await index2.update().warning != nil)
    }

    @Test func splitIdentifiersMatchPlainWords() async throws {
        let (index, _) = try await makeIndex()
        _ = try await index.update()
        let hit = try #require(try index.search("parse header").first)
        #expect(hit.path == "app/http.py" && hit.symbol == "parseHeader" && hit.startLine == 4)
        #expect(try index.search("parse_header").first?.symbol == "parseHeader")
        #expect(Identifiers.split("parseHTTPHeader2") == ["parse", "http", "header", "2"])
        #expect(QueryText.terms("Calling parse_header() fails").contains("header"))
    }

    @Test func aRankedFileListsItsBestDefinitionsEvenWhenOtherFilesTakeTheCorpusWideTopChunks() async throws {
        // 420 small files match the words far better than the large file's own function does, so none of its
        // chunks is among the corpus-wide top 400; the file itself ranks because the text names it.
        var files = ["build/.keep": ""]
        for number in 0..<420 {
            files["app/big_\(number).py"] =
                "def handle_\(number)():\n    \"\"\"pool timeout retry pool timeout retry\"\"\"\n    return 'pool timeout retry'\n"
        }
        files["app/big.py"] =
            (0..<30).map { "def unrelated_\($0)(x):\n    return x * \($0)\n" }.joined(separator: "\n\n")
            + "\n\ndef open_pool(size):\n    # no timeout\n    return size\n"
        let (index, _) = try await makeIndex(files)
        _ = try await index.update()
        let statement = "In app/big.py, the pool waits forever: there is no timeout and no retry."
        let before = try index.locate(
            statement, limit: 5, features: try LocateFeatures.parse("bm25,mentions,symbols,tests"))
        let after = try index.locate(statement, limit: 5)
        #expect(before.first?.path == "app/big.py" && after.first?.path == "app/big.py")
        #expect(before.first?.functions.contains("open_pool") == false)
        #expect(after.first?.functions.first == "open_pool")
    }

    @Test func locateRanksTheFileThatNeedsTheChange() async throws {
        let (index, _) = try await makeIndex()
        _ = try await index.update()
        let statement = "cart_total() raises ValueError for a discount of exactly 100; a 100% discount should give 0."
        let ranked = try index.locate(statement, limit: 3)
        #expect(ranked.first?.path == "app/cart.py")
        #expect(ranked.first?.functions.first == "cart_total")
        #expect(!ranked.prefix(1).contains { $0.path.hasPrefix("tests/") })  // tests rank below source
        // A traceback names the file even when no word matches.
        let trace =
            "Traceback (most recent call last):\n  File \"/home/u/proj/app/util.py\", line 2, in clamp\nTypeError"
        #expect(try index.locate(trace, limit: 1).first?.path == "app/util.py")
        // A dotted module.
        #expect(try index.locate("something odd in app.http", limit: 1).first?.path == "app/http.py")
        // A bare package name is not a file to change, and config files rank below source.
        let bare = try index.locate(
            "In app, clamp() returns the wrong bound", limit: 3,
            features: try LocateFeatures.parse("mentions,symbols,tests,bm25"))
        #expect(bare.first?.path == "app/util.py")
        #expect(!bare.contains { $0.path == "app/__init__.py" && $0.reasons.contains("named") })
    }

    @Test func repoMapStaysWithinItsBudgetAndPutsTheTaskFirst() async throws {
        let (index, _) = try await makeIndex()
        _ = try await index.update()
        for budget in [12, 40, 80, 400] {
            let map = try index.repoMap(task: "content length of a request", budgetTokens: budget)
            #expect(CodeIndex.estimateTokens(map) <= budget)
        }
        let map = try index.repoMap(task: "content length of a request", budgetTokens: 400)
        #expect(map.hasPrefix("app/http.py:"))
        #expect(map.contains("13: member Request.content_length"))
        #expect(try index.repoMap(task: nil, budgetTokens: 0).isEmpty)
    }

    @Test func agentToolsAnswerFromTheIndexAndFollowEdits() async throws {
        let (index, repo) = try await makeIndex()
        _ = try await index.update()
        let workspace = try Workspace(root: repo)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: repo))
        let plain = ToolBox(workspace: workspace, runner: runner)
        #expect(!plain.specs.contains { $0.name == "search_code" })
        let tools = ToolBox(workspace: workspace, runner: runner, knowledge: IndexKnowledge(index: index))
        #expect(tools.specs.map(\.name).suffix(3) == ["search_code", "find_symbol", "finish"])
        let search = await tools.execute(
            ToolCall(id: "1", name: "search_code", arguments: #"{"query": "parse header"}"#))
        #expect(!search.isError && search.output.hasPrefix("app/http.py:4-6 parseHeader"))
        // An edit moves the function; the next call sees the new lines.
        _ = await tools.execute(
            ToolCall(
                id: "2", name: "edit_file",
                arguments: #"{"path": "app/http.py", "old": "import json\n", "new": "import json\nimport re\n"}"#))
        let symbol = await tools.execute(ToolCall(id: "3", name: "find_symbol", arguments: #"{"name": "parseHeader"}"#))
        #expect(symbol.output.contains("app/http.py:5-7 function parseHeader"))
        let missing = await tools.execute(
            ToolCall(id: "4", name: "find_symbol", arguments: #"{"name": "no_such_thing"}"#))
        #expect(missing.output.contains("No symbol named no_such_thing"))
    }

    /// search_code with one identifier: its definition first (code before tests), then the ranked chunks, each shown
    /// once. BM25 alone ranks a test full of the name's words above the definition.
    @Test func searchCodeWithAnIdentifierPutsItsDefinitionFirst() async throws {
        let test = (1...12).map { "def test_hint_\($0)():\n    error = 'error hint'\n    assert hint(error)\n\n" }
            .joined()
        let (index, _) = try await makeIndex([
            "src/core.py":
                "class Option:\n    def get_error_hint(self, ctx):\n        return self.name\n\n\ndef other():\n    return 1\n",
            "tests/test_hints.py": test,
            "build/.keep": "",
        ])
        _ = try await index.update()
        let knowledge = IndexKnowledge(index: index)
        for query in ["get_error_hint", "`get_error_hint()`", "Option.get_error_hint"] {
            let output = try await knowledge.searchCode(query)
            #expect(output.hasPrefix("src/core.py:2-3 Option.get_error_hint"), "\(query): \(output)")
            #expect(output.components(separatedBy: "src/core.py:2").count == 2, "shown once: \(output)")
        }
        // Words are not an identifier: BM25's ranking as before.
        #expect(IndexKnowledge.identifier(in: "error hint") == nil)
        #expect(IndexKnowledge.identifier(in: "a..b") == nil)
    }

    @Test func aModelReranksLocateCandidatesOverTheFakeServer() async throws {
        let candidates = ["app/http.py", "app/cart.py", "app/util.py"].map {
            FileScore(path: $0, score: 1, reasons: [], functions: [])
        }
        let reply = "app/cart.py\nsrc/invented.py\n- app/util.py (maybe)\n"
        let ranked = try await FakeModelServer.with(.openai, script: [.reply(text: reply)]) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            defer { Task { try? await client.shutdown() } }
            let model = ModelFactory.make(profile: profile, apiKey: "test-key-not-real", client: client)
            let ranked = try await LocateRerank.rerank("cart total is wrong", candidates, model: model)
            guard case .array(let messages) = server.requests.first?["messages"] else { return [String]() }
            #expect(messages.last?["content"]?.stringValue?.contains("2. app/cart.py") == true)
            return ranked.map(\.path)
        }
        #expect(ranked == ["app/cart.py", "app/util.py", "app/http.py"])
    }

    @Test func chunksCoverEveryLineOnceAndSurviveBadSpans() {
        let lines = (1...200).map { Substring("line \($0)") }
        let symbols = [
            SymbolDefinition(name: "A", kind: "class", line: 10, endLine: 120),
            SymbolDefinition(name: "m", kind: "member", scope: "A", line: 20, endLine: 30),
            SymbolDefinition(name: "ghost", kind: "function", line: 500, endLine: 520),  // past the end
            SymbolDefinition(name: "tail", kind: "function", line: 190, endLine: 900),
        ]
        let chunks = Chunker.chunks(lines: lines, symbols: symbols)
        var covered: [Int] = []
        for chunk in chunks { covered += Array(chunk.startLine...chunk.endLine) }
        #expect(covered == Array(1...200))
        #expect(chunks.contains { $0.startLine == 20 && $0.endLine == 30 && $0.symbol == "A.m" })
        #expect(chunks.allSatisfy { $0.endLine - $0.startLine < Chunker.maxSpanLines })
    }

    @Test func aLocalModelGetsASmallContextBudgetAndAHostedOneMore() {
        let local = ModelProfile(
            name: "l", provider: .local, baseURL: "http://127.0.0.1:9/v1", model: "q", apiKeyEnv: "")
        let hosted = ModelProfile(name: "h", provider: .openai, baseURL: "https://x/v1", model: "m", apiKeyEnv: "K")
        let small = ModelProfile(
            name: "s", provider: .openai, baseURL: "https://x/v1", model: "m", apiKeyEnv: "K", contextWindow: 8_000)
        #expect(CodeQA.contextBudget(for: local) == 1_500)
        #expect(CodeQA.contextBudget(for: hosted) == 12_000)
        #expect(CodeQA.contextBudget(for: small) == 2_666)
    }

    @Test func askCitesRealLinesOverTheFakeServer() async throws {
        let (index, repo) = try await makeIndex()
        _ = try await index.update()
        let answer =
            "Headers are parsed by parseHeader (app/http.py:4-6), which lower-cases names (app/http.py:6). "
            + "Requests keep them in a dict (app/http.py:11). See also app/http.py:999 and nothere.py:3."
        let answered: AskAnswer? = try await FakeModelServer.with(.openai, script: [.reply(text: answer)]) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let model = ModelFactory.make(profile: profile, apiKey: "test-key-not-real", client: client)
            defer { Task { try? await client.shutdown() } }
            let streamed = Collected()
            let result0: AskAnswer? = nil
            let order = Collected()
            let result = try await CodeQA.ask(
                "How are request headers parsed?", index: index, model: model,
                onRetrieved: { sources, tokens in order.add("retrieved \(sources.count) \(tokens > 50)|") }
            ) { text in
                streamed.add(text)
                order.add("text|")
            }
            #expect(streamed.text == answer)
            // The sign of life comes first, before any of the answer.
            #expect(order.text.hasPrefix("retrieved \(result.sources.count) true|text|"), "\(order.text)")
            let request = try #require(server.requests.first)
            guard case .array(let messages) = request["messages"] else {
                Issue.record("no messages")
                return result0
            }
            let prompt = messages.last?["content"]?.stringValue ?? ""
            #expect(prompt.contains("### app/http.py:4-"))  // the retrieved code went to the model, with line numbers
            #expect(prompt.contains("4\tdef parseHeader(line):"))
            return result
        }
        let result = try #require(answered)
        #expect(result.answer == answer)
        let valid = result.citations.filter { $0.valid }.map { "\($0.path):\($0.line)" }
        let invalid = result.citations.filter { !$0.valid }.map { "\($0.path):\($0.line)" }
        #expect(valid == ["app/http.py:4", "app/http.py:6", "app/http.py:11"])
        #expect(invalid == ["app/http.py:999", "nothere.py:3"])
        // Each valid citation points at the line the answer describes.
        let lines = try String(contentsOfFile: repo + "/app/http.py", encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[3].contains("def parseHeader"))
        #expect(lines[10].contains("self.headers = dict("))
        #expect(result.sources.first?.path == "app/http.py")
    }
}

/// `ferry ask` reads what `locate` ranks best: whole definitions of the likely file, not one-line test excerpts that
/// repeat the question's words.
@Suite struct AskContextTests {
    static let files = [
        "app.py": """
        class App:
            def __init__(self):
                self.handlers = {}

            def register_error_handler(self, code_or_exception, f):
                self.handlers[code_or_exception] = f

            def _find_error_handler(self, e):
                for cls in type(e).__mro__:
                    handler = self.handlers.get(cls)
                    if handler is not None:
                        return handler
                return None

            def handle_user_exception(self, e):
                handler = self._find_error_handler(e)
                if handler is None:
                    raise e
                return handler(e)
        """,
        "tests/test_errors.py": (0..<40).map {
            "def test_error_handler_\($0)(): assert app.error handler for exception raised in view \($0)\n"
        }.joined(),
    ]

    /// A function declared with `@overload` stubs above it: the answer reads the one whose code runs.
    @Test func theFunctionThatRunsIsReadNotItsOverloadStubs() async throws {
        let module = """
            import typing as t


            @t.overload
            def lookup_default(name: str, call: t.Literal[True] = True) -> int: ...


            @t.overload
            def lookup_default(name: str, call: bool = ...) -> object: ...


            def lookup_default(name, call=True):
                value = DEFAULTS.get(name, UNSET)
                return None if value is UNSET else value
            """
        let repo = try await FixtureRepo.make(["defaults.py": module])
        let index = try CodeIndex(root: repo)
        _ = try await index.update()
        let (text, sources) = try await CodeQA.context(
            for: "What does lookup_default return for a name with no default?", index: index, budgetTokens: 120)
        #expect(text.contains("return None if value is UNSET else value"), "\(text)")
        // Read first: the definition at line 12, not the stub at line 5.
        #expect(sources.first?.startLine == 12, "\(sources.map(\.startLine))")
    }

    @Test func theLikelyFilesWholeDefinitionsComeBeforeTestExcerpts() async throws {
        let repo = try await FixtureRepo.make(Self.files)
        let index = try CodeIndex(root: repo)
        _ = try await index.update()
        let question = "How does the app decide which error handler to call for an exception raised in a view?"
        let (text, sources) = try await CodeQA.context(for: question, index: index, budgetTokens: 1_500)
        #expect(sources.first?.path == "app.py", "\(sources.map(\.path))")
        #expect(!sources.contains { $0.path.hasPrefix("tests/") }, "tests only when the question is about tests")
        // The deciding function, whole: its loop over the exception's classes and its return.
        #expect(text.contains("def _find_error_handler(self, e):") && text.contains("for cls in type(e).__mro__:"))
        #expect(text.contains("return None"))
        // Asked about tests, the tests come in.
        let (_, testSources) = try await CodeQA.context(
            for: "Which tests check the error handler?", index: index, budgetTokens: 1_500)
        #expect(testSources.contains { $0.path.hasPrefix("tests/") })
    }
}

final class Collected: Sendable {
    private let state = Mutex<String>("")
    func add(_ text: String) { state.withLock { $0 += text } }
    var text: String { state.withLock { $0 } }
}
