import FerryCore
import FerryIndex
import FerryWorkspace
import Foundation

/// The test files related to a task, for a test command that names `{related_tests}`: a real repository's whole suite
/// (sympy's runs for hours) is too slow to run after every try. The index ranks the source files the task most
/// likely concerns (no model); their tests are the files named after them (`test_mod.py` for `mod.py`) or that import
/// them (`sympy.core.mod`, `from .mod import`), nearest first. The same files judge the baseline and every change,
/// so "they failed before the change" still compares like with like.
enum RelatedTests {
    static let placeholder = "{related_tests}"
    /// Few: a real repository's test files can each run for minutes (sympy's trigonometric tests: over ten).
    static let maxFiles = 3

    /// The command with its placeholder filled with the related test files, or the whole suite when none is found,
    /// and a note saying which.
    static func resolve(
        _ command: String, task: String, index: CodeIndex, files: [String], root: String
    ) throws -> (command: String, note: String) {
        let sources = try index.locate(task, limit: 8).map(\.path)
            .filter { !TestPaths.isTest($0) && ($0 as NSString).pathExtension.isEmpty == false }.prefix(3)
        let tests = related(to: Array(sources), files: files, root: root)
        guard !tests.isEmpty else {
            // The whole suite, then: for a small project it is quick, and for a large one a baseline that does not
            // finish in the test timeout makes the command unusable, as before.
            return (
                wholeSuite(command),
                "no test file related to the task's likely files (\(sources.joined(separator: ", "))) was found, so the whole suite judges the change"
            )
        }
        let filled = command.replacingOccurrences(of: placeholder, with: tests.map(shellQuote).joined(separator: " "))
        return (filled, "tests related to \(sources.joined(separator: ", ")): \(tests.joined(separator: ", "))")
    }

    /// The command without its placeholder: what the project's runner runs when given no files.
    static func wholeSuite(_ command: String) -> String {
        command.replacingOccurrences(of: placeholder, with: "").trimmingCharacters(in: .whitespaces)
    }

    static func related(to sources: [String], files: [String], root: String) -> [String] {
        let testFiles = files.filter {
            TestPaths.isTest($0) && ["py", "js", "ts", "rb", "go", "swift"].contains(($0 as NSString).pathExtension)
        }
        var scores: [String: Double] = [:]
        for (rank, source) in sources.enumerated() {
            let stem = ((source as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased()
            let directory = (source as NSString).deletingLastPathComponent
            let module = (source as NSString).deletingPathExtension.replacingOccurrences(of: "/", with: ".")
            let dotted = module.hasPrefix("src.") ? String(module.dropFirst(4)) : module
            // `test_requests.py` at the root tests the `requests` package as a whole.
            let package = source.split(separator: "/").first.map { String($0).lowercased() } ?? ""
            let weight = 1.0 / Double(rank + 1)
            for test in testFiles {
                let name = ((test as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased()
                var score = 0.0
                if stem != "__init__",
                    [
                        "test_" + stem, stem + "_test", "test" + stem, stem + "_tests", "tests_" + stem,
                    ].contains(name)
                {
                    score += 3
                }
                // Only at the root or in a top-level tests folder: `sympy/unify/tests/test_sympy.py` is not sympy's.
                let topLevel = !test.contains("/") || test.split(separator: "/").count == 2 && test.hasPrefix("test")
                if source.contains("/"), !["src", "lib"].contains(package), name == "test_" + package, topLevel {
                    score += 2.5
                }
                let near =
                    test.hasPrefix(directory + "/")
                    || test.hasPrefix((directory as NSString).deletingLastPathComponent + "/tests/")
                if near || score > 0 {
                    // Read only the plausible ones: a repository may have thousands of test files.
                    if let text = try? String(contentsOfFile: root + "/" + test, encoding: .utf8),
                        text.contains(dotted) || text.contains("from ." + stem + " import")
                            || text.contains("from .." + stem + " import")
                    {
                        score += 2
                    }
                    if near { score += 0.5 }
                }
                if score >= 2 { scores[test, default: 0] += score * weight }
            }
        }
        return scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(maxFiles).map(
            \.key)
    }
}
