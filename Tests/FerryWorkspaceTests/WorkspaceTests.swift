import FerryCore
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@Suite struct WorkspaceTests {
    func toolbox(_ files: [String: String]) async throws -> (ToolBox, String) {
        let repo = try await FixtureRepo.make(files)
        let workspace = try Workspace(root: repo)
        return (
            ToolBox(workspace: workspace, runner: DirectRunner(policy: SandboxPolicy(workspace: workspace.root))),
            workspace.root
        )
    }

    func call(_ tools: ToolBox, _ name: String, _ args: JSONValue) async -> AgentMachine.ToolResult {
        await tools.execute(ToolCall(id: "t", name: name, arguments: args.jsonString))
    }

    @Test func dotDotEscapeIsRefused() async throws {
        let (tools, _) = try await toolbox(["a.txt": "a"])
        let result = await call(tools, "read_file", ["path": "../../etc/passwd"])
        #expect(result.isError)
        #expect(result.output.contains("outside the workspace"))
        let write = await call(tools, "write_file", ["path": "sub/../../escape.txt", "content": "x"])
        #expect(write.isError)
    }

    @Test func absolutePathOutsideIsRefused() async throws {
        let (tools, root) = try await toolbox(["a.txt": "a"])
        #expect(await call(tools, "read_file", ["path": "/etc/hostname"]).isError)
        // An absolute path inside the workspace is fine.
        let inside = await call(tools, "read_file", ["path": .string(root + "/a.txt")])
        #expect(!inside.isError)
    }

    @Test func symlinkLeadingOutIsRefused() async throws {
        let (tools, root) = try await toolbox(["a.txt": "a"])
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-outside-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        let read = await call(tools, "read_file", ["path": "link/secret.txt"])
        #expect(read.isError)
        #expect(read.output.contains("symbolic link"))
        let write = await call(tools, "write_file", ["path": "link/new.txt", "content": "x"])
        #expect(write.isError)
        #expect(!FileManager.default.fileExists(atPath: outside + "/new.txt"))
    }

    @Test func readFileNumbersLinesAndHonoursRanges() async throws {
        let (tools, _) = try await toolbox(["a.py": "one\ntwo\nthree\n"])
        let result = await call(tools, "read_file", ["path": "a.py", "start_line": 2, "end_line": 3])
        #expect(result.output.hasPrefix("2\ttwo\n3\tthree\n"))
    }

    @Test func listFilesRespectsGitignore() async throws {
        let (tools, root) = try await toolbox([".gitignore": "build/\n*.log\n", "src/a.py": "", "src/b.swift": ""])
        try "x".write(toFile: root + "/debug.log", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/build", withIntermediateDirectories: true)
        try "x".write(toFile: root + "/build/out.py", atomically: true, encoding: .utf8)
        try "x".write(toFile: root + "/src/new.py", atomically: true, encoding: .utf8)
        let all = await call(tools, "list_files", [:]).output
        #expect(all.contains("src/a.py") && all.contains("src/new.py"))
        #expect(!all.contains("debug.log") && !all.contains("build/out.py"))
        let python = await call(tools, "list_files", ["glob": "*.py"]).output
        #expect(python.split(separator: "\n").sorted() == ["src/a.py", "src/new.py"])
    }

    @Test func searchFindsMatchesAndRespectsGitignore() async throws {
        let (tools, root) = try await toolbox([".gitignore": "*.log\n", "a.py": "def parse_header():\n    pass\n"])
        try "def parse_header".write(toFile: root + "/x.log", atomically: true, encoding: .utf8)
        let result = await call(tools, "search", ["pattern": "parse_header"])
        #expect(result.output == "a.py:1: def parse_header():")
    }

    @Test func builtinSearchMatchesRipgrepFormat() async throws {
        let (tools, _) = try await toolbox(["src/a.py": "x = 1\ny = 2\n", "b.txt": "y = 3\n"])
        let lines = try await tools.builtinSearchForTesting(pattern: "y =")
        #expect(lines == ["b.txt:1: y = 3", "src/a.py:2: y = 2"])
    }

    @Test func editFileReportsTheStageAndShowsTheResult() async throws {
        let (tools, root) = try await toolbox(["a.py": "def f():\n    return 1\n"])
        let result = await call(tools, "edit_file", ["path": "a.py", "old": "return 1", "new": "return 2"])
        #expect(!result.isError)
        #expect(try String(contentsOfFile: root + "/a.py", encoding: .utf8) == "def f():\n    return 2\n")
        let missing = await call(tools, "edit_file", ["path": "a.py", "old": "return 3", "new": "x"])
        #expect(missing.isError)
        #expect(missing.output.contains("closest lines"))
    }

    @Test func editInsideGitIsRefused() async throws {
        let (tools, _) = try await toolbox(["a.py": ""])
        #expect(await call(tools, "write_file", ["path": ".git/config", "content": "x"]).isError)
    }

    @Test func nestedAgentsMdIsShownOnceOnTheWay() async throws {
        let (tools, _) = try await toolbox([
            "AGENTS.md": "root rules", "pkg/AGENTS.md": "pkg rules", "pkg/m.py": "x = 1\n", "pkg/n.py": "",
        ])
        let first = await call(tools, "read_file", ["path": "pkg/m.py"])
        #expect(first.output.contains("pkg rules"))
        #expect(!first.output.contains("root rules"))  // the root's is in the prompt already
        let second = await call(tools, "read_file", ["path": "pkg/n.py"])
        #expect(!second.output.contains("pkg rules"))
    }

    @Test func unknownToolIsAToolError() async throws {
        let (tools, _) = try await toolbox(["a": ""])
        let result = await call(tools, "delete_everything", [:])
        #expect(result.isError)
        #expect(result.output.contains("unknown tool"))
    }

    @Test func shellOutputKeepsHeadAndTail() async throws {
        let (tools, _) = try await toolbox(["a": ""])
        let result = await call(tools, "shell", ["command": "seq 1 100000"])
        #expect(result.output.hasPrefix("[exit code 0]\n1\n2\n"))
        #expect(result.output.contains("bytes cut"))
        #expect(result.output.hasSuffix("99999\n100000\n"))
    }

    /// In a src layout the model's commands import the package from `src`, as the project's tests do.
    @Test func shellCommandsSeeASourceLayoutAsTheTestsDo() async throws {
        let (tools, root) = try await toolbox(["src/pkg/__init__.py": "WHERE = 'src'\n", "tests/test_a.py": ""])
        let result = await call(tools, "shell", ["command": "cd tests && python3 -c 'import pkg; print(pkg.WHERE)'"])
        #expect(result.output == "[exit code 0]\nsrc\n")
        #expect(TestCommand.detect(in: root)?.hasPrefix("PYTHONPATH=src ") == true)
        // Elsewhere nothing is added.
        let (flat, _) = try await toolbox(["pkg/__init__.py": ""])
        #expect(!(await call(flat, "shell", ["command": "echo \"[$PYTHONPATH]\""]).output.contains("/src")))
    }

    @Test func testCommandDetection() async throws {
        let python = try await FixtureRepo.make(["tests/test_a.py": ""])
        #expect(TestCommand.detect(in: python)?.contains("pytest") == true)
        let make = try await FixtureRepo.make(["Makefile": "build:\n\ttrue\ntest:\n\ttrue\n"])
        #expect(TestCommand.detect(in: make) == "make test")
        #expect(TestCommand.candidates(in: make) == ["make test"])
        // A Python project's `make test` comes first, pytest after it for when make's recipe cannot run here.
        let both = try await FixtureRepo.make([
            "Makefile": "test:\n\tuv run pytest tests/\n", "pyproject.toml": "", "tests/test_a.py": "",
        ])
        #expect(TestCommand.candidates(in: both) == ["make test", "python3 -m pytest -q -p no:cacheprovider"])
        let script = try await FixtureRepo.make(["bin/greet.sh": "echo hi", "tests/run.sh": "bash tests/test_greet.sh"])
        #expect(TestCommand.detect(in: script) == "bash tests/run.sh")
        let none = try await FixtureRepo.make(["README": "hi"])
        #expect(TestCommand.detect(in: none) == nil)
    }

    /// A src layout (flask, click, attrs): the package is importable only from `src/`, which the sandbox cannot
    /// install, so the detected command puts it on the path; the tests then import the code being changed.
    @Test func aSourceLayoutsTestsImportTheCodeInTheRepository() async throws {
        let repo = try await FixtureRepo.make([
            "pyproject.toml": "[project]\nname = \"ferrysrclayout\"\n",
            "src/ferrysrclayout/__init__.py": "def answer():\n    return 42\n",
            "tests/test_answer.py":
                "from ferrysrclayout import answer\n\n\ndef test_answer():\n    assert answer() == 42\n",
        ])
        let command = try #require(TestCommand.detect(in: repo))
        #expect(command.hasPrefix("PYTHONPATH=src "), "\(command)")
        let runner = try BubblewrapRunner(policy: SandboxPolicy(workspace: repo))
        let run = try await runner.run(CommandRequest(script: command, workingDirectory: repo, timeoutSeconds: 60))
        #expect(run.exitCode == 0, "\(run.output)")
        // The same tests without the path cannot import the package: the prefix is what makes them run.
        let bare = try await runner.run(
            CommandRequest(
                script: "python3 -m pytest -q -p no:cacheprovider", workingDirectory: repo, timeoutSeconds: 60))
        #expect(bare.exitCode != 0 && bare.output.contains("ModuleNotFoundError"), "\(bare.output)")
        // A flat layout keeps the plain command.
        let flat = try await FixtureRepo.make(["pyproject.toml": "", "pkg/__init__.py": "", "tests/test_a.py": ""])
        #expect(TestCommand.detect(in: flat) == "python3 -m pytest -q -p no:cacheprovider")
    }
}

extension WorkspaceTests {
    @Test func searchFallsBackToPlainTextForCodeAsWritten() async throws {
        let (tools, _) = try await toolbox(["p.py": "def page_count(total, per_page):\n    pass\n"])
        let noMatch = await call(tools, "search", ["pattern": "page_count(total, per_page)"])
        #expect(noMatch.output.contains("searched for it as plain text"))
        #expect(noMatch.output.contains("p.py:1: def page_count(total, per_page):"))
        let invalid = await call(tools, "search", ["pattern": "page_count(total"])
        #expect(!invalid.isError)
        #expect(invalid.output.contains("not a valid regular expression"))
        #expect(invalid.output.contains("p.py:1:"))
    }
}

extension WorkspaceTests {
    /// write_file over a large module with a few lines is a fragment, not a new version: refused, the file kept.
    @Test func aFragmentWrittenOverALargeFileIsRefused() async throws {
        let module = (1...120).map { "def f\($0)():\n    return \($0)\n" }.joined()
        let (tools, root) = try await toolbox(["core.py": module, "small.py": "x = 1\ny = 2\n"])
        let fragment = await call(
            tools, "write_file", ["path": "core.py", "content": "def f7():\n    return 8\n"])
        #expect(fragment.isError)
        #expect(fragment.output.contains("has 241 lines where your content has 3"), "\(fragment.output)")
        #expect(fragment.output.contains("edit_file"))
        #expect(try String(contentsOfFile: root + "/core.py", encoding: .utf8) == module)
        // A whole new version of it is fine, and so are small files and new ones.
        let whole = module.replacingOccurrences(of: "return 7\n", with: "return 8\n")
        #expect(!(await call(tools, "write_file", ["path": "core.py", "content": .string(whole)])).isError)
        #expect(!(await call(tools, "write_file", ["path": "small.py", "content": "x = 3\n"])).isError)
        #expect(!(await call(tools, "write_file", ["path": "new.py", "content": "z = 1\n"])).isError)
    }
}
