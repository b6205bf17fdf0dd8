import FerryCore
import Foundation

/// One task of a suite, in SWE-bench's JSONL format plus Ferry's optional fields.
public struct EvalInstance: Codable, Hashable, Sendable {
    public var instanceID: String
    /// A local path (a git repository or a plain directory, relative to the suite file), a git URL, or `owner/name`
    /// resolved through `--repos`.
    public var repo: String
    /// Missing for plain-directory repositories, which are committed on the fly.
    public var baseCommit: String?
    public var problemStatement: String
    public var testPatch: String
    public var failToPass: [String]
    public var passToPass: [String]
    /// The reference solution (`--gold` applies it instead of running the agent).
    public var patch: String?
    public var version: String?
    /// A shell command run in the scoring copy before the tests.
    public var setup: String?
    /// How to run one hidden test: a command with `{test}` in it; or, with `test_runner = "pytest"`/`"sympy"`, extra
    /// arguments are not needed.
    public var testCmd: String?
    /// `pytest`, `sympy` or `command`; inferred when missing.
    public var testRunner: String?
    /// The test command the agent itself may use to verify (never the hidden tests). Default: detected.
    public var agentTestCmd: String?

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id"
        case repo
        case baseCommit = "base_commit"
        case problemStatement = "problem_statement"
        case testPatch = "test_patch"
        case failToPass = "FAIL_TO_PASS"
        case passToPass = "PASS_TO_PASS"
        case patch, version, setup
        case testCmd = "test_cmd"
        case testRunner = "test_runner"
        case agentTestCmd = "agent_test_cmd"
    }

    public init(
        instanceID: String, repo: String, baseCommit: String? = nil, problemStatement: String, testPatch: String = "",
        failToPass: [String], passToPass: [String] = [], patch: String? = nil, version: String? = nil,
        setup: String? = nil, testCmd: String? = nil, testRunner: String? = nil, agentTestCmd: String? = nil
    ) {
        self.instanceID = instanceID
        self.repo = repo
        self.baseCommit = baseCommit
        self.problemStatement = problemStatement
        self.testPatch = testPatch
        self.failToPass = failToPass
        self.passToPass = passToPass
        self.patch = patch
        self.version = version
        self.setup = setup
        self.testCmd = testCmd
        self.testRunner = testRunner
        self.agentTestCmd = agentTestCmd
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        instanceID = try c.decode(String.self, forKey: .instanceID)
        repo = try c.decode(String.self, forKey: .repo)
        baseCommit = try c.decodeIfPresent(String.self, forKey: .baseCommit)
        problemStatement = try c.decode(String.self, forKey: .problemStatement)
        testPatch = try c.decodeIfPresent(String.self, forKey: .testPatch) ?? ""
        failToPass = try Self.testList(c, .failToPass)
        passToPass = try Self.testList(c, .passToPass)
        patch = try c.decodeIfPresent(String.self, forKey: .patch)
        version = try Self.lenientString(c, .version)
        setup = try c.decodeIfPresent(String.self, forKey: .setup)
        testCmd = try c.decodeIfPresent(String.self, forKey: .testCmd)
        testRunner = try c.decodeIfPresent(String.self, forKey: .testRunner)
        agentTestCmd = try c.decodeIfPresent(String.self, forKey: .agentTestCmd)
    }

    /// Test lists come as JSON lists or as JSON-encoded strings of lists (as in the SWE-bench dataset files).
    static func testList(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [String] {
        if let list = try? c.decode([String].self, forKey: key) { return list }
        guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return [] }
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        guard let data = text.data(using: .utf8), let list = try? JSONDecoder().decode([String].self, from: data) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "\(key.rawValue) must be a JSON list of test names")
        }
        return list
    }

    static func lenientString(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> String? {
        if let text = try? c.decodeIfPresent(String.self, forKey: key) { return text }
        if let number = try? c.decodeIfPresent(Double.self, forKey: key) { return String(number) }
        return nil
    }

    /// Reads a suite file. A bad line is an error naming the line.
    public static func load(suite path: String) throws -> [EvalInstance] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(.usage, "cannot read suite \(path)")
        }
        var instances: [EvalInstance] = []
        var seen: Set<String> = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("//") { continue }
            do {
                let instance = try JSONDecoder().decode(EvalInstance.self, from: Data(trimmed.utf8))
                guard seen.insert(instance.instanceID).inserted else {
                    throw FerryError(.usage, "duplicate instance_id \(instance.instanceID)")
                }
                instances.append(instance)
            } catch let error as FerryError {
                throw FerryError(.usage, "\(path):\(number + 1): \(error.message)")
            } catch {
                throw FerryError(.usage, "\(path):\(number + 1): not a valid instance: \(Self.describe(error))")
            }
        }
        return instances
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case .dataCorrupted(let context): return context.debugDescription
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
