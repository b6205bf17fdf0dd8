import Testing

@testable import FerryIndex

/// Where a Python module's variable ends, which ctags does not say.
@Suite struct StatementEndTests {
    static func end(_ text: String, from line: Int = 1) -> Int? {
        StatementEnd.python(startingAt: line, lines: text.split(separator: "\n", omittingEmptySubsequences: false))
    }

    @Test func aTableEndsWhereItsBracketCloses() {
        #expect(Self.end("X = 1\nY = 2\n") == 1)
        #expect(Self.end("RULES = [\n    (r'ORDER\\s+BY\\b', 1),\n    (r'[(]', 2),\n]\nOTHER = 3\n") == 4)
        #expect(Self.end("K = {\n    'a': {'b': (1,\n           2)},\n}\n") == 4)
        // A second definition starting on a later line of the same file.
        #expect(Self.end("A = 1\nB = dict(\n    x=1,\n)\n", from: 2) == 4)
    }

    @Test func bracketsInStringsAndCommentsDoNotCount() {
        #expect(Self.end("P = '(['  # ) ]\nQ = 1\n") == 1)
        #expect(Self.end("P = [  # a ] in a comment\n    \"]\",\n    'it''s',\n]\n") == 4)
        #expect(Self.end("P = ['\\'', \"\\\"]\"]\n") == 1)
        #expect(Self.end("DOC = \"\"\"\nA ( that is not code\n\"\"\"\nX = 1\n") == 3)
        #expect(Self.end("DOC = '''one ''' + '''\n)\n'''\n") == 3)
    }

    @Test func aBackslashContinuesTheStatement() {
        #expect(Self.end("TOTAL = 1 + \\\n    2 + \\\n    3\nX = 1\n") == 3)
    }

    @Test func anUnclosedStatementHasNoEnd() {
        #expect(Self.end("X = [\n    1,\n") == nil)
        #expect(Self.end("X = (\n" + String(repeating: "1,\n", count: 20), from: 1) == nil)
        #expect(Self.end("X = 1\n", from: 5) == nil)
    }
}
