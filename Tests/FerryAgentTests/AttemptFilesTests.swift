import FerryCore
import FerryModels
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryAgent

@Suite struct AttemptFilesTests {}

extension AttemptFilesTests {
    @Test func theTestFileIsTheOneAboutTheFilesBeingFixed() async throws {
        let files = [
            "bin/greet.sh": "echo hi\n", "tests/test_basic.sh": "test -x bin/greet.sh\n",
            "tests/test_other.sh": "true\n",
            "Sources/Text.swift": "func titleCase() {}\n",
            "tests/visible/main.swift": "assert(titleCase(\"a b\") == \"A B\")\n",
            "grades.py": "def grade(s): pass\n", "tests/test_grades.py": "from grades import grade\n",
            "tests/test_misc.py": "import os\n",
        ]
        let root = try await FixtureRepo.make(files)
        func pick(_ task: String, _ path: String) -> String? {
            let editable = [RelevantFiles.File(path: path, text: files[path]!, score: 10)]
            return AttemptFiles.testFile(
                task: task, editable: editable, files: files.keys.sorted(), root: root, maxOutputTokens: 1024)?.path
        }
        #expect(pick("bin/greet.sh NAME fails without a name", "bin/greet.sh") == "tests/test_basic.sh")
        #expect(
            pick("`titleCase(_:)` in Sources/Text.swift lowercases words", "Sources/Text.swift")
                == "tests/visible/main.swift")
        #expect(pick("grade(score) in grades.py is off by one", "grades.py") == "tests/test_grades.py")
        #expect(pick("nothing relates", "bin/greet.sh") == "tests/test_basic.sh")
        // A fixture file or a helper among the tests names the module too, but no test added there would run.
        let helpers = [
            "src/click/testing.py": "class CliRunner: pass\n",
            "tests/conftest.py": "from click.testing import CliRunner\n",
            "tests/typing/typing_testing.py": "from click.testing import CliRunner\n",
            "tests/files/testing_cli.txt": "CliRunner testing output\n",
            "tests/data/testing.json": "{\"runner\": \"CliRunner\"}\n",
        ]
        let helperRoot = try await FixtureRepo.make(helpers)
        #expect(
            AttemptFiles.testFile(
                task: "CliRunner.isolated_filesystem leaks",
                editable: [
                    RelevantFiles.File(path: "src/click/testing.py", text: helpers["src/click/testing.py"]!, score: 10)
                ],
                files: helpers.keys.sorted(), root: helperRoot, maxOutputTokens: 1024) == nil)
        // Nothing about the file: no test file.
        let lone = try await FixtureRepo.make(["lib.py": "x = 1\n", "tests/test_misc.py": "import os\n"])
        #expect(
            AttemptFiles.testFile(
                task: "x should be 2", editable: [RelevantFiles.File(path: "lib.py", text: "x = 1\n", score: 10)],
                files: ["lib.py", "tests/test_misc.py"], root: lone, maxOutputTokens: 1024) == nil)
    }
}

extension AttemptFilesTests {
    @Test func aTaskInPlainWordsOnAFewSourceFilesUsesThem() async throws {
        let files = [
            "cart.py": "def total(items):\n    return 0\n", "test_cart.py": "import cart\n", "README.md": "# Cart\n",
        ]
        let root = try await FixtureRepo.make(files)
        let chosen = AttemptFiles.smallRepositoryFiles(files: files.keys.sorted(), root: root, maxOutputTokens: 1024)
        #expect(chosen.map(\.path) == ["cart.py"])
        // Too many source files, or one too big to come back whole: none.
        let many = ["a.py", "b.py", "c.py", "d.py"]
        let manyRoot = try await FixtureRepo.make(Dictionary(uniqueKeysWithValues: many.map { ($0, "x = 1\n") }))
        #expect(AttemptFiles.smallRepositoryFiles(files: many, root: manyRoot, maxOutputTokens: 1024).isEmpty)
        let big = try await FixtureRepo.make(["big.py": String(repeating: "x = 1\n", count: 1_000)])
        #expect(AttemptFiles.smallRepositoryFiles(files: ["big.py"], root: big, maxOutputTokens: 1024).isEmpty)
    }

    @Test func examplesInTheDocsAreNotTheSuite() async throws {
        let files = [
            "src/calc.py": "def add(a, b):\n    return a - b\n",
            "doc/en/example/test_calc_example.py":
                "from calc import add\n\ndef test_add():\n    assert add(1, 1) == 2\n",
        ]
        let root = try await FixtureRepo.make(files)
        let editable = [RelevantFiles.File(path: "src/calc.py", text: files["src/calc.py"]!, score: 3)]
        #expect(
            AttemptFiles.testFile(
                task: "add() subtracts", editable: editable, files: Array(files.keys), root: root, maxOutputTokens: 1024
            ) == nil)
        #expect(
            AttemptFiles.isDocumentation("docs/examples/test_x.py") && !AttemptFiles.isDocumentation("tests/test_x.py"))
    }
}
