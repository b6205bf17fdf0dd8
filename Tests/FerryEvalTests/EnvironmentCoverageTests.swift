import FerryCore
import FerryEval
import Foundation
import Testing

/// `evals/swebench/environments.toml` covers every version the official SWE-bench harness lists for the four
/// repositories run here (its `SPECS_*` tables), and the agent's test command it makes runs only related tests.
@Suite struct EnvironmentCoverageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Copied from SWE-bench's harness constants (`SPECS_REQUESTS`, `SPECS_FLASK`, `SPECS_PYTEST`, `SPECS_SYMPY`).
    static let harnessVersions: [String: [String]] = [
        "psf/requests": [
            "0.7", "0.8", "0.9", "0.11", "0.13", "0.14", "1.1", "1.2", "2.0", "2.2", "2.3", "2.4", "2.5", "2.7",
            "2.8", "2.9", "2.10", "2.11", "2.12", "2.17", "2.18", "2.19", "2.22", "2.26", "2.25", "2.27", "2.31", "3.0",
        ],
        "pallets/flask": ["2.0", "2.1", "2.2", "2.3", "3.0", "3.1"],
        "pytest-dev/pytest": [
            "4.4", "4.5", "4.6", "5.0", "5.1", "5.2", "5.3", "5.4", "6.0", "6.2", "6.3", "7.0", "7.1", "7.2",
            "7.4", "8.0", "8.1", "8.2", "8.3", "8.4",
        ],
        "sympy/sympy": [
            "0.7", "1.0", "1.1", "1.10", "1.11", "1.12", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.13",
            "1.14",
        ],
    ]

    @Test func everyHarnessVersionHasOneEnvironment() throws {
        let catalog = try EnvironmentCatalog.load(Self.root + "/evals/swebench/environments.toml")
        for (repo, versions) in Self.harnessVersions {
            for version in versions {
                let instance = EvalInstance(
                    instanceID: "x", repo: repo, problemStatement: "", failToPass: ["t"], version: version)
                let spec = try catalog.spec(for: instance)
                #expect(spec != nil, "\(repo)@\(version)")
                #expect(
                    catalog.environments.filter { $0.repo == repo && $0.versions.contains(version) }.count == 1,
                    "\(repo)@\(version)")
            }
        }
        let unknown = EvalInstance(
            instanceID: "x", repo: "psf/requests", problemStatement: "", failToPass: ["t"], version: "9.9")
        #expect(throws: FerryError.self) { try catalog.spec(for: unknown) }
    }

    @Test func theAgentsCommandUsesTheVenvAndOnlyRelatedTests() throws {
        let catalog = try EnvironmentCatalog.load(Self.root + "/evals/swebench/environments.toml")
        let instance = EvalInstance(
            instanceID: "x", repo: "pytest-dev/pytest", problemStatement: "", failToPass: ["t"], version: "7.2")
        let spec = try #require(try catalog.spec(for: instance))
        let prepared = PreparedEnvironment(spec: spec, venv: "/envs/v")
        let command = prepared.agentTestCommand(runner: .pytest, version: "7.2")
        #expect(command.contains("export VIRTUAL_ENV='/envs/v' PATH='/envs/v/bin':\"$PATH\""))
        #expect(command.contains("export PYTHONPATH=\"$PWD\"/'src'"))
        #expect(command.contains("'7.2' > src/_pytest/_version.py"))
        #expect(command.hasSuffix("python -m pytest -q -p no:cacheprovider {related_tests}"))
        #expect(
            prepared.agentTestCommand(runner: .sympy, version: "1.1").hasSuffix("python bin/test -C {related_tests}"))
    }
}
