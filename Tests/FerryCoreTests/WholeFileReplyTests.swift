import FerryCore
import Testing

@Suite struct WholeFileReplyTests {
    static let calc = "def add(a, b):\n    return a - b\n"
    static let allowed = ["calc.py": calc, "src/util/strings.py": "def up(s):\n    return s\n"]

    @Test func pathLineThenFence() {
        let reply = WholeFileReply.parse(
            "Here is the fix.\n\ncalc.py\n```python\ndef add(a, b):\n    return a + b\n```\nadd() now adds.",
            allowed: Self.allowed)
        #expect(reply.files == [.init(path: "calc.py", content: "def add(a, b):\n    return a + b\n")])
        #expect(reply.problems.isEmpty)
    }

    @Test func decoratedPathLinesAndInfoStrings() {
        for text in [
            "**calc.py**\n```python\nX\n```", "### `calc.py`:\n\n```\nX\n```", "File: ./calc.py\n```py\nX\n```",
            "```python calc.py\nX\n```", "```\ncalc.py\n```python\nX\n```",
        ] {
            let reply = WholeFileReply.parse(text, allowed: Self.allowed)
            #expect(reply.files == [.init(path: "calc.py", content: "X\n")], "\(text)")
        }
    }

    @Test func aFileNameMatchesTheOneFileWithThatEnding() {
        let reply = WholeFileReply.parse(
            "strings.py\n```python\ndef up(s):\n    return s.upper()\n```", allowed: Self.allowed)
        #expect(reply.files.map(\.path) == ["src/util/strings.py"])
    }

    @Test func oneUnnamedBlockIsTheOneFileGiven() {
        let one = ["calc.py": Self.calc]
        #expect(WholeFileReply.parse("```python\nY\n```", allowed: one).files.map(\.path) == ["calc.py"])
        // With two files it cannot be told which, and a shell block is not a Python file.
        #expect(WholeFileReply.parse("```python\nY\n```", allowed: Self.allowed).files.isEmpty)
        #expect(WholeFileReply.parse("```bash\npython3 -m unittest\n```", allowed: one).files.isEmpty)
        // But it is a shell script, and a numbered path line names it.
        let script = ["bin/greet.sh": "#!/usr/bin/env bash\necho \"Hello, $1!\"\n"]
        #expect(WholeFileReply.parse("```bash\n#!/usr/bin/env bash\necho hi\n```", allowed: script).files.count == 1)
        #expect(
            WholeFileReply.parse("Files:\n\n1. `bin/greet.sh`\n```bash\necho hi\n```", allowed: script).files.first?
                .path == "bin/greet.sh")
    }

    @Test func withOneFileTheFirstUnnamedBlockCarryingItsDefinitionIsIt() {
        let one = ["calc.py": Self.calc]
        let reply = WholeFileReply.parse(
            "The fix:\n\n```python\nimport math\n```\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThen:\n```python\n# Task\ndef add(a, b):\n```",
            allowed: one)
        #expect(reply.files == [.init(path: "calc.py", content: "def add(a, b):\n    return a + b\n")])
        // Named blocks win over guessing.
        let named = WholeFileReply.parse(
            "```python\ndef add(a, b):\n    pass\n```\ncalc.py\n```python\nZ\n```", allowed: one)
        #expect(named.files.map(\.content) == ["Z\n"])
    }

    @Test func unknownPathsCutOffBlocksAndElisionsAreRefused() {
        let other = WholeFileReply.parse("tests/test_calc.py\n```python\nimport calc\n```", allowed: Self.allowed)
        #expect(other.files.isEmpty)
        #expect(other.problems.first?.contains("tests/test_calc.py is not one of the files") == true)

        let cut = WholeFileReply.parse("calc.py\n```python\ndef add(a, b):\n    return a +", allowed: Self.allowed)
        #expect(cut.files.isEmpty)
        #expect(cut.problems.first?.contains("cut off") == true)

        for elided in ["    # ... rest of the code ...", "    // existing code unchanged", "..."] {
            let reply = WholeFileReply.parse(
                "calc.py\n```python\ndef add(a, b):\n\(elided)\n```", allowed: Self.allowed)
            #expect(reply.files.isEmpty, "\(elided)")
            #expect(reply.problems.first?.contains("leaves code out") == true)
        }
        // `...` that the file itself has (a Python stub) is code, not an elision.
        let stub = ["p.py": "class P:\n    ...\n"]
        #expect(
            WholeFileReply.parse("p.py\n```python\nclass P:\n    ...\n\nx = 1\n```", allowed: stub).files.count == 1)
    }

    @Test func aBlockMuchShorterThanTheFileIsAFragment() {
        let long = (1...20).map { "def f\($0)():\n    return \($0)\n" }.joined()
        let reply = WholeFileReply.parse("m.py\n```python\ndef f3():\n    return 4\n```", allowed: ["m.py": long])
        #expect(reply.files.isEmpty)
        #expect(reply.problems.first?.contains("has 2 lines but the file has 40") == true)
    }

    @Test func aWhollyIndentedCopyIsDedented() {
        let script = ["bin/b.sh": "#!/usr/bin/env bash\nset -eu\ncp $1 $1.bak\n"]
        let reply = WholeFileReply.parse(
            "bin/b.sh\n```bash\n    #!/usr/bin/env bash\n    set -eu\n\n    cp \"$1\" \"$1.bak\"\n```", allowed: script)
        #expect(reply.files.first?.content == "#!/usr/bin/env bash\nset -eu\n\ncp \"$1\" \"$1.bak\"\n")
        // A file whose lines are all indented anyway keeps them.
        let nested = ["n.txt": "  a\n  b\n"]
        #expect(WholeFileReply.parse("n.txt\n```\n  a\n  c\n```", allowed: nested).files.first?.content == "  a\n  c\n")
    }

    @Test func severalFilesInOrder() {
        let reply = WholeFileReply.parse(
            "calc.py\n```\nA\n```\nsrc/util/strings.py\n```\nB\n```", allowed: Self.allowed)
        #expect(reply.files.map(\.path) == ["calc.py", "src/util/strings.py"])
    }
}
