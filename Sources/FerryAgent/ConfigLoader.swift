import FerryCore
import FerryModels
import Foundation
import TOMLKit

/// Reads the TOML files into a `FerryConfig`, checking every key: an unknown key, a wrong type or a bad value is
/// an error that names the file, the key and the fix.
public enum ConfigLoader {
    public static func load(
        repo: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        userConfigPath: String? = nil
    ) throws -> FerryConfig {
        var config = FerryConfig(dataDirectory: FerryConfig.defaultDataDirectory(environment: environment))
        let userPath = userConfigPath ?? FerryConfig.userConfigPath(environment: environment)
        if FileManager.default.fileExists(atPath: userPath) {
            try apply(file: userPath, scope: .user, to: &config)
        }
        if let repo {
            let repoPath = repo + "/.ferry/config.toml"
            if FileManager.default.fileExists(atPath: repoPath) {
                try apply(file: repoPath, scope: .repo, to: &config)
            }
        }
        try applyEnvironment(environment, to: &config)
        try config.validate()
        return config
    }

    enum Scope { case user, repo }

    /// A repository's `.ferry/config.toml` given as text (a team server reads it at the task's base ref), applied
    /// with the same rules as for `ferry run`: no model profiles, and a sandbox that may only get stricter. `label`
    /// names it in errors and warnings.
    public static func applyRepository(text: String, label: String, to config: inout FerryConfig) throws {
        try apply(text: text, file: label, scope: .repo, to: &config)
    }

    /// A team server's config for one task, layered in the one order the server uses: its own (user config,
    /// environment and flags, `server`), then the repository's `.ferry/config.toml` at the task's base (`repository`,
    /// with `label` naming it; the rules of `ferry run`: its limits and sandbox may only tighten), then the project's
    /// test command, then the task's cost cap, which may only lower the limit.
    public static func forTask(
        _ server: FerryConfig, repository: String?, label: String, testCommand: String?, maxCostUSD: Double?
    ) throws -> FerryConfig {
        var config = server
        if let repository { try applyRepository(text: repository, label: label, to: &config) }
        if let testCommand { config.testCommand = testCommand }
        if let maxCostUSD { config.limits.maxCostUSD = min(maxCostUSD, config.limits.maxCostUSD ?? maxCostUSD) }
        return config
    }

    static func apply(file: String, scope: Scope, to config: inout FerryConfig) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FerryError(.config, "\(file): cannot read the file")
        }
        try apply(text: String(decoding: data, as: UTF8.self), file: file, scope: scope, to: &config)
    }

    static func apply(text: String, file: String, scope: Scope, to config: inout FerryConfig) throws {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw FerryError(
                .config,
                "\(file):\(error.source.begin.line):\(error.source.begin.column): invalid TOML: \(error.description)")
        } catch {
            throw FerryError(.config, "\(file): invalid TOML: \(error)")
        }
        var reader = TableReader(file: file, path: "", table: table)
        config.sources.append(file)

        if let name = try reader.string("default_model") { config.defaultModel = name }
        // Each table by its own rules; every one rejects keys it does not know (`finish`).
        let tables: [(String, (inout TableReader, String, Scope, inout FerryConfig) throws -> Void)] = [
            ("models", applyModels), ("project", applyProject), ("agent", applyAgent), ("limits", applyLimits),
            ("sandbox", applySandbox), ("server", applyServer), ("mcp", applyMCP),
        ]
        for (name, apply) in tables {
            guard var section = try reader.table(name) else { continue }
            try apply(&section, file, scope, &config)
            try section.finish()
        }
        try reader.finish()
    }

    static func applyEnvironment(_ environment: [String: String], to config: inout FerryConfig) throws {
        func number(_ name: String) throws -> Double? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Double(text) else {
                throw FerryError(.config, "$\(name) is '\(text)', which is not a number")
            }
            return value
        }
        if let model = environment["FERRY_MODEL"], !model.isEmpty { config.defaultModel = model }
        if let command = environment["FERRY_TEST_COMMAND"], !command.isEmpty { config.testCommand = command }
        if let steps = try number("FERRY_MAX_STEPS") { config.limits.maxSteps = Int(steps) }
        if let cost = try number("FERRY_MAX_COST") { config.limits.maxCostUSD = cost }
        if let time = try number("FERRY_MAX_TIME") { config.limits.maxTimeSeconds = time }
        if let mode = environment["FERRY_SANDBOX"], !mode.isEmpty {
            guard let parsed = FerryConfig.SandboxMode(rawValue: mode) else {
                throw FerryError(.config, "$FERRY_SANDBOX is '\(mode)'; use bubblewrap or none")
            }
            config.sandbox = parsed
            config.sandboxSource = "$FERRY_SANDBOX"
        }
        if let data = environment["FERRY_DATA_DIR"], !data.isEmpty { config.dataDirectory = data }
    }
}

/// Reads keys from one TOML table, remembering which were read, so `finish` can reject the rest as unknown.
struct TableReader {
    let file: String
    let path: String
    let table: TOMLTable
    private var used: Set<String> = []

    init(file: String, path: String, table: TOMLTable) {
        self.file = file
        self.path = path
        self.table = table
    }

    private func key(_ name: String) -> String { path.isEmpty ? name : path + "." + name }

    private func typeError(_ name: String, expected: String, got value: any TOMLValueConvertible) -> FerryError {
        FerryError(
            .config,
            "\(file): \(key(name)) must be \(expected), not \(value.type) (\(value.debugDescription)). "
                + "Fix: write it as \(expected == "a string" ? "\(name) = \"…\"" : "\(name) = <\(expected)>")")
    }

    mutating func string(_ name: String) throws -> String? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let string = value.string else { throw typeError(name, expected: "a string", got: value) }
        return string
    }

    mutating func integer(_ name: String) throws -> Int? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let int = value.int else { throw typeError(name, expected: "an integer", got: value) }
        return int
    }

    mutating func number(_ name: String) throws -> Double? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        if let double = value.double { return double }
        if let int = value.int { return Double(int) }
        throw typeError(name, expected: "a number", got: value)
    }

    mutating func bool(_ name: String) throws -> Bool? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let bool = value.bool else { throw typeError(name, expected: "true or false", got: value) }
        return bool
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws -> T?
    where T.RawValue == String {
        guard let text = try string(name) else { return nil }
        guard let value = T(rawValue: text) else {
            let options = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw FerryError(.config, "\(file): \(key(name)) is \"\(text)\". Fix: use one of \(options)")
        }
        return value
    }

    mutating func integerArray(_ name: String) throws -> [Int]? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let array = value.array else { throw typeError(name, expected: "an array of integers", got: value) }
        var integers: [Int] = []
        for element in array {
            guard let int = element.int else { throw typeError(name, expected: "an array of integers", got: value) }
            integers.append(int)
        }
        return integers
    }

    mutating func stringArray(_ name: String) throws -> [String]? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let array = value.array else { throw typeError(name, expected: "an array of strings", got: value) }
        var strings: [String] = []
        for element in array {
            guard let string = element.string else {
                throw typeError(name, expected: "an array of strings", got: value)
            }
            strings.append(string)
        }
        return strings
    }

    mutating func table(_ name: String) throws -> TableReader? {
        guard let value = table[name] else { return nil }
        used.insert(name)
        guard let inner = value.table else { throw typeError(name, expected: "a table", got: value) }
        return TableReader(file: file, path: key(name), table: inner)
    }

    /// Throws for the first key that was never read.
    func finish() throws {
        if let unknown = table.keys.sorted().first(where: { !used.contains($0) }) {
            let known = used.isEmpty ? "" : " (known here: \(used.sorted().joined(separator: ", ")))"
            throw FerryError(
                .config, "\(file): unknown key '\(key(unknown))'\(known). Fix: remove it or check its spelling")
        }
    }
}
