import Foundation

/// Which paths hold tests, by the naming conventions of the common ecosystems. One rule for the whole of Ferry: the
/// files it shows the model, the files the model may overwrite, and the tests that prove a change.
public enum TestPaths {
    static let directories: Set<String> = ["test", "tests", "testing", "spec", "specs", "__tests__", "testcases"]

    public static func isTest(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard let last = parts.last else { return false }
        let name = last.lowercased()
        if parts.dropLast().contains(where: { directories.contains($0.lowercased()) }) { return true }
        // Swift packages keep tests under Tests/<Target>Tests/.
        if parts.dropLast().contains(where: { $0.hasSuffix("Tests") }) { return true }
        let stem = (name as NSString).deletingPathExtension
        return name == "conftest.py" || stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("_tests")
            || stem.hasSuffix("_spec") || name.contains(".test.") || name.contains(".spec.")
            || (last.hasSuffix("Tests.swift") || last.hasSuffix("Test.java") || last.hasSuffix("Test.kt"))
    }

    /// Whether `path` holds tests the runner collects, not a fixture file or helper beside them: where a new test
    /// may go. Python files follow pytest's default (`test_*.py`, `*_test.py`): `conftest.py`, `__init__.py` and
    /// helpers such as `tests/typing/typing_progressbar.py` are never run as tests, so a test added there shows
    /// nothing.
    public static func holdsTests(_ path: String) -> Bool {
        guard isTest(path) else { return false }
        let name = (path as NSString).lastPathComponent.lowercased()
        guard name.hasSuffix(".py") else { return true }
        let stem = (name as NSString).deletingPathExtension
        return stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("_tests")
    }

    /// Files that decide what the tests run or how their results read, wherever they are.
    static let configurationNames: Set<String> = [
        "conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "noxfile.py", "sitecustomize.py",
        "usercustomize.py", ".coveragerc", "package.json", ".mocharc", ".mocharc.js", ".mocharc.json", ".mocharc.yml",
        ".mocharc.yaml", "phpunit.xml", "phpunit.xml.dist",
    ]
    static let configurationPrefixes = ["jest.config.", "vitest.config.", "karma.conf.", "playwright.config."]
    static let makeFiles: Set<String> = ["Makefile", "makefile", "GNUmakefile", "justfile", "Justfile"]

    /// Whether `path` configures the test run rather than holding tests or code. The files the test command names
    /// (`bash tests/run.sh`, `python runtests.py`) count, and so do make's files when the command is `make …`.
    public static func isConfiguration(_ path: String, testCommand: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        if configurationNames.contains(name) || name.hasSuffix(".pth") { return true }
        if configurationPrefixes.contains(where: name.hasPrefix) { return true }
        let words = testCommand.split(whereSeparator: { " \t\n;&|()".contains($0) })
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) }
            .map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : $0 }
        if words.contains(path) { return true }
        if makeFiles.contains(name), words.first.map({ ["make", "gmake", "just"].contains($0) }) == true {
            return true
        }
        return false
    }
}
