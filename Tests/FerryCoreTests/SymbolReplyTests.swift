import Testing

@testable import FerryCore

/// Replacement definitions read from a reply and spliced into their files by span.
@Suite struct SymbolReplyTests {
    static let file = """
        import math


        class Shop:
            def __init__(self):
                self.items = []

            @property
            def total(self):
                return sum(i.price for i in self.items)

            def count(self):
                return len(self.items)


        def helper():
            return 1
        """
    static let total = SymbolUnit(
        path: "shop.py", name: "Shop.total", startLine: 8, endLine: 10,
        text: "    @property\n    def total(self):\n        return sum(i.price for i in self.items)")
    static let count = SymbolUnit(
        path: "shop.py", name: "Shop.count", startLine: 12, endLine: 13,
        text: "    def count(self):\n        return len(self.items)")
    static let helper = SymbolUnit(
        path: "shop.py", name: "helper", startLine: 16, endLine: 17, text: "def helper():\n    return 1")

    @Test func aDefinitionGivenFlushLeftGoesBackAtItsIndentationAndOnlyItsSpanChanges() {
        let reply = """
            I will round the total.

            shop.py: Shop.total
            ```python
            @property
            def total(self):
                return round(sum(i.price for i in self.items), 2)
            ```
            """
        let parsed = SymbolReply.parse(reply, units: [Self.total, Self.count])
        #expect(parsed.problems.isEmpty)
        #expect(parsed.replacements.map(\.unit) == [Self.total])
        let files = SymbolReply.apply(parsed.replacements, to: ["shop.py": Self.file])
        let expected = Self.file.replacingOccurrences(
            of: "        return sum(i.price for i in self.items)",
            with: "        return round(sum(i.price for i in self.items), 2)")
        #expect(files["shop.py"] == expected)
    }

    @Test func twoDefinitionsInOneFileAreAppliedBottomUp() {
        let reply = """
            ```python
            def helper():
                return 2
            ```
            and
            ```python
                def count(self):
                    # how many
                    return len(self.items)
            ```
            """
        let parsed = SymbolReply.parse(reply, units: [Self.total, Self.count, Self.helper])
        let files = SymbolReply.apply(parsed.replacements, to: ["shop.py": Self.file])
        let lines = files["shop.py"]?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
        #expect(lines.count == Self.file.split(separator: "\n", omittingEmptySubsequences: false).count + 1)
        #expect(lines[12] == "        # how many")
        #expect(lines.last == "    return 2")
    }

    @Test func refusedBlocksSayWhy() {
        let reply = """
            ```python
                def __init__(self):
                    self.items = None
            ```
            ```python
            def count(self):
                # ... rest of the code
            ```
            ```python
            def helper():
                return 3
            """
        let parsed = SymbolReply.parse(reply, units: [Self.count, Self.helper], files: ["shop.py": Self.file])
        #expect(parsed.replacements.isEmpty && parsed.insertions.isEmpty)
        #expect(parsed.problems.count == 3)
        #expect(parsed.problems[0].contains("`__init__` already exists in shop.py (line 5)"))
        #expect(parsed.problems[1].contains("leaves code out"))
        #expect(parsed.problems[2].contains("cut off"))
    }

    @Test func theHeaderTellsApartTwoDefinitionsWithOneName() {
        let a = SymbolUnit(
            path: "a.py", name: "A.run", startLine: 2, endLine: 3, text: "    def run(self):\n        return 1")
        let b = SymbolUnit(
            path: "a.py", name: "B.run", startLine: 6, endLine: 7, text: "    def run(self):\n        return 2")
        let reply = "a.py: B.run\n```python\n    def run(self):\n        return 22\n```\n"
        #expect(SymbolReply.parse(reply, units: [a, b]).replacements.map(\.unit) == [b])
        let unnamed = SymbolReply.parse("```python\n    def run(self):\n        return 22\n```\n", units: [a, b])
        #expect(unnamed.replacements.isEmpty && unnamed.insertions.isEmpty)
        #expect(unnamed.problems.first?.contains("More than one definition you were shown is called `run`") == true)
    }

    /// A module's table comes back as an assignment and replaces the table shown; an assignment that names nothing
    /// shown (a snippet) is neither a replacement nor a new definition.
    @Test func aTableComesBackAsAnAssignmentAndASnippetIsLeftAlone() {
        let file = "import re\n\nRULES = [\n    (r'ORDER\\s+BY', 'kw'),\n]\n\n\ndef helper():\n    return 1"
        let rules = SymbolUnit(
            path: "lex.py", name: "RULES", startLine: 3, endLine: 5, text: "RULES = [\n    (r'ORDER\\s+BY', 'kw'),\n]")
        let reply =
            "Add the rule.\n\nlex.py: RULES\n```python\nRULES = [\n    (r'ORDER\\s+BY', 'kw'),\n"
            + "    (r'PRIMARY\\s+KEY', 'kw'),\n]\n```\n\nThen:\n```python\nresult = helper()\n```\n"
        let parsed = SymbolReply.parse(reply, units: [rules], files: ["lex.py": file])
        #expect(parsed.problems.isEmpty && parsed.insertions.isEmpty)
        #expect(parsed.replacements.map(\.unit) == [rules])
        let files = SymbolReply.apply(parsed.replacements, to: ["lex.py": file])
        #expect(
            files["lex.py"]
                == file.replacingOccurrences(
                    of: "'kw'),\n]", with: "'kw'),\n    (r'PRIMARY\\s+KEY', 'kw'),\n]"))
        #expect(SymbolReply.assignedName(["LIMIT: int = 3"]) == "LIMIT")
        #expect(SymbolReply.assignedName(["x == 3"]) == nil)
        #expect(SymbolReply.assignedName(["# the rules", "RULES = ["]) == "RULES")
    }

    static let keywordsFile =
        "import re\n\nKEYWORDS = {\n"
        + ["SELECT", "FROM", "WHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "JOIN"].map {
            "    '\($0)': 'kw',\n"
        }.joined() + "}\n\n\ndef helper():\n    return 1"

    /// A part of a table (lines 7-12 of `KEYWORDS`, which spans 3-12).
    static let keywordsPart = SymbolUnit(
        path: "kw.py", name: "KEYWORDS", startLine: 7, endLine: 12,
        text: "    'GROUP': 'kw',\n    'ORDER': 'kw',\n    'HAVING': 'kw',\n    'LIMIT': 'kw',\n    'JOIN': 'kw',\n}",
        definition: 3...12)

    /// A block of entries alone, under a part's header, adds them; one with a key the table has changes that entry;
    /// lines the table has place what follows them.
    @Test func entriesGivenAloneForATablesPartAreMergedIntoIt() {
        let part = Self.keywordsPart
        let header = "kw.py: KEYWORDS, lines 7-12 (a part of it; it spans lines 3-12)"
        func merged(_ block: String) -> String? {
            let parsed = SymbolReply.parse(
                "\(header)\n```python\n\(block)\n```\n", units: [part], files: ["kw.py": Self.keywordsFile])
            #expect(parsed.problems.isEmpty, "\(parsed.problems)")
            return SymbolReply.apply(parsed.replacements, to: ["kw.py": Self.keywordsFile])["kw.py"]
        }
        #expect(
            merged("'WINDOW': 'kw',")
                == Self.keywordsFile.replacingOccurrences(of: "    'GROUP'", with: "    'WINDOW': 'kw',\n    'GROUP'"))
        #expect(
            merged("    'LIMIT': 'keyword',")
                == Self.keywordsFile.replacingOccurrences(of: "'LIMIT': 'kw'", with: "'LIMIT': 'keyword'"))
        #expect(
            merged("    'HAVING': 'kw',\n    'OVER': 'kw',")
                == Self.keywordsFile.replacingOccurrences(
                    of: "'HAVING': 'kw',\n", with: "'HAVING': 'kw',\n    'OVER': 'kw',\n"))
        // Given back whole, with an entry more, the part is replaced as before.
        let whole = part.text.replacingOccurrences(of: "    'JOIN'", with: "    'OVER': 'kw',\n    'JOIN'")
        #expect(
            merged(whole)
                == Self.keywordsFile.replacingOccurrences(of: "    'JOIN'", with: "    'OVER': 'kw',\n    'JOIN'"))
        // Nothing new: nothing to replace.
        let parsed = SymbolReply.parse(
            "\(header)\n```python\n    'JOIN': 'kw',\n```\n", units: [part], files: ["kw.py": Self.keywordsFile])
        #expect(parsed.replacements.isEmpty)
    }

    /// The whole table shown, and a block that opens it, adds one entry and closes it: the entry is added.
    @Test func aWholeTablesShortBlockAddsItsEntries() {
        let lines = Self.keywordsFile.split(separator: "\n", omittingEmptySubsequences: false)
        let table = SymbolUnit(
            path: "kw.py", name: "KEYWORDS", startLine: 3, endLine: 12, text: lines[2...11].joined(separator: "\n"))
        let expected = Self.keywordsFile.replacingOccurrences(
            of: "KEYWORDS = {\n", with: "KEYWORDS = {\n    'WINDOW': 'kw',\n")
        for block in ["KEYWORDS = {\n  'WINDOW': 'kw',\n}", "'WINDOW': 'kw',"] {
            let parsed = SymbolReply.parse(
                "kw.py: KEYWORDS\n```python\n\(block)\n```\n", units: [table], files: ["kw.py": Self.keywordsFile])
            #expect(parsed.problems.isEmpty && parsed.insertions.isEmpty)
            #expect(SymbolReply.apply(parsed.replacements, to: ["kw.py": Self.keywordsFile])["kw.py"] == expected)
        }
    }

    /// A few lines given for a long part of a function would delete the rest of it: refused with the reason.
    @Test func aFragmentForALongPartOfAFunctionIsRefused() {
        let body = (1...20).map { "    total += \($0)" }.joined(separator: "\n")
        let part = SymbolUnit(path: "m.py", name: "run", startLine: 10, endLine: 29, text: body, definition: 8...40)
        let parsed = SymbolReply.parse(
            "m.py: run, lines 10-29 (a part of it; it spans lines 8-40)\n```python\n    total += 100\n```\n",
            units: [part])
        #expect(parsed.replacements.isEmpty)
        #expect(parsed.problems.count == 1 && parsed.problems[0].contains("has 1 lines where the part"))
    }

    @Test func prosAndCommandsAreNotDefinitions() {
        let reply = "Run it with:\n```bash\npytest -q\n```\n"
        let parsed = SymbolReply.parse(reply, units: [Self.helper])
        #expect(parsed.replacements.isEmpty && parsed.problems.isEmpty)
    }

    @Test func theOutlineNumbersDefinitionLinesAndSaysHowManyMore() {
        let text = (1...5).map { "def f\($0)():\n    pass" }.joined(separator: "\n")
        let outline = AttemptPrompts.outline(of: text, lines: [1, 3, 5, 7, 9], maxLines: 3)
        #expect(outline == "1: def f1():\n3: def f2():\n5: def f3():\n(2 more definitions)")
    }

    @Test func theOutlineKeepsTheDefinitionsNearestTheShownOnesAndTheirClass() {
        // A class at line 1 with twenty methods, two lines each; the one shown is at lines 21-22.
        let text = (["class Big:"] + (1...20).flatMap { ["    def m\($0)(self):", "        pass"] })
            .joined(separator: "\n")
        let lines = [1] + (1...20).map { 2 * $0 }
        let outline = AttemptPrompts.outline(of: text, lines: lines, near: [20...21], keeping: [1], maxLines: 5)
        #expect(
            outline
                == "1: class Big:\n…\n18:     def m9(self):\n20:     def m10(self):\n22:     def m11(self):\n"
                + "24:     def m12(self):\n(16 more definitions)")
        // Few enough lines are all kept, with no gaps marked.
        #expect(
            AttemptPrompts.outline(of: text, lines: [1, 2, 4], near: [20...21], keeping: [1], maxLines: 5)
                == "1: class Big:\n2:     def m1(self):\n4:     def m2(self):")
    }

    @Test func aNewMethodGoesAfterTheLastShownMemberOfItsClassAndANewFunctionAfterTheLastTopLevelOne() {
        let reply = """
            I will add a discount and a tax helper.

            shop.py: Shop.count
            ```python
            def count(self):
                return len(self.items) or 0
            ```

            shop.py: Shop.discount
            ```python
            def discount(self, rate):
                return self.total * (1 - rate)
            ```

            shop.py: tax
            ```python
            def tax(amount):
                return amount * 0.2
            ```
            """
        let parsed = SymbolReply.parse(
            reply, units: [Self.total, Self.count, Self.helper], files: ["shop.py": Self.file])
        #expect(parsed.problems.isEmpty)
        #expect(parsed.replacements.map(\.unit) == [Self.count])
        #expect(parsed.insertions.map(\.name) == ["Shop.discount", "tax"])
        let files = SymbolReply.apply(parsed.replacements, insertions: parsed.insertions, to: ["shop.py": Self.file])
        let expected =
            Self.file
            .replacingOccurrences(
                of: "        return len(self.items)\n",
                with:
                    "        return len(self.items) or 0\n\n    def discount(self, rate):\n        return self.total * (1 - rate)\n"
            )
            + "\n\n\ndef tax(amount):\n    return amount * 0.2"
        #expect(files["shop.py"] == expected)
    }

    @Test func twoNewDefinitionsAfterOneKeepTheReplysOrder() {
        let reply =
            "shop.py: Shop.a\n```python\ndef a(self):\n    return 1\n```\nshop.py: Shop.b\n```python\ndef b(self):\n    return 2\n```\n"
        let parsed = SymbolReply.parse(reply, units: [Self.count], files: ["shop.py": Self.file])
        let text = SymbolReply.apply([], insertions: parsed.insertions, to: ["shop.py": Self.file])["shop.py"] ?? ""
        #expect(
            text.contains(
                "        return len(self.items)\n\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n"
            ))
    }

    @Test func anIndentedNewDefinitionWithoutAHeaderJoinsTheOnlyClassShown() {
        let reply = "```python\n    def clear(self):\n        self.items = []\n```\n"
        let parsed = SymbolReply.parse(reply, units: [Self.total], files: ["shop.py": Self.file])
        #expect(parsed.insertions.map(\.name) == ["Shop.clear"])
        #expect(parsed.insertions.first?.afterLine == 10)
        let lines =
            SymbolReply.apply([], insertions: parsed.insertions, to: ["shop.py": Self.file])["shop.py"]?
            .split(separator: "\n", omittingEmptySubsequences: false) ?? []
        #expect(lines[10...12] == ["", "    def clear(self):", "        self.items = []"])
        #expect(lines[13] == "")
        #expect(lines[14] == "    def count(self):")
    }

    @Test func aNewDefinitionThatCannotBePlacedIsRefusedWithHowToAddOne() {
        let other = SymbolUnit(
            path: "cart.py", name: "Cart.add", startLine: 2, endLine: 3, text: "    def add(self):\n        pass")
        let files = ["shop.py": Self.file, "cart.py": "class Cart:\n    def add(self):\n        pass\n"]
        // Two files shown and no header: which file?
        let noFile = SymbolReply.parse(
            "```python\ndef tax(a):\n    return a\n```\n", units: [Self.count, other], files: files)
        #expect(noFile.insertions.isEmpty)
        #expect(noFile.problems.first?.contains("put `path: Class.tax`") == true)
        // A class none of whose members was shown.
        let noClass = SymbolReply.parse(
            "shop.py: Basket.size\n```python\ndef size(self):\n    return 0\n```\n", units: [Self.count, other],
            files: files)
        #expect(noClass.problems.first?.contains("no definition of Basket was shown in full") == true)
        // The same method name in another class is not a clash.
        let elsewhere = SymbolReply.parse(
            "cart.py: Cart.count\n```python\n    def count(self):\n        return 1\n```\n",
            units: [Self.count, other], files: files)
        #expect(elsewhere.problems.isEmpty)
        #expect(elsewhere.insertions.map(\.name) == ["Cart.count"])
    }

    // MARK: - Parts of long definitions

    static let report = """
        def report(rows):
            def cell(value):
                return str(value)

            lines = []
            for row in rows:
                lines.append(cell(row))
            total = sum(rows)
            lines.append(f"total: {total}")
            return lines
        """
    static let reportHead = SymbolUnit(
        path: "report.py", name: "report", startLine: 2, endLine: 7,
        text:
            "    def cell(value):\n        return str(value)\n\n    lines = []\n    for row in rows:\n        lines.append(cell(row))",
        definition: 1...10)
    static let reportTail = SymbolUnit(
        path: "report.py", name: "report", startLine: 8, endLine: 10,
        text: "    total = sum(rows)\n    lines.append(f\"total: {total}\")\n    return lines", definition: 1...10)

    /// A part that starts with a nested `def` is still the part its heading names, not a new definition.
    @Test func aPartIsTakenByItsHeadingWhateverItsFirstLine() {
        let reply = """
            report.py: report, lines 2-7 (a part of it)
            ```python
            def cell(value):
                return repr(value)

            lines = []
            for row in rows:
                lines.append(cell(row))
            ```
            """
        let parsed = SymbolReply.parse(reply, units: [Self.reportHead], files: ["report.py": Self.report])
        #expect(parsed.problems.isEmpty)
        #expect(parsed.insertions.isEmpty)
        #expect(parsed.replacements.map(\.unit) == [Self.reportHead])
        let files = SymbolReply.apply(parsed.replacements, to: ["report.py": Self.report])
        #expect(files["report.py"] == Self.report.replacingOccurrences(of: "str(value)", with: "repr(value)"))
    }

    @Test func twoPartsOfOneDefinitionAreToldApartByTheirLines() {
        let reply = """
            report.py: report, lines 8-10
            ```python
                total = sum(rows) + 0
                lines.append(f"total: {total}")
                return lines
            ```
            """
        let parsed = SymbolReply.parse(reply, units: [Self.reportHead, Self.reportTail])
        #expect(parsed.replacements.map(\.unit) == [Self.reportTail])
        // With no lines on the heading, which part is meant cannot be told: nothing is taken.
        let vague = SymbolReply.parse(
            reply.replacingOccurrences(of: ", lines 8-10", with: ""), units: [Self.reportHead, Self.reportTail])
        #expect(vague.replacements.isEmpty)
    }

    @Test func theWholeDefinitionOrAnElidedOneForAPartIsRefused() {
        let whole =
            "report.py: report\n```python\n\(Self.report.replacingOccurrences(of: "sum(rows)", with: "sum(rows) + 1"))\n```\n"
        let parsed = SymbolReply.parse(whole, units: [Self.reportTail])
        #expect(parsed.replacements.isEmpty)
        #expect(
            parsed.problems == [
                "You were shown only lines 8-10 of report.py: report; give back those lines, changed, not the whole definition."
            ])
        let elided = "report.py: report\n```python\n    total = sum(rows) + 1\n    # ... rest of the code\n```\n"
        #expect(SymbolReply.parse(elided, units: [Self.reportTail]).problems.first?.contains("leaves code out") == true)
        let cut = "report.py: report\n```python\n    total = sum(rows) + 1\n"
        #expect(SymbolReply.parse(cut, units: [Self.reportTail]).problems.first?.contains("cut off") == true)
    }
}
