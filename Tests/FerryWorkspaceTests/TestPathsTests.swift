import FerryCore
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@Suite struct TestPathsTests {
    @Test func conventions() {
        for path in [
            "tests/test_a.py", "test_a.py", "a_test.go", "pkg/a_tests.py", "conftest.py", "src/a.test.js",
            "web/__tests__/a.js", "spec/a_spec.rb", "Tests/FerryTests/AgentTests.swift", "FooTest.java",
            "tests/visible/main.swift", "testing/python/approx.py",
        ] {
            #expect(TestPaths.isTest(path), "\(path)")
        }
        for path in [
            "calc.py", "src/latest.py", "contest.py", "attestation/a.py", "Sources/Stats.swift", "bin/test.sh.in",
        ] {
            #expect(!TestPaths.isTest(path), "\(path)")
        }
    }

    /// Where a new test may go: a file the runner collects, not a fixture file or a helper among the tests.
    @Test func filesThatHoldTests() {
        for path in ["tests/test_a.py", "pkg/a_test.py", "src/a.test.js", "spec/a_spec.rb", "tests/visible/main.swift"]
        {
            #expect(TestPaths.holdsTests(path), "\(path)")
        }
        for path in [
            "tests/conftest.py", "conftest.py", "tests/__init__.py", "tests/typing/typing_progressbar.py",
            "tests/helpers.py", "calc.py",
        ] {
            #expect(!TestPaths.holdsTests(path), "\(path)")
        }
    }
}

@Suite struct TestProtectionTests {
    func toolbox(task: String) async throws -> (ToolBox, String) {
        let repo = try await FixtureRepo.make(["calc.py": "x = 1\n", "tests/test_calc.py": "import calc\n"])
        let workspace = try Workspace(root: repo)
        var configuration = ToolBox.Configuration()
        configuration.protectedTests = .allExcept(mentionedIn: task)
        let runner = DirectRunner(policy: SandboxPolicy(workspace: workspace.root))
        return (ToolBox(workspace: workspace, runner: runner, configuration: configuration), repo)
    }

    func call(_ tools: ToolBox, _ name: String, _ args: JSONValue) async -> AgentMachine.ToolResult {
        await tools.execute(ToolCall(id: "t", name: name, arguments: args.jsonString))
    }

    @Test func anExistingTestCannotBeOverwrittenUnlessTheTaskNamesIt() async throws {
        let (tools, repo) = try await toolbox(task: "x should be 2")
        let overwrite = await call(tools, "write_file", ["path": "tests/test_calc.py", "content": "pass\n"])
        #expect(overwrite.isError)
        #expect(overwrite.output.contains("existing test file"))
        #expect(try String(contentsOfFile: repo + "/tests/test_calc.py", encoding: .utf8) == "import calc\n")
        let change = await call(
            tools, "edit_file", ["path": "tests/test_calc.py", "old": "import calc", "new": "import os"])
        #expect(change.isError)
        #expect(change.output.contains("may only add"))
        // Adding to it, a new test file, and code are all fine.
        #expect(
            !(await call(
                tools, "edit_file",
                ["path": "tests/test_calc.py", "old": "import calc", "new": "import calc\nimport os"])).isError)
        #expect(!(await call(tools, "write_file", ["path": "tests/test_new.py", "content": "pass\n"])).isError)
        #expect(!(await call(tools, "write_file", ["path": "calc.py", "content": "x = 2\n"])).isError)

        // Rewriting keeps a file's mode: an executable script stays executable.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: repo + "/calc.py")
        #expect(!(await call(tools, "write_file", ["path": "calc.py", "content": "x = 3\n"])).isError)
        #expect(!(await call(tools, "edit_file", ["path": "calc.py", "old": "x = 3", "new": "x = 4"])).isError)
        let mode = try FileManager.default.attributesOfItem(atPath: repo + "/calc.py")[.posixPermissions] as? Int
        #expect(mode == 0o755)

        let (named, _) = try await toolbox(task: "rewrite tests/test_calc.py to use pytest")
        #expect(!(await call(named, "write_file", ["path": "tests/test_calc.py", "content": "pass\n"])).isError)
    }
}
