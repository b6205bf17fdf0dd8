import Foundation

/// Whether tests that failed before a change may be what the task is about. A repository's suite often has tests
/// that fail for reasons of their own (on sqlparse at an old commit, four `test_cli.py` tests fail on Python 3.11:
/// `sys.stdout.encoding` is read-only there). Counted as the task, they turned every change into "the tests that
/// failed before still fail", and each was undone; a fix could not be handed back even unverified. A failing test is
/// the task's when the task names it, shares a word with its name, or speaks of failing tests at all: then the change
/// must fix it. Otherwise the failures are the project's own, and the change is judged as on a passing suite: it
/// passes without proof unless a test it fixes or adds shows more.
extension TestFailures {
    /// The tests of `failing` the task may be about.
    public static func concerning(_ failing: [String], task: String) -> [String] {
        guard !speaksOfFailingTests(task) else { return failing }
        let taskWords = words(task)
        return failing.filter { test in
            let name = testName(test)
            if task.range(of: name, options: .caseInsensitive) != nil { return true }
            return !words(name).filter { word in
                taskWords.contains {
                    $0 == word || (word.count >= 5 && $0.count >= 5 && $0.prefix(5) == word.prefix(5))
                }
            }.isEmpty
        }
    }

    /// A task such as "the CI is red" or "fix the failing test" is about whatever fails.
    static func speaksOfFailingTests(_ task: String) -> Bool {
        let patterns = [
            #"\b(tests?|suite|ci|build|pipeline|checks?)\b[^.\n]{0,40}\b(fail\w*|broken|breaks|red|errors?)\b"#,
            #"\b(fail\w*|broken|flaky)\b[^.\n]{0,20}\b(tests?|suite|ci|build|checks?)\b"#,
        ]
        return patterns.contains { task.range(of: $0, options: [.regularExpression, .caseInsensitive]) != nil }
    }

    /// A test's own name: pytest's `path::Class::test_x[param]` → `test_x`, sympy's `path:test_x`, unittest's
    /// `test_x (module.Class.test_x)`.
    static func testName(_ id: String) -> String {
        var name = id
        if let space = name.firstIndex(of: " ") { name = String(name[..<space]) }
        if let bracket = name.firstIndex(of: "[") { name = String(name[..<bracket]) }
        if let colon = name.lastIndex(of: ":") { name = String(name[name.index(after: colon)...]) }
        return name
    }

    /// Lower-cased words of three letters or more (`test_add` is about `add()`), `test` aside, split at anything not
    /// a letter or digit and at camel case. A short word shared by chance only keeps a failure the task's, as before.
    static func words(_ text: String) -> Set<String> {
        var words: Set<String> = []
        var current = ""
        var previous: Character?
        func flush() {
            if current.count >= 3, current != "test", current != "tests" { words.insert(current) }
            current = ""
        }
        for character in text {
            if !(character.isLetter || character.isNumber) {
                flush()
            } else {
                if character.isUppercase, previous?.isLowercase == true { flush() }
                current.append(Character(character.lowercased()))
            }
            previous = character
        }
        flush()
        return words
    }
}
