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

/// Which tests validation excludes, pure: PASS_TO_PASS tests the gold patch leaves failing that fail at the base too
/// (so no change could make them pass here); FAIL_TO_PASS tests are never excluded (they are the task).
public enum ValidationExclusions {
    public static func tests(gold: [String: Bool], base: [String: Bool], passToPass: [String]) -> [String] {
        passToPass.filter { gold[$0] == false && base[$0] == false }.sorted()
    }

    /// Why, from the test log's words: the network, a missing module, or simply "fails here".
    public static func reason(log: String) -> String {
        let lower = log.lowercased()
        let network = [
            "connectionerror", "network is unreachable", "name or service not known",
            "temporary failure in name resolution",
            "connecttimeout", "max retries exceeded", "nodename nor servname",
        ]
        if network.contains(where: lower.contains) {
            return "fails at the base and with the gold patch on this machine: needs the network (found by validation)"
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
                        var atBase = InstanceResult(instanceID: instance.instanceID, status: "base")
                        try await score(instance, patch: "", repo: repo, base: base, into: &atBase)
                        check.baseFails = !atBase.failToPass.isEmpty && atBase.failToPass.values.allSatisfy { !$0 }
                        check.excludedTests = ValidationExclusions.tests(
                            gold: withGold.passToPass, base: atBase.passToPass, passToPass: instance.passToPass)
                        if !check.excludedTests.isEmpty {
                            let log = (try? String(contentsOfFile: testLog(instance), encoding: .utf8)) ?? ""
                            check.exclusionReason = ValidationExclusions.reason(log: log)
                            // The gold patch resolves the task if only those fail.
                            let dropped = Set(check.excludedTests)
                            check.goldResolves =
                                withGold.failToPass.values.allSatisfy { $0 }
                                && withGold.passToPass.allSatisfy { $0.value || dropped.contains($0.key) }
                        }
                        if !check.goldResolves {
                            let failing = (withGold.failToPass.merging(withGold.passToPass) { a, _ in a }).filter {
                                !$0.value && !check.excludedTests.contains($0.key)
                            }.keys.sorted()
                            check.problem = "gold patch leaves failing: \(failing.prefix(5).joined(separator: ", "))"
                        } else if !check.baseFails {
                            let passing = atBase.failToPass.filter(\.value).keys.sorted()
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
