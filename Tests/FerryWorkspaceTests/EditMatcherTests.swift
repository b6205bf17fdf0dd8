import FerryCore
import FerryWorkspace
import Testing

@Suite struct EditMatcherTests {
    let file = "def total(items):\n    amount = 0\n    for item in items:\n        amount += item\n    return amount\n"

    @Test func exact() throws {
        let applied = try EditMatcher.apply(old: "amount = 0", new: "amount = 1", to: file)
        #expect(applied.stage == .exact)
        #expect(applied.content.contains("    amount = 1\n"))
        #expect(applied.line == 2)
    }

    @Test func trailingWhitespace() throws {
        let content = "a = 1   \nb = 2\t\nc = 3\n"
        let applied = try EditMatcher.apply(old: "a = 1\nb = 2", new: "a = 10\nb = 20", to: content)
        #expect(applied.stage == .trailingWhitespace)
        #expect(applied.content == "a = 10\nb = 20\nc = 3\n")
    }

    @Test func indentationIsReappliedToTheNewText() throws {
        let applied = try EditMatcher.apply(
            old: "for item in items:\n    amount += item", new: "for item in items:\n    amount += 2 * item", to: file)
        #expect(applied.stage == .indentation)
        #expect(applied.content.contains("    for item in items:\n        amount += 2 * item\n"))
    }

    @Test func unicodePunctuationFolded() throws {
        let content = "msg = \"it's done\"  # note\n"
        let applied = try EditMatcher.apply(
            old: "msg = \u{201C}it\u{2019}s done\u{201D}  # note", new: "msg = \"it is done\"", to: content)
        #expect(applied.stage == .unicodePunctuation)
        #expect(applied.content == "msg = \"it is done\"\n")
    }

    @Test func ambiguousExactMatch() {
        #expect { try EditMatcher.apply(old: "amount", new: "x", to: file) } throws: { error in
            (error as? FerryError)?.message.contains("occurs 3 times") == true
        }
    }

    @Test func ambiguousFallbackMatch() {
        let content = "  x = 1\n    x = 1\n"
        #expect { try EditMatcher.apply(old: "x = 1 ", new: "x = 2", to: content) } throws: { error in
            (error as? FerryError)?.message.contains("matches 2 places") == true
        }
    }

    @Test func notFoundShowsTheClosestLines() {
        #expect { try EditMatcher.apply(old: "    amount = zero", new: "x", to: file) } throws: { error in
            let message = (error as? FerryError)?.message ?? ""
            return message.contains("not found") && message.contains("2\t    amount = 0")
        }
    }

    @Test func emptyOldIsRefused() {
        #expect(throws: FerryError.self) { try EditMatcher.apply(old: "", new: "x", to: file) }
    }
}

/// Inputs the fuzzer found, kept as regressions.
@Suite struct EditMatcherFuzzRegressions {
    /// A needle inside a character ("\n" of "\r\n", a letter before a combining mark) used to crash the replacement.
    @Test func aMatchInsideACharacterDoesNotCrash() throws {
        let crlf = try EditMatcher.apply(old: "a\n", new: "b\n", to: "x\r\na\n")
        #expect(crlf.content == "x\r\nb\n")
        #expect(crlf.line == 2)
        let combining = try EditMatcher.apply(old: "e", new: "E", to: "cafe\u{301}")
        #expect(combining.stage == .exact)
        #expect(Array(combining.content.utf8) == Array("cafE\u{301}".utf8))
        let inside = try EditMatcher.apply(old: "\n", new: "|", to: "a\r\nb")
        #expect(inside.content.utf8.count == "a\r|b".utf8.count)
    }

    /// A long `old` against a long file: the "closest lines" hint is bounded work, not seconds.
    @Test func aLongMissIsAnsweredWithTheClosestLines() throws {
        let file = (0..<3_000).map { "value_\($0) = compute(\($0))" }.joined(separator: "\n")
        let old = (0..<800).map { "valu_\($0) = compute(\($0)) # changed" }.joined(separator: "\n")
        #expect {
            try EditMatcher.apply(old: old, new: "x", to: file)
        } throws: { error in
            (error as? FerryError)?.message.contains("The closest lines in the file are:") == true
        }
    }

    /// `old` that occurs 50,000 times: the message names the first ten lines (counting each from the start was
    /// quadratic: 2.7 s on a 200 KB file in the release fuzzer).
    @Test func manyExactMatchesNameTheFirstTen() throws {
        let file = String(repeating: "```\n", count: 50_000)
        #expect {
            try EditMatcher.apply(old: "```", new: "x", to: file)
        } throws: { error in
            let message = (error as? FerryError)?.message ?? ""
            return message.contains("occurs 50000 times (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …)")
        }
    }
}
