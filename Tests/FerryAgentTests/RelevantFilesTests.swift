import FerryTesting
import Foundation
import Testing

@testable import FerryAgent

@Suite struct RelevantFilesTests {
    @Test func namedFilesAndIdentifiersRankFirstTestsLowerWithinBudget() async throws {
        let repo = try await FixtureRepo.make([
            "pagination.py": "def page_count(total, per_page):\n    return total // per_page + 1\n",
            "tests/test_pagination.py": "from pagination import page_count\n",
            "unrelated.py": "def other():\n    pass\n",
            "big.py": "def page_count_helper():\n    pass\n" + String(repeating: "# filler line\n", count: 2_000),
        ])
        let task = "`page_count(total, per_page)` in pagination.py returns one page too many."
        let files = ["big.py", "pagination.py", "tests/test_pagination.py", "unrelated.py"]
        let chosen = RelevantFiles.select(task: task, files: files, root: repo, budgetTokens: 1_000)
        #expect(chosen.map(\.path) == ["pagination.py", "tests/test_pagination.py"])
        let rendered = RelevantFiles.render(chosen)
        #expect(rendered.contains("## pagination.py\n```\n1\tdef page_count(total, per_page):\n2\t"))
        #expect(RelevantFiles.select(task: task, files: files, root: repo, budgetTokens: 10).isEmpty)
    }

    @Test func identifiers() {
        #expect(
            RelevantFiles.identifiers(in: "Fix `parseQuery(qs)` and max_retries in HTTPClient.swift, see fooBar") == [
                "parseQuery", "max_retries", "HTTPClient.swift", "fooBar",
            ])
    }
}
