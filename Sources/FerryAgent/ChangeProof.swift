import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation

/// Whether passing tests show that a change does what it is for. The evidence must come from the project's own
/// tests as they were at the base commit, because the change itself (the model's shell included) can rewrite tests,
/// add a `conftest.py` that marks everything passed, or edit the test configuration.
///
/// With the change's test files and test configuration put back as they were at the base (`R1`), the tests must
/// pass against the changed code. Then the change is shown to work when
/// - the tests failed at the baseline (they are the same tests, so the change fixed them), or
/// - the change adds or edits test files, and with the base's test configuration those tests pass with the change's
///   code (`R2`) and fail without it (`R3`).
/// Anything else is at most unverified, with the reason. Each check puts files back byte for byte afterwards,
/// whatever happens in between.
enum ChangeProof {
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
    static func isTestConfiguration(_ path: String, testCommand: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        if configurationNames.contains(name) || name.hasSuffix(".pth") { return true }
        if configurationPrefixes.contains(where: name.hasPrefix) { return true }
        let words = testCommand.split(whereSeparator: { " \t\n;&|()".contains($0) })
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) }
            .map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : $0 }
        if words.contains(path) { return true }
        if makeFiles.contains(name), words.first.map({ ["make", "gmake", "just"].contains($0) }) == true { return true }
        return false
    }

    static func judge(
        final: TestRun, baseline: TestRun?, changed: [String], base: String, git: Git, root: String,
        runner: any CommandRunner, timeout: Double
    ) async throws -> AgentMachine.Verification {
        // Tests that already failed at the baseline do not count against the change, test by test, when both runs
        // can be read that way: a change is failed by a test it breaks, not by one that was broken before it.
        let comparison = final.passed ? nil : TestFailures.compare(final, baseline: baseline)
        guard final.passed || comparison?.isNoWorse == true else {
            if case .worse(let newly)? = comparison {
                return .failed("these tests passed before the change and fail with it: \(TestFailures.list(newly))\n" + final.describe())
            }
            return .failed(final.describe())
        }
        let command = final.command
        var detail = "tests pass: \(final.summaryLine ?? command)"
        if case .noWorse(_, let still)? = comparison {
            detail = "no test that passed before fails now (\(final.summaryLine ?? command)); \(still.count) failed "
                + "before the change and still fail (\(TestFailures.list(still)))"
        }
        // Files .gitignore hides are in no diff, yet a test run reads them: an ignored conftest.py or .pth file, or
        // a planted .pyc, counts as configuration the change added.
        let ignored = try await git.run("ls-files", "-z", "--others", "--ignored", "--exclude-standard")
            .split(separator: "\0").map(String.init)
            .filter { isTestConfiguration($0, testCommand: command) || $0.hasSuffix(".pyc") }
        let configuration = changed.filter { isTestConfiguration($0, testCommand: command) } + ignored
        let tests = changed.filter { TestPaths.isTest($0) && !configuration.contains($0) }
        let code = changed.filter { !configuration.contains($0) && !tests.contains($0) }
        func run() async throws -> TestRun { try await TestRun.run(command, in: root, runner: runner, timeout: timeout) }
        func list(_ paths: [String]) -> String {
            paths.count <= 4 ? paths.joined(separator: ", ") : paths.prefix(4).joined(separator: ", ") + " and \(paths.count - 4) more"
        }
        guard !code.isEmpty else {
            return .passedWithoutProof(
                detail + "; the change only touches tests or test configuration (\(list(changed))), which cannot show "
                    + "that code works")
        }

        // R1: the project's tests as they were at the base, against the changed code.
        let infrastructure = configuration + tests
        var judged = final
        if !infrastructure.isEmpty {
            let own = try await withReverted(infrastructure, base: base, git: git, root: root, run)
            judged = own
            guard own.passed || TestFailures.failures(of: own, within: final) else {
                return .testsRewritten(
                    "the tests pass only with the change's edits to \(list(infrastructure)); the project's tests as "
                        + "they were at the base commit fail with the change (\(own.summaryLine ?? own.describe(tailBytes: 300)))")
            }
        }
        if let baseline, !baseline.passed, judged.passed {
            return .passed(
                detail + "; they failed before the change"
                    + (infrastructure.isEmpty ? "" : ", and pass as they were at the base commit"))
        }
        let judgedComparison = infrastructure.isEmpty ? comparison : TestFailures.compare(judged, baseline: baseline)
        if case .noWorse(let fixed, _)? = judgedComparison, !fixed.isEmpty, !judged.passed {
            return .passed(
                detail + "; \(fixed.count) failed before the change and pass with it (\(TestFailures.list(fixed)))"
                    + (infrastructure.isEmpty ? "" : ", as the tests were at the base commit"))
        }
        // Tests still fail (as they did before) and none of them was fixed: the failures may be the task itself, so
        // this is not a pass of any kind, and the model hears which tests still fail.
        let unshown = AgentMachine.Verification.failed(
            "no test that passed before the change fails with it, but the tests that failed before still fail and "
                + "none of them passes now: \(TestFailures.list(TestFailures.read(judged)?.failed.sorted() ?? []))\n"
                + judged.describe())
        guard !tests.isEmpty else { return judged.passed ? .passedWithoutProof(detail) : unshown }

        // R2 and R3: the tests the change adds, under the base's test configuration, with and without its code.
        var withCode = final
        if !configuration.isEmpty {
            let with = try await withReverted(configuration, base: base, git: git, root: root, run)
            withCode = with
            guard with.passed || TestFailures.failures(of: with, within: final) else {
                return .testsRewritten(
                    "the tests the change adds (\(list(tests))) pass only with its edits to the test configuration "
                        + "(\(list(configuration)))")
            }
        }
        let without = try await withReverted(configuration + code, base: base, git: git, root: root, run)
        if without.passed { return withCode.passed ? .passedWithoutProof(detail) : unshown }
        if !withCode.passed {
            // Tests failed with the code too (as they did at the baseline): only tests that fail without the code
            // and pass with it show anything.
            guard case .worse(let newly) = TestFailures.compare(without, baseline: withCode) else { return unshown }
            return .passed(detail + "; the changed tests fail without the change (\(TestFailures.list(newly)))")
        }
        return .passed(detail + "; the changed tests (\(list(tests))) fail without the change")
    }

    /// Runs `body` with `paths` as they are at `base` (absent if they did not exist there), then puts the current
    /// contents back.
    static func withReverted<T>(
        _ paths: [String], base: String, git: Git, root: String, _ body: () async throws -> T
    ) async throws -> T {
        let fm = FileManager.default
        var saved: [(path: String, data: Data?)] = []
        for path in paths { saved.append((path, fm.contents(atPath: root + "/" + path))) }
        func restore() {
            for (path, data) in saved {
                let full = root + "/" + path
                if let data {
                    try? fm.createDirectory(
                        atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try? Workspace.write(data, to: full)
                } else {
                    try? fm.removeItem(atPath: full)
                }
            }
        }
        do {
            try await git.reset(paths, to: base)
            let result = try await body()
            restore()
            return result
        } catch {
            restore()
            throw error
        }
    }
}
