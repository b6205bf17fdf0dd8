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
    public var valid: Bool { goldResolves && baseFails && problem == nil }
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
                        if !check.goldResolves {
                            let failing = (withGold.failToPass.merging(withGold.passToPass) { a, _ in a }).filter {
                                !$0.value
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
