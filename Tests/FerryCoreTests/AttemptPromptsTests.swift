import FerryCore
import Testing

@Suite struct AttemptPromptsTests {
    @Test func addedLinesKeepEveryOriginalLineInOrder() {
        let original = "import x\n\nclass T:\n    def test_a(self):\n        assert 1\n"
        #expect(AttemptPrompts.addedLines(original: original, new: original + "\n    def test_b(self):\n        assert 2\n")
            == "    def test_b(self):\n        assert 2")
        // Inserted in the middle is still adding.
        #expect(AttemptPrompts.addedLines(original: original, new: "import x\nimport y\n\nclass T:\n    def test_a(self):\n        assert 1\n") == "import y")
        // Changing or dropping a line is not, and neither is adding nothing.
        #expect(AttemptPrompts.addedLines(original: original, new: original.replacingOccurrences(of: "assert 1", with: "assert 3")) == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: "import x\n") == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: original) == nil)
    }
}

