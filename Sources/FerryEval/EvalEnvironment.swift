import Crypto
import FerryCore
import FerryWorkspace
import Foundation
import TOMLKit

/// A service started before the hidden tests, inside the same sandbox, and waited for on its loopback port.
public struct EnvironmentService: Codable, Hashable, Sendable {
    public var command: String
    public var port: Int
}

/// The test environment of one group of `repo@version`s: a Python version and pinned requirements.
public struct EnvironmentSpec: Codable, Hashable, Sendable {
    public var repo: String
    public var versions: [String]
    public var python: String
    public var requirements: [String]
    /// Directories of the scoring copy put on PYTHONPATH (the repository is never installed into the venv).
    public var pythonpath: [String]
    public var env: [String: String]
    public var services: [EnvironmentService]
    /// A shell script run in the scoring copy before the tests (`{version}` is the instance's version): what an
    /// install would have generated, such as a version file.
    public var setup: String?

    /// Identifies the venv: any change to the entry builds a new one.
    public var key: String {
        let text = [python, requirements.joined(separator: "\n")].joined(separator: "\n--\n")
        let digest = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        return "py\(python)-\(digest.prefix(12))"
    }
}

/// An instance, or some of its tests, that cannot run here, and why. With no tests named, the whole instance.
public struct Exclusion: Codable, Hashable, Sendable {
    public var reason: String
    public var tests: [String]

    public init(reason: String, tests: [String] = []) {
        self.reason = reason
        self.tests = tests
    }
}

/// `environments.toml`: environment specs per `repo@version` and the explicit exclusion list.
public struct EnvironmentCatalog: Sendable {
    public var environments: [EnvironmentSpec]
    public var exclusions: [String: Exclusion]

    public init(environments: [EnvironmentSpec] = [], exclusions: [String: Exclusion] = [:]) {
        self.environments = environments
        self.exclusions = exclusions
    }

    public static func load(_ path: String) throws -> EnvironmentCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(.usage, "cannot read environment specs \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String = "environments.toml") throws -> EnvironmentCatalog {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw FerryError(.config, "\(file): not valid TOML: \(error)")
        }
        var catalog = EnvironmentCatalog()
        for key in table.keys where key != "environment" && key != "exclude" {
            throw FerryError(.config, "\(file): unknown key '\(key)' (expected [[environment]] and [[exclude]])")
        }
        for (index, item) in (table["environment"]?.array ?? TOMLArray()).enumerated() {
            let place = "\(file): environment #\(index + 1)"
            guard let entry = item.table else { throw FerryError(.config, "\(place) must be a table") }
            let known: Set<String> = [
                "repo", "versions", "python", "requirements", "pythonpath", "env", "services", "setup",
            ]
            if let unknown = entry.keys.first(where: { !known.contains($0) }) {
                throw FerryError(.config, "\(place): unknown key '\(unknown)'")
            }
            guard let repo = entry["repo"]?.string, let python = entry["python"]?.string else {
                throw FerryError(.config, "\(place): needs repo and python")
            }
            func strings(_ name: String) throws -> [String] {
                guard let value = entry[name] else { return [] }
                guard let array = value.array else {
                    throw FerryError(.config, "\(place): \(name) must be a list of strings")
                }
                return try array.map { element in
                    guard let text = element.string else {
                        throw FerryError(.config, "\(place): \(name) must be a list of strings")
                    }
                    return text
                }
            }
            var env: [String: String] = [:]
            if let vars = entry["env"]?.table {
                for (name, value) in vars {
                    guard let text = value.string else {
                        throw FerryError(.config, "\(place): env.\(name) must be a string")
                    }
                    env[name] = text
                }
            }
            var services: [EnvironmentService] = []
            for service in entry["services"]?.array ?? TOMLArray() {
                guard let command = service.table?["command"]?.string, let port = service.table?["port"]?.int else {
                    throw FerryError(.config, "\(place): each service needs command and port")
                }
                services.append(EnvironmentService(command: command, port: port))
            }
            let versions = try strings("versions")
            if versions.isEmpty { throw FerryError(.config, "\(place): versions is empty") }
            catalog.environments.append(
                EnvironmentSpec(
                    repo: repo, versions: versions, python: python, requirements: try strings("requirements"),
                    pythonpath: entry["pythonpath"] == nil ? ["."] : try strings("pythonpath"), env: env,
                    services: services,
                    setup: entry["setup"]?.string))
        }
        for (index, item) in (table["exclude"]?.array ?? TOMLArray()).enumerated() {
            guard let instance = item.table?["instance"]?.string, let reason = item.table?["reason"]?.string,
                !reason.isEmpty
            else {
                throw FerryError(.config, "\(file): exclude #\(index + 1) needs instance and a reason")
            }
            var tests: [String] = []
            for test in item.table?["tests"]?.array ?? TOMLArray() {
                guard let name = test.string else {
                    throw FerryError(.config, "\(file): exclude #\(index + 1): tests must be strings")
                }
                tests.append(name)
            }
            catalog.exclusions[instance] = Exclusion(reason: reason, tests: tests)
        }
        return catalog
    }

    /// The spec for an instance, or nil when its repository has no entry at all (then the suite's own python runs).
    /// A repository with entries but none for this version is an error: running on the wrong pins would be a lie.
    public func spec(for instance: EvalInstance) throws -> EnvironmentSpec? {
        let forRepo = environments.filter { $0.repo == instance.repo }
        guard !forRepo.isEmpty else { return nil }
        guard let version = instance.version, let spec = forRepo.first(where: { $0.versions.contains(version) }) else {
            throw FerryError(
                .config,
                "no environment for \(instance.repo)@\(instance.version ?? "?"): add its version to environments.toml")
        }
        return spec
    }
}

/// A ready venv and what the test command needs to use it.
public struct PreparedEnvironment: Sendable, Hashable {
    public var spec: EnvironmentSpec
    public var venv: String

    public init(spec: EnvironmentSpec, venv: String) {
        self.spec = spec
        self.venv = venv
    }

    /// Variables for the sandbox: the venv first on PATH, the scoring copy's source dirs on PYTHONPATH, the spec's own.
    public func variables(scoringCopy directory: String, hostPath: String?) -> [String: String] {
        var result = spec.env
        result["VIRTUAL_ENV"] = venv
        result["PATH"] = venv + "/bin:" + (hostPath ?? "/usr/local/bin:/usr/bin:/bin")
        result["PYTHONPATH"] = spec.pythonpath.map { $0 == "." ? directory : directory + "/" + $0 }.joined(
            separator: ":")
        return result
    }

    /// The agent's test command for an instance: the venv and source paths set up as for scoring, then the tests
    /// related to the task (`{related_tests}`, filled by the run from its index), never the whole suite, and never
    /// the hidden tests.
    public func agentTestCommand(runner: HiddenTests.Runner, version: String?) -> String {
        var lines = ["export VIRTUAL_ENV=\(shellQuote(venv)) PATH=\(shellQuote(venv + "/bin")):\"$PATH\""]
        lines.append(
            "export PYTHONPATH="
                + spec.pythonpath.map { $0 == "." ? "\"$PWD\"" : "\"$PWD\"/" + shellQuote($0) }.joined(separator: ":"))
        for (key, value) in spec.env.sorted(by: { $0.key < $1.key }) {
            lines.append("export \(key)=\(shellQuote(value))")
        }
        if let setup = spec.setup { lines.append(setup.replacingOccurrences(of: "{version}", with: version ?? "0")) }
        let prologue = lines.joined(separator: "\n") + "\n" + servicesPrologue
        switch runner {
        case .sympy: return prologue + "python bin/test -C {related_tests}"
        default: return prologue + "python -m pytest -q -p no:cacheprovider {related_tests}"
        }
    }

    /// Shell lines that start the services in the background and wait (up to 30 s) until each port answers.
    public var servicesPrologue: String {
        guard !spec.services.isEmpty else { return "" }
        var lines: [String] = []
        for (index, service) in spec.services.enumerated() {
            lines.append("(\(service.command)) >/tmp/ferry-service-\(index).log 2>&1 &")
            lines.append(
                "python -c 'import socket,sys,time\nfor _ in range(300):\n    try: socket.create_connection((\"127.0.0.1\", \(service.port)), 0.2).close(); sys.exit(0)\n    except OSError: time.sleep(0.1)\nsys.exit(1)' || { echo 'service did not start: \(service.command)'; cat /tmp/ferry-service-\(index).log; exit 97; }"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Builds each spec's venv once, on the host (pip needs the network), and reuses it; concurrent requests for the
/// same spec wait for one build. A venv counts as built only when its marker file is written last.
public actor EnvironmentCache {
    public let root: String
    private var building: [String: Task<PreparedEnvironment, any Error>] = [:]
    private let log: @Sendable (String) -> Void

    public init(root: String, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.root = root
        self.log = log
    }

    /// `$XDG_CACHE_HOME/ferry/envs` (default `~/.cache/ferry/envs`).
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        FerryPaths.cache(environment: environment) + "/envs"
    }

    public func prepare(_ spec: EnvironmentSpec) async throws -> PreparedEnvironment {
        if let task = building[spec.key] { return try await task.value }
        let root = self.root
        let log = self.log
        let task = Task { try await Self.build(spec, root: root, log: log) }
        building[spec.key] = task
        do {
            return try await task.value
        } catch {
            building[spec.key] = nil
            throw error
        }
    }

    static func build(_ spec: EnvironmentSpec, root: String, log: @Sendable (String) -> Void) async throws
        -> PreparedEnvironment
    {
        let venv = root + "/" + spec.key
        let marker = venv + "/ferry-env.json"
        let fm = FileManager.default
        let prepared = PreparedEnvironment(spec: spec, venv: venv)
        if fm.fileExists(atPath: marker) { return prepared }
        try? fm.removeItem(atPath: venv)
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let python = try PythonLocator.find(spec.python)
        log(
            "building environment \(spec.key) for \(spec.repo) (Python \(spec.python), \(spec.requirements.count) requirements)"
        )
        let made = try await HostCommand.run(python, ["-m", "venv", venv], in: root)
        guard made.status == 0 else {
            throw FerryError(.io, "could not create a venv with \(python): \(made.stderr.suffix(400))")
        }
        if !spec.requirements.isEmpty {
            let pip = try await HostCommand.run(
                venv + "/bin/python",
                ["-m", "pip", "install", "--disable-pip-version-check", "-q"] + spec.requirements, in: root)
            guard pip.status == 0 else {
                try? fm.removeItem(atPath: venv)
                throw FerryError(
                    .io,
                    "pip could not install the requirements of \(spec.repo) (\(spec.key)): \(pip.stderr.suffix(800))")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(spec).write(to: URL(fileURLWithPath: marker))
        return prepared
    }
}

/// Finds an interpreter for a version like "3.9": `pythonX.Y` in pyenv's versions first (shims can refuse a version
/// that is not selected), then on PATH.
public enum PythonLocator {
    public static func find(_ version: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> String
    {
        let fm = FileManager.default
        let name = "python" + version
        let pyenvRoot = environment["PYENV_ROOT"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.pyenv")
        let installed = ((try? fm.contentsOfDirectory(atPath: pyenvRoot + "/versions")) ?? [])
            .filter { $0 == version || $0.hasPrefix(version + ".") }
            .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
        for candidate in installed {
            let path = pyenvRoot + "/versions/" + candidate + "/bin/" + name
            if fm.isExecutableFile(atPath: path) { return path }
        }
        for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        where !directory.contains("shims") {
            let path = String(directory) + "/" + name
            if fm.isExecutableFile(atPath: path) { return path }
        }
        throw FerryError(
            .config,
            "Python \(version) is not installed: install it (for example `pyenv install \(version)`) or change the spec"
        )
    }
}
