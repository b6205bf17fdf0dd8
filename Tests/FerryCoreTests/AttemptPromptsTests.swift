import FerryCore
import Testing

@Suite struct AttemptPromptsTests {
    @Test func addedLinesKeepEveryOriginalLineInOrder() {
        let original = "import x\n\nclass T:\n    def test_a(self):\n        assert 1\n"
        #expect(
            AttemptPrompts.addedLines(original: original, new: original + "\n    def test_b(self):\n        assert 2\n")
                == "    def test_b(self):\n        assert 2")
        // Inserted in the middle is still adding.
        #expect(
            AttemptPrompts.addedLines(
                original: original, new: "import x\nimport y\n\nclass T:\n    def test_a(self):\n        assert 1\n")
                == "import y")
        // Changing or dropping a line is not, and neither is adding nothing.
        #expect(
            AttemptPrompts.addedLines(
                original: original, new: original.replacingOccurrences(of: "assert 1", with: "assert 3")) == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: "import x\n") == nil)
        #expect(AttemptPrompts.addedLines(original: original, new: original) == nil)
    }

    @Test func theSummaryIsTheReplysOwnProseWithoutHeadersOrTheExamplesWords() {
        let paths: Set<String> = ["sympy/printing/mathematica.py", "sympy/printing/mathematica.py: mathematica_code"]
        // A small model's reply as seen on SWE-bench: the example's sentence, then a header with a note.
        let copied =
            "I will round the sum to two decimals.\n\nsympy/printing/mathematica.py: mathematica_code (lines 120-131)\n"
            + "```python\ndef mathematica_code(expr, **settings):\n    pass\n```\n"
        #expect(
            AttemptPrompts.summary(of: copied, paths: paths)
                == "Rewrote sympy/printing/mathematica.py, sympy/printing/mathematica.py: mathematica_code.")
        // Its own words stay, and so does a sentence that only starts with a path.
        let own =
            "**sympy/printing/mathematica.py: mathematica_code**\nMax now prints with brackets.\n"
            + "sympy/printing/mathematica.py now handles Max.\n```python\nx = 1\n```\n"
        #expect(
            AttemptPrompts.summary(of: own, paths: paths)
                == "Max now prints with brackets. sympy/printing/mathematica.py now handles Max.")
    }
}

extension AttemptPromptsTests {
    /// A shell test script of top-level checks is asked for a check, not a function nothing would call; a script
    /// with functions or bats blocks, and every other language, keeps the usual request.
    @Test func aShellScriptOfChecksIsAskedForACheck() {
        let script = SourceFile(
            path: "tests/test_basic.sh",
            text: "#!/usr/bin/env bash\nset -e\ncd \"$(dirname \"$0\")/..\"\ntest -x bin/greet.sh\n")
        #expect(AttemptPrompts.reproductionSystem(for: script) == AttemptPrompts.scriptReproductionSystem)
        #expect(AttemptPrompts.scriptReproductionSystem.contains("exit code is the result"))
        let functions = SourceFile(
            path: "tests/run.sh",
            text: "#!/bin/bash\ncheck_name() {\n  test \"$(bin/greet.sh Ada)\" = 'Hello, Ada!'\n}\ncheck_name\n")
        #expect(AttemptPrompts.reproductionSystem(for: functions) == AttemptPrompts.reproductionSystem)
        let bats = SourceFile(path: "test/greet.bash", text: "@test \"greets\" {\n  run bin/greet.sh\n}\n")
        #expect(AttemptPrompts.reproductionSystem(for: bats) == AttemptPrompts.reproductionSystem)
        let python = SourceFile(path: "tests/test_greet.py", text: "from greet import greet\n")
        #expect(AttemptPrompts.reproductionSystem(for: python) == AttemptPrompts.reproductionSystem)
    }
}
