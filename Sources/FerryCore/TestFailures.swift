import Foundation

/// Which tests a run failed, read from the test runner's own output, so that a change can be judged against the
/// baseline test by test. Real repositories often have tests that already fail before any change (a missing service,
/// a platform difference); judged as a whole, every change there "fails the tests" and is undone.
///
/// Read only when the output accounts for itself: the runner's summary counts exactly as many failures as the output
/// names (pytest's short summary `FAILED id`/`ERROR id`, unittest's `FAIL: name`/`ERROR: name`, sympy's
/// `___ path:test ___` headers). Anything else is unreadable, and the caller falls back to the exit code.
public struct TestFailures: Sendable, Hashable {
    public var failed: Set<String>
    public var passedCount: Int

    public init(failed: Set<String>, passedCount: Int) {
        self.failed = failed
        self.passedCount = passedCount
    }

    public static func read(_ run: TestRun) -> TestFailures? {
        guard !run.timedOut else { return nil }
        return readPytest(run.output) ?? readUnittest(run.output) ?? readSympy(run.output)
    }

    /// How a run compares with the baseline, test by test.
    public enum Comparison: Sendable, Hashable {
        /// Nothing that passed before fails now. `fixed` failed before and passes now; `stillFailing` failed before
        /// and still does.
        case noWorse(fixed: [String], stillFailing: [String])
        /// These tests fail now and did not before.
        case worse(newlyFailing: [String])
        /// One of the runs cannot be read test by test, or tests went missing.
        case unknown
    }

    public static func compare(_ run: TestRun, baseline: TestRun?) -> Comparison {
        if run.passed, baseline?.passed == true { return .noWorse(fixed: [], stillFailing: []) }
        guard let baseline, let now = read(run), let before = read(baseline) else { return .unknown }
        let newly = now.failed.subtracting(before.failed)
        guard newly.isEmpty else { return .worse(newlyFailing: newly.sorted()) }
        let fixed = before.failed.subtracting(now.failed)
        // A test that no longer fails must pass now, not have gone missing.
        guard now.passedCount >= before.passedCount + fixed.count else { return .unknown }
        return .noWorse(fixed: fixed.sorted(), stillFailing: now.failed.sorted())
    }

    /// Whether every test `run` fails also fails in `reference` (both read test by test): what a check with some of
    /// the change's files put back must show, so that those files hid no failure.
    public static func failures(of run: TestRun, within reference: TestRun) -> Bool {
        guard let failing = read(run), let allowed = read(reference) else { return false }
        return failing.failed.isSubset(of: allowed.failed)
    }

    /// Whether a failed test is in the file at `path`: pytest's `path::name`, sympy's `path:name`, unittest's
    /// `name (module.Class.name)`.
    public func anyFailed(in path: String) -> Bool {
        let module = (path.hasSuffix(".py") ? String(path.dropLast(3)) : path).replacingOccurrences(of: "/", with: ".")
        return failed.contains { $0.hasPrefix(path + ":") || $0.contains("(" + module + ".") }
    }

    /// A short list of test names for a message.
    public static func list(_ names: [String], limit: Int = 4) -> String {
        names.count <= limit
            ? names.joined(separator: ", ")
            : names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
    }

    static func count(_ word: String, in line: String) -> Int {
        guard let range = line.range(of: #"(\d+) "# + word, options: .regularExpression) else { return 0 }
        return Int(line[range].split(separator: " ")[0]) ?? 0
    }

    /// pytest: the final `N failed, M passed, K errors in 1.2s` line and the short summary's `FAILED id`/`ERROR id`.
    static func readPytest(_ output: String) -> TestFailures? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "= ")) }
        guard
            let summary = lines.last(where: {
                $0.range(of: #"^(\d+ \w+(, )?)+.* in [\d.]+ ?s"#, options: .regularExpression) != nil
                    || $0.range(of: #"^no tests ran in [\d.]+ ?s"#, options: .regularExpression) != nil
            })
        else { return nil }
        var failed: Set<String> = []
        for line in lines {
            let words = line.split(separator: " ", maxSplits: 2)
            guard words.count >= 2, words[0] == "FAILED" || words[0] == "ERROR" else { continue }
            failed.insert(String(words[1]))
        }
        let counted = count("failed", in: summary) + count("errors?", in: summary)
        guard counted == failed.count else { return nil }
        return TestFailures(failed: failed, passedCount: count("passed", in: summary))
    }

    /// unittest: `Ran N tests`, then `OK` or `FAILED (failures=a, errors=b)`, and a `FAIL: name (class)` per failure.
    static func readUnittest(_ output: String) -> TestFailures? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let ran = lines.last(where: { $0.range(of: #"^Ran \d+ tests? in"#, options: .regularExpression) != nil }),
            let verdict = lines.last(where: { $0 == "OK" || $0.hasPrefix("OK (") || $0.hasPrefix("FAILED (") })
        else { return nil }
        var failed: Set<String> = []
        for line in lines where line.hasPrefix("FAIL: ") || line.hasPrefix("ERROR: ") {
            failed.insert(String(line.drop { $0 != " " }.dropFirst()))
        }
        let total = count("tests?", in: ran.replacingOccurrences(of: "Ran ", with: ""))
        func field(_ name: String) -> Int {
            guard let range = verdict.range(of: name + #"=(\d+)"#, options: .regularExpression) else { return 0 }
            return Int(verdict[range].split(separator: "=")[1]) ?? 0
        }
        let failures = field("failures") + field("errors")
        guard failures == failed.count else { return nil }
        let passed = total - failures - field("skipped") - field("expected failures") - field("unexpected successes")
        return TestFailures(failed: failed, passedCount: max(passed, 0))
    }

    /// sympy's `bin/test`: `tests finished: 9 passed, 1 failed, 2 exceptions, in 13.30 seconds` and a
    /// `___ sympy/x/tests/test_y.py:test_z ___` header per failure or exception.
    static func readSympy(_ output: String) -> TestFailures? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let summary = lines.last(where: { $0.hasPrefix("tests finished:") }) else { return nil }
        var failed: Set<String> = []
        for line in lines where line.hasPrefix("___") && line.hasSuffix("___") {
            let name = line.trimmingCharacters(in: CharacterSet(charactersIn: "_ "))
            if name.contains(":"), !name.contains(" ") { failed.insert(name) }
        }
        let counted = count("failed", in: summary) + count("exceptions?", in: summary)
        guard counted == failed.count else { return nil }
        return TestFailures(failed: failed, passedCount: count("passed", in: summary))
    }
}

extension TestFailures.Comparison {
    public var isNoWorse: Bool {
        if case .noWorse = self { true } else { false }
    }
}
