import FerryCore
import FerrySandbox
import Foundation

/// Runs an instance's FAIL_TO_PASS and PASS_TO_PASS tests in a scoring copy and says which passed.
public enum HiddenTests {
    public enum Runner: String, Sendable {
        /// `python -m pytest -rA` on the test files, parsing the per-test summary.
        case pytest
        /// sympy's `bin/test -C --verbose` on the test patch's files, with bare test names.
        case sympy
        /// `test_cmd` with `{test}` replaced, once per test; exit 0 passes.
        case command
    }

    public static func runner(for instance: EvalInstance) -> Runner {
        if let name = instance.testRunner, let runner = Runner(rawValue: name) { return runner }
        if instance.testCmd?.contains("{test}") == true { return .command }
        if instance.repo.lowercased().contains("sympy") { return .sympy }
        return .pytest
    }

    /// Results by test name. Tests that do not appear in the output count as failed.
    public static func run(
        _ instance: EvalInstance, in directory: String, with commandRunner: any CommandRunner,
        python: String = "python3",
        timeout: Double = 1800, prologue: String = ""
    ) async throws -> (results: [String: Bool], log: String) {
        let tests = instance.failToPass + instance.passToPass
        guard !tests.isEmpty else { return ([:], "") }
        switch runner(for: instance) {
        case .command:
            guard let template = instance.testCmd else {
                throw FerryError(.usage, "\(instance.instanceID): test_runner is command but test_cmd is missing")
            }
            var results: [String: Bool] = [:]
            var log = ""
            for test in Set(tests).sorted() {
                let command = prologue + template.replacingOccurrences(of: "{test}", with: shellQuote(test))
                let result = try await commandRunner.run(
                    CommandRequest(
                        script: command, workingDirectory: directory, timeoutSeconds: timeout, outputLimit: 8_000))
                results[test] = result.succeeded
                log += "$ \(command)\n[\(result.exitCode.map { "exit \($0)" } ?? "timed out")]\n\(result.output)\n"
            }
            return (results, log)
        case .pytest:
            return try await batch(
                prologue + (instance.testCmd ?? "\(python) -m pytest -rA -p no:cacheprovider -q"),
                files: pytestFiles(instance, in: directory), tests: tests, parse: parsePytest, in: directory,
                with: commandRunner, timeout: timeout)
        case .sympy:
            return try await batch(
                prologue + (instance.testCmd ?? "\(python) bin/test -C --verbose"),
                files: sympyFiles(instance, in: directory),
                tests: tests, parse: parseSympy, in: directory, with: commandRunner, timeout: timeout)
        }
    }

    static let nonTestSuffixes = [
        ".json", ".png", ".csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
    ]

    /// The test patch's files, as SWE-bench runs them, and the file of every test the instance names: a PASS_TO_PASS
    /// test in a file the patch does not touch must run too, or it would count as failed.
    static func pytestFiles(_ instance: EvalInstance, in directory: String) -> [String] {
        var files = testFiles(inPatch: instance.testPatch).filter { file in
            !nonTestSuffixes.contains { file.hasSuffix($0) }
        }
        for test in instance.failToPass + instance.passToPass {
            guard let file = test.split(separator: ":", maxSplits: 1).first.map(String.init), file.hasSuffix(".py"),
                !files.contains(file), FileManager.default.fileExists(atPath: directory + "/" + file)
            else { continue }
            files.append(file)
        }
        return files
    }

    /// sympy names tests bare (`test_issue_1234`): the test patch's files, and for names none of them defines, the
    /// test files that do.
    static func sympyFiles(_ instance: EvalInstance, in directory: String) -> [String] {
        var files = testFiles(inPatch: instance.testPatch).filter { $0.hasSuffix(".py") }
        func defines(_ file: String) -> Set<String> {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else { return [] }
            return Set(
                text.split(separator: "\n").compactMap { line -> String? in
                    guard line.hasPrefix("def test_") else { return nil }
                    return line.dropFirst(4).split(separator: "(").first.map(String.init)
                })
        }
        var missing = Set(instance.failToPass + instance.passToPass)
        for file in files { missing.subtract(defines(file)) }
        guard !missing.isEmpty else { return files }
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var candidates: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasPrefix(".git") {
                enumerator?.skipDescendants()
                continue
            }
            let name = (path as NSString).lastPathComponent
            if name.hasPrefix("test_"), name.hasSuffix(".py"), path.contains("/tests/"), !files.contains(path) {
                candidates.append(path)
            }
        }
        for file in candidates.sorted() where !missing.isEmpty {
            let found = defines(file).intersection(missing)
            guard !found.isEmpty else { continue }
            files.append(file)
            missing.subtract(found)
        }
        return files
    }

    /// One run of a test runner over files; each test's status is read from its output (missing counts as failed).
    static func batch(
        _ base: String, files: [String], tests: [String], parse: (String) -> [String: Bool], in directory: String,
        with commandRunner: any CommandRunner, timeout: Double
    ) async throws -> (results: [String: Bool], log: String) {
        let command = base + " " + files.map(shellQuote).joined(separator: " ")
        let result = try await commandRunner.run(
            CommandRequest(
                script: command, workingDirectory: directory, timeoutSeconds: timeout, outputLimit: 4_000_000))
        let statuses = parse(result.output)
        return (Dictionary(uniqueKeysWithValues: Set(tests).map { ($0, statuses[$0] ?? false) }), result.output)
    }

    /// pytest `-rA` summary lines (`PASSED tests/x.py::test_a`, `FAILED tests/x.py::test_b - AssertionError`), read
    /// the way SWE-bench's own log parser reads them: the test is the second word of a line that starts with a
    /// status, and the last such line wins. Its dataset's test names were made by that parser, odd ones included.
    public static func parsePytest(_ output: String) -> [String: Bool] {
        var statuses: [String: Bool] = [:]
        for line in output.split(separator: "\n") {
            let words = line.replacingOccurrences(of: " - ", with: " ").split(whereSeparator: {
                $0 == " " || $0 == "\t"
            })
            guard words.count >= 2 else { continue }
            switch words[0] {
            case "PASSED", "XFAIL": statuses[String(words[1])] = true
            case "FAILED", "ERROR", "XPASS", "SKIPPED": statuses[String(words[1])] = false
            default: break
            }
        }
        return statuses
    }

    /// sympy's verbose lines: `test_name ok`, `test_name F`, `test_name E`, `test_name f` (expected failure).
    public static func parseSympy(_ output: String) -> [String: Bool] {
        var statuses: [String: Bool] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("test_") else { continue }
            switch parts[parts.count - 1] {
            case "ok", "f": statuses[String(parts[0])] = true
            case "F", "E", "X": statuses[String(parts[0])] = false
            default: break
            }
        }
        return statuses
    }

    /// Files a unified diff touches (its `+++ b/` side).
    public static func testFiles(inPatch patch: String) -> [String] {
        var files: [String] = []
        for line in patch.split(separator: "\n") where line.hasPrefix("+++ b/") {
            let path = String(line.dropFirst(6))
            if !files.contains(path) { files.append(path) }
        }
        return files
    }

}
