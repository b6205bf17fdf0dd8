import Foundation

/// Finds the command that runs a project's tests, from the files at its root.
public enum TestCommand {
    /// The command most likely to run the project's tests.
    public static func detect(in root: String) -> String? { candidates(in: root).first }

    /// Every command that may run the project's tests, the most likely first. A project's `make test` often needs
    /// what the sandbox lacks (`uv`, `tox` or `poetry` and the network to fetch with, a container); the run falls
    /// back to the next when a command cannot start (`RunMachine.isUnusable`).
    public static func candidates(in root: String) -> [String] {
        var found: [String] = []
        if let makefile = read(root, "Makefile") ?? read(root, "makefile"),
            makefile.split(separator: "\n").contains(where: { $0.hasPrefix("test:") })
        {
            found.append("make test")
        }
        if let manifest = manifestCommand(in: root) { found.append(manifest) }
        return found
    }

    /// The test command the project's manifest or layout implies.
    static func manifestCommand(in root: String) -> String? {
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + name) }
        if let package = read(root, "package.json"),
            let json = try? JSONSerialization.jsonObject(with: Data(package.utf8))
                as? [String: Any], let scripts = json["scripts"] as? [String: Any],
            let test = scripts["test"] as? String,
            !test.contains("no test specified")
        {
            return "npm test --silent"
        }
        if exists("Package.swift") { return "swift test" }
        if exists("Cargo.toml") { return "cargo test" }
        if exists("go.mod") { return "go test ./..." }
        // A test script by one of the usual names (shell projects have no manifest to ask).
        for script in [
            "test.sh", "run_tests.sh", "tests/run.sh", "tests/run_tests.sh", "scripts/test.sh", "script/test",
        ]
        where exists(script) {
            return "bash \(script)"
        }
        let pythonMarkers = ["pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", "setup.py", "conftest.py"]
        if pythonMarkers.contains(where: exists) || hasPythonTests(root) {
            // A src layout's package is importable only once installed, which the sandbox cannot do; without the
            // path, the tests would import whatever copy the machine has installed (or none) instead of the code
            // being changed.
            return (hasSourceLayout(root) ? "PYTHONPATH=src " : "") + "python3 -m pytest -q -p no:cacheprovider"
        }
        return nil
    }

    static func read(_ root: String, _ name: String) -> String? {
        FileManager.default.contents(atPath: root + "/" + name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `src/` holds a Python package or module (the "src layout").
    static func hasSourceLayout(_ root: String) -> Bool {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: root + "/src")) ?? []
        return names.contains { name in
            name.hasSuffix(".py") || fm.fileExists(atPath: root + "/src/" + name + "/__init__.py")
        }
    }

    static func hasPythonTests(_ root: String) -> Bool {
        let fm = FileManager.default
        for directory in ["", "tests", "test"] {
            let path = directory.isEmpty ? root : root + "/" + directory
            let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if names.contains(where: { ($0.hasPrefix("test_") || $0.hasSuffix("_test.py")) && $0.hasSuffix(".py") }) {
                return true
            }
        }
        return false
    }
}
