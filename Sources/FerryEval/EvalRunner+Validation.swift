import FerryAgent
import FerryCore
import FerryModels
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation

/// `ferry eval validate`: each task's gold patch must resolve it, and at the base its FAIL_TO_PASS tests must fail.
public struct ValidationResult: Sendable, Hashable {
    public var instanceID: String
    public var goldResolves: Bool
    public var baseFails: Bool
    public var problem: String?
    /// PASS_TO_PASS tests that fail on this machine with the gold patch *and* at the base: they cannot pass here
    /// whatever the change (the network, another platform), so they are excluded by name, with `exclusionReason`.
    public var excludedTests: [String] = []
    public var exclusionReason: String?
    public var valid: Bool { goldResolves && baseFails && problem == nil }
}

/// Which tests validation excludes, pure. Two kinds, both seen failing with the gold patch on this machine:
/// - PASS_TO_PASS tests that fail at the base too, so no change could make them pass here;
/// - tests whose own failure with the gold patch is the network's absence (a connection or name-resolution error in
///   its section of the gold run's log), FAIL_TO_PASS ones included: SWE-bench lists tests that reach httpbin.org or
///   google.com as the task's. Their result at the base is no evidence either way (code that swallowed the error
///   passed there). At least one FAIL_TO_PASS test always stays: an instance whose every one needs the network is
///   left invalid, not emptied.
public enum ValidationExclusions {
    public static func tests(gold: [String: Bool], base: [String: Bool], passToPass: [String]) -> [String] {
        passToPass.filter { gold[$0] == false && base[$0] == false }.sorted()
    }

    /// The tests to exclude: `tests(gold:base:passToPass:)` and those whose gold failure is the network's absence.
    public static func tests(
        gold: [String: Bool], base: [String: Bool], failToPass: [String], passToPass: [String], goldLog: String
    ) -> [String] {
        let sections = failureSections(log: goldLog)
        func offline(_ test: String) -> Bool {
            gold[test] == false && section(for: test, in: sections).map(isNetwork) == true
        }
        var excluded = Set(tests(gold: gold, base: base, passToPass: passToPass))
        excluded.formUnion(passToPass.filter(offline))
        let taskTests = failToPass.filter(offline)
        if taskTests.count < failToPass.count { excluded.formUnion(taskTests) }
        return excluded.sorted()
    }

    /// pytest's failure sections (`____ Class.test_name ____` and the traceback under it), by title.
    public static func failureSections(log: String) -> [String: String] {
        var sections: [String: String] = [:]
        var title: String?
        var body: [Substring] = []
        func close() {
            if let title { sections[title, default: ""] += body.joined(separator: "\n") }
            body = []
        }
        for line in log.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("___"), trimmed.hasSuffix("___") {
                let name = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "_ "))
                close()
                title = name.isEmpty || name.contains(" ") ? nil : name
                continue
            }
            // The short summary and the other `====` headers end a section.
            if trimmed.hasPrefix("===") {
                close()
                title = nil
                continue
            }
            if title != nil { body.append(line) }
        }
        close()
        return sections
    }

    /// The failure section of `test` (`tests/test_x.py::Class::test_y[p]` is titled `Class.test_y[p]` or `test_y[p]`).
    static func section(for test: String, in sections: [String: String]) -> String? {
        let parts = test.split(separator: "::").dropFirst()
        guard !parts.isEmpty else { return nil }
        return sections[parts.joined(separator: ".")] ?? sections[String(parts.last!)]
    }

    static let networkMarkers = [
        "connectionerror", "network is unreachable", "name or service not known",
        "temporary failure in name resolution",
        "connecttimeout", "max retries exceeded", "nodename nor servname",
    ]

    static func isNetwork(_ text: String) -> Bool {
        let lower = text.lowercased()
        return networkMarkers.contains(where: lower.contains)
    }

    /// Why, from the test log's words: the network, a missing module, or simply "fails here".
    public static func reason(log: String) -> String {
        let lower = log.lowercased()
        if networkMarkers.contains(where: lower.contains) {
            return "needs the network: fails on this machine with the gold patch for want of it (found by validation)"
        }
        if lower.contains("modulenotfounderror") || lower.contains("importerror") {
            return
                "fails at the base and with the gold patch on this machine: a module it needs is missing (found by validation)"
        }
        return "fails at the base and with the gold patch on this machine (found by validation)"
    }

    /// The exclusions as `environments.toml`'s `[[exclude]]` entries, for `ferry eval --exclusions`.
    public static func toml(_ checks: [ValidationResult]) -> String {
        var text = "# Tests validation found failing here with the gold patch and at the base; excluded by name.\n"
        for check in checks where !check.excludedTests.isEmpty {
            text += "\n[[exclude]]\ninstance = \(JSONValue.string(check.instanceID).jsonString)\n"
            text += "reason = \(JSONValue.string(check.exclusionReason ?? "fails here").jsonString)\n"
            text +=
                "tests = [" + check.excludedTests.map { JSONValue.string($0).jsonString }.joined(separator: ", ")
                + "]\n"
        }
        return text
    }
}

extension EvalRunner {
    public func validate(progress: @escaping @Sendable (ValidationResult) -> Void = { _ in }) async throws
        -> [ValidationResult]
    {
        let instances = try selectedInstances()
        try FileManager.default.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)
        let resolver = RepoResolver(
            suiteDirectory: ((options.suitePath as NSString).deletingLastPathComponent as NSString).standardizingPath,
            reposDirectory: options.reposDirectory, workDirectory: options.outDirectory + "/work")
        return try await withThrowingTaskGroup(of: ValidationResult.self) { group in
            var iterator = instances.makeIterator()
            func startNext() {
                guard let instance = iterator.next() else { return }
                group.addTask {
                    var check = ValidationResult(instanceID: instance.instanceID, goldResolves: false, baseFails: false)
                    do {
                        let (repo, base) = try await resolver.resolve(instance)
                        guard let gold = instance.patch, !gold.isEmpty else {
                            throw FerryError(.usage, "no gold patch")
                        }
                        var withGold = InstanceResult(instanceID: instance.instanceID, status: "gold")
                        try await score(instance, patch: gold, repo: repo, base: base, into: &withGold)
                        check.goldResolves = withGold.resolved
                        // The base's run writes the same log file.
                        let goldLog = (try? String(contentsOfFile: testLog(instance), encoding: .utf8)) ?? ""
                        var atBase = InstanceResult(instanceID: instance.instanceID, status: "base")
                        try await score(instance, patch: "", repo: repo, base: base, into: &atBase)
                        check.excludedTests = ValidationExclusions.tests(
                            gold: withGold.failToPass.merging(withGold.passToPass) { a, _ in a },
                            base: atBase.passToPass, failToPass: instance.failToPass,
                            passToPass: instance.passToPass, goldLog: goldLog)
                        let dropped = Set(check.excludedTests)
                        // The task is what is left of FAIL_TO_PASS: it must fail at the base.
                        let task = atBase.failToPass.filter { !dropped.contains($0.key) }
                        check.baseFails = !task.isEmpty && task.values.allSatisfy { !$0 }
                        if !check.excludedTests.isEmpty {
                            let log = (try? String(contentsOfFile: testLog(instance), encoding: .utf8)) ?? ""
                            check.exclusionReason = ValidationExclusions.reason(log: goldLog + "\n" + log)
                            // The gold patch resolves the task if only those fail.
                            check.goldResolves =
                                withGold.failToPass.allSatisfy { $0.value || dropped.contains($0.key) }
                                && withGold.passToPass.allSatisfy { $0.value || dropped.contains($0.key) }
                        }
                        if !check.goldResolves {
                            let failing = (withGold.failToPass.merging(withGold.passToPass) { a, _ in a }).filter {
                                !$0.value && !check.excludedTests.contains($0.key)
                            }.keys.sorted()
                            check.problem = "gold patch leaves failing: \(failing.prefix(5).joined(separator: ", "))"
                        } else if !check.baseFails {
                            let passing = atBase.failToPass.filter { $0.value && !dropped.contains($0.key) }.keys
                                .sorted()
                            check.problem =
                                "FAIL_TO_PASS already passes at the base: \(passing.prefix(5).joined(separator: ", "))"
                        }
                    } catch {
                        check.problem = (error as? FerryError)?.message ?? "\(error)"
                    }
                    return check
                }
            }
            for _ in 0..<max(1, options.jobs) { startNext() }
            var checks: [ValidationResult] = []
            while let check = try await group.next() {
                progress(check)
                checks.append(check)
                startNext()
            }
            return checks.sorted { $0.instanceID < $1.instanceID }
        }
    }
}
