import FerryCore
import FerrySandbox
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// What a command leaves in the work tree is taken away again, and the change made before it is kept: real git, real
/// files, and the real sandbox for the command.
@Suite struct WorkTreeStateTests {
    static let files = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "README.md": "# calc\n",
        "data/table.csv": "a,b\n1,2\n",
        "NOTES.txt": "notes\n",
        ".gitignore": "cache/\n",
    ]

    func read(_ root: String, _ path: String) -> String? {
        FileManager.default.contents(atPath: root + "/" + path).map { String(decoding: $0, as: UTF8.self) }
    }

    func exists(_ root: String, _ path: String) -> Bool {
        var info = stat()
        return lstat(root + "/" + path, &info) == 0
    }

    /// Runs `script` in the sandbox in `root`, as a test command runs.
    func sandboxed(_ script: String, in root: String) async throws {
        let runner = try BubblewrapRunner(policy: SandboxPolicy(workspace: root))
        let result = try await runner.run(
            CommandRequest(script: script, workingDirectory: root, timeoutSeconds: 30, outputLimit: 4_000))
        #expect(result.exitCode == 0, "\(result.output)")
    }

    @Test func whatACommandLeavesIsTakenAwayAndTheChangeBeforeItKept() async throws {
        let root = try await FixtureRepo.make(Self.files)
        let git = Git(root)
        // The change: one file edited, one new, one deleted.
        try "def add(a, b):\n    return a + b\n".write(toFile: root + "/calc.py", atomically: true, encoding: .utf8)
        try "def test_add():\n    pass\n".write(toFile: root + "/test_new.py", atomically: true, encoding: .utf8)
        try "draft\n".write(toFile: root + "/draft.txt", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/test_new.py")
        try FileManager.default.removeItem(atPath: root + "/data/table.csv")
        let state = try await WorkTreeState.take(git)

        // The command makes files (one in a new folder, one ignored), edits the change and an untouched file,
        // deletes another, and puts the deleted one back with other contents.
        try await sandboxed(
            """
            echo log > run.log
            mkdir -p out/deep && echo x > out/deep/result.txt
            mkdir -p cache && echo keep > cache/entry
            echo '# reformatted' > calc.py
            echo 'edited by the command' >> test_new.py
            echo changed >> README.md
            rm NOTES.txt draft.txt
            echo 'z,z' > data/table.csv
            ln -s /etc/hostname link
            """, in: root)

        let restored = try await state.restore(git)
        #expect(
            restored == [
                "NOTES.txt", "README.md", "calc.py", "data/table.csv", "draft.txt", "link", "out/deep/result.txt",
                "run.log",
                "test_new.py",
            ])
        #expect(read(root, "calc.py") == "def add(a, b):\n    return a + b\n")
        #expect(read(root, "test_new.py") == "def test_add():\n    pass\n")
        let mode = try FileManager.default.attributesOfItem(atPath: root + "/test_new.py")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(read(root, "README.md") == "# calc\n")
        #expect(read(root, "NOTES.txt") == "notes\n")
        #expect(read(root, "draft.txt") == "draft\n")
        #expect(!exists(root, "data/table.csv"))
        #expect(!exists(root, "run.log") && !exists(root, "out/deep/result.txt") && !exists(root, "link"))
        // What git ignores is the tests' own to keep.
        #expect(read(root, "cache/entry") == "keep\n")
        // git sees exactly the change.
        let status = try await git.run("status", "--porcelain", "--untracked-files=all")
        #expect(
            status.split(separator: "\n").sorted() == [
                " D data/table.csv", " M calc.py", "?? draft.txt", "?? test_new.py",
            ])
        // Nothing left to put back.
        #expect(try await state.restore(git).isEmpty)
    }

    /// The tree is put back from outside the sandbox: a folder the command replaced with a link to elsewhere is
    /// never written through. A new link is removed before the files under it are put back; one that git ignores
    /// (the command also listed it in `.gitignore`) is not listed, so it is still there when they are.
    @Test func nothingIsPutBackThroughALinkTheCommandMade() async throws {
        for hidden in [false, true] {
            let root = try await FixtureRepo.make(Self.files)
            let outside = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-outside-\(UUID().uuidString.prefix(8))"
            ).path
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try "precious\n".write(toFile: outside + "/table.csv", atomically: true, encoding: .utf8)
            let git = Git(root)
            try "a,b\n3,4\n".write(toFile: root + "/data/table.csv", atomically: true, encoding: .utf8)
            let state = try await WorkTreeState.take(git)

            try await sandboxed(
                "rm -rf data && ln -s \(outside) data" + (hidden ? " && echo data >> .gitignore" : ""), in: root)

            let restored = try await state.restore(git)
            #expect(read(outside, "table.csv") == "precious\n")
            #expect(read(root, ".gitignore") == "cache/\n")
            if hidden {
                #expect(!restored.contains("data/table.csv"))
            } else {
                // The link itself was new, so it went; the change to the file it hid could then come back.
                #expect(restored == ["data", "data/table.csv"])
                #expect(read(root, "data/table.csv") == "a,b\n3,4\n")
            }
        }
    }
}
