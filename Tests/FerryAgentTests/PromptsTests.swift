import FerryCore
import Testing

@testable import FerryAgent

/// What the tool loop's first prompt says about the repository.
@Suite struct PromptsTests {
    static let click =
        [".github/workflows/tests.yaml", ".github/workflows/lock.yaml", ".gitignore", "CHANGES.rst", "README.md"]
        + (1...40).map { "docs/page\($0).md" } + (1...30).map { "examples/ex\($0 % 6)/file\($0).py" }
        + ["src/click/__init__.py", "src/click/core.py", "src/click/types.py"]
        + (1...25).map { "tests/test_\($0).py" }

    @Test func aLargeRepositoryWithAMapIsOutlinedByFolderNotListedAlphabetically() {
        let messages = Prompts.task(
            "Fix lookup_default", agents: nil, testCommand: "pytest", baseline: nil, files: Self.click,
            repoMap: "src/click/core.py:\n  689: member Context.lookup_default")
        let text = messages.last?.content ?? ""
        #expect(text.contains("103 files:"))
        #expect(text.contains("src/click/ (3 files)"))
        #expect(text.contains("docs/ (40 files)"))
        #expect(text.contains("examples/ (30 files)"))
        #expect(text.contains(".github/workflows/ (2 files)"))
        #expect(text.contains("At the root: .gitignore, CHANGES.rst, README.md"))
        #expect(!text.contains("docs/page1.md"))
        #expect(text.contains("search_code"))
    }

    @Test func withoutAMapOrInASmallRepositoryTheFilesAreListed() {
        let small = ["README.md", "calc.py", "test_calc.py"]
        let text = Prompts.task("Fix add", agents: nil, testCommand: nil, baseline: nil, files: small).last?.content
        #expect(text?.contains("README.md\ncalc.py\ntest_calc.py") == true)
        // No map (ctags missing, say): the first files and how many more, as before.
        let large =
            Prompts.task("Fix add", agents: nil, testCommand: nil, baseline: nil, files: Self.click).last?.content ?? ""
        #expect(large.contains("docs/page1.md"))
        #expect(large.contains("… and 43 more files (use list_files)"))
    }

    @Test func theOutlineCapsTheRootFiles() {
        let files = (1...25).map { "f\($0).txt" } + ["a/b/c.py"]
        let outline = Prompts.outline(of: files)
        #expect(outline.contains("a/b/ (1 file)"))
        #expect(outline.contains(", and 5 more"))
    }
}
