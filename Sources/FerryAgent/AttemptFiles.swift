import FerryCore
import FerryWorkspace
import Foundation

/// Which files the whole-file attempt may rewrite, and which test file a reproduction test goes into. They read the
/// worktree; the `RunMachine` decides whether the attempt runs with them.
enum AttemptFiles {
    /// The files the attempt may rewrite: the task's likeliest files (named in it, or defining what it names),
    /// never a test the task does not name, each small enough to come back whole within one reply. Empty when the
    /// task has no clear files, so the attempt is skipped.
    static func editableFiles(task: String, relevant: [RelevantFiles.File], maxOutputTokens: Int) -> [RelevantFiles
        .File]
    {
        // The same rule as the tool loop's: a test the task does not name is not the model's to rewrite.
        let protection = ToolBox.TestProtection.allExcept(mentionedIn: task)
        let candidates = relevant.filter { $0.score >= 2 && !protection.protects($0.path) }
        guard let top = candidates.map(\.score).max() else { return [] }
        let chosen = candidates.filter { $0.score >= top * 0.3 }.prefix(AttemptMachine.maxFiles)
        guard chosen.allSatisfy({ AttemptPrompts.fitsInReply($0.text, maxOutputTokens) }) else { return [] }
        return Array(chosen)
    }

    /// Extensions of source files, for `smallRepositoryFiles`.
    static let sourceExtensions: Set<String> = [
        "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "sh", "bash", "swift", "rb", "go", "rs", "java", "kt", "c", "h",
        "cc", "cpp", "hpp", "cs", "php", "lua", "pl", "ex", "exs", "scala", "dart",
    ]

    /// When the task names nothing the index can match but the repository has only a few source files, those are the
    /// likely files (a task in plain words on a one-module project: "customers with 10 items get no discount").
    static func smallRepositoryFiles(files: [String], root: String, maxOutputTokens: Int) -> [RelevantFiles.File] {
        let sources = files.filter {
            !TestPaths.isTest($0) && sourceExtensions.contains(($0 as NSString).pathExtension.lowercased())
        }
        guard (1...AttemptMachine.maxFiles).contains(sources.count) else { return [] }
        var chosen: [RelevantFiles.File] = []
        for path in sources {
            guard let data = FileManager.default.contents(atPath: root + "/" + path), !data.isEmpty, !data.contains(0)
            else { return [] }
            let text = String(decoding: data, as: UTF8.self)
            guard AttemptPrompts.fitsInReply(text, maxOutputTokens) else { return [] }
            chosen.append(RelevantFiles.File(path: path, text: text, score: 1))
        }
        return chosen
    }

    /// The test file a reproduction test goes into: the small test file that most concerns the files being fixed —
    /// it names them (`bin/greet.sh`, `from grades import`) or the task's identifiers (`titleCase`). Nil when no test
    /// file is clearly about them. Only files the runner collects count (not `conftest.py` or a helper module).
    static func testFile(
        task: String, editable: [RelevantFiles.File], files: [String], root: String, maxOutputTokens: Int
    ) -> RelevantFiles.File? {
        let stems = Set(
            editable.map { (($0.path as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased() }
        )
        .filter { $0.count >= 3 }
        let identifiers = RelevantFiles.identifiers(in: task)
        var best: (file: RelevantFiles.File, score: Double)?
        for path in files where TestPaths.holdsTests(path) && !isDocumentation(path) && isCode(path) {
            guard let data = FileManager.default.contents(atPath: root + "/" + path), data.count < 16_000,
                !data.contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            guard AttemptPrompts.fitsInReply(text, maxOutputTokens) else { continue }
            let lower = text.lowercased()
            let name = (path as NSString).lastPathComponent.lowercased()
            var score = 0.0
            for stem in stems {
                if name.contains(stem) { score += 3 }
                if lower.contains(stem) { score += 1 }
            }
            for identifier in identifiers where text.contains(identifier) { score += 2 }
            if score > 0, score > (best?.score ?? 0) {
                best = (RelevantFiles.File(path: path, text: text, score: score), score)
            }
        }
        return best?.file
    }

    /// A test is code the runner executes. Data beside the tests (`tests/files/function_psql2.sql`, an expected
    /// output, a JSON fixture) names the module too, but a test "added" there never runs: sqlparse's SQL fixtures drew
    /// half of the reproduction requests on a mined suite, and none came back as a test.
    static func isCode(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        return sourceExtensions.contains(ext) || ["bats", "t"].contains(ext)
    }

    /// Examples in the docs look like tests (`doc/en/example/test_setup_flow.py`) but are not the project's suite.
    static func isDocumentation(_ path: String) -> Bool {
        let parts = path.lowercased().split(separator: "/")
        return parts.dropLast().contains { ["doc", "docs", "example", "examples"].contains($0) }
    }
}
