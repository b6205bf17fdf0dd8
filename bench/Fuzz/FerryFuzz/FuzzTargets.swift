import FerryCore
import FerryModels
import FerryWorkspace
import Foundation

/// The three parsers that read model output, each with the properties every answer must have. A target returns a
/// short outcome class for the report, or throws `Violation` when an answer breaks a property.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case textProtocol = "text-protocol"
    case wholeFile = "whole-file"
    case editMatcher = "edit-matcher"

    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// Valid inputs the mutations start from.
    public var corpus: [String] {
        switch self {
        case .textProtocol: Corpus.replies
        case .wholeFile: Corpus.wholeFileReplies
        case .editMatcher: Corpus.sources
        }
    }

    public func run(_ input: String, generator: inout HostileText) throws -> String {
        switch self {
        case .textProtocol:
            let calls = TextToolProtocol.parseCalls(input)
            var kinds: [String] = []
            for parsed in calls + [TextToolProtocol.parse(input)] {
                switch parsed {
                case .call(let name, let arguments):
                    guard !name.isEmpty else { throw Violation(description: "a call with an empty name") }
                    guard case .object = arguments else {
                        throw Violation(description: "arguments of \(name) are not an object")
                    }
                    kinds.append("call")
                case .error(let message):
                    guard !message.isEmpty else { throw Violation(description: "an error with no message") }
                    kinds.append("error")
                }
            }
            return calls.isEmpty
                ? "no-calls" : "\(min(calls.count, 7))-" + (kinds.contains("error") ? "with-errors" : "calls")
        case .wholeFile:
            let allowed = Corpus.allowedFiles
            let reply = WholeFileReply.parse(input, allowed: allowed)
            var seen: Set<String> = []
            for file in reply.files {
                guard allowed[file.path] != nil else {
                    throw Violation(description: "a file outside the allowed set: \(file.path)")
                }
                guard seen.insert(file.path).inserted else {
                    throw Violation(description: "the same file twice: \(file.path)")
                }
            }
            if reply.problems.contains(where: \.isEmpty) { throw Violation(description: "an empty problem message") }
            return reply.files.isEmpty ? (reply.problems.isEmpty ? "nothing" : "problems") : "files"
        case .editMatcher:
            // The old text is a slice of the file (so exact, whitespace and indentation stages all get exercised),
            // mutated half the time; the new text is anything.
            let source = generator.pick(Corpus.sources)
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            let start = generator.below(lines.count)
            var old = lines[start..<min(lines.count, start + 1 + generator.below(4))].joined(separator: "\n")
            if generator.chance(50) { old = generator.mutate(old, corpus: [source]) }
            let content = generator.chance(20) ? input : source
            do {
                let applied = try EditMatcher.apply(old: old, new: input, to: content)
                // Lines as the matcher counts them: newline bytes (a "\r\n" pair is one Character but one line end).
                let lineCount = content.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                guard applied.line >= 1, applied.line <= lineCount + 1 else {
                    throw Violation(description: "line \(applied.line) outside 1...\(lineCount + 1)")
                }
                if applied.stage == .exact, !input.isEmpty, !applied.content.contains(input) {
                    throw Violation(description: "an exact edit whose result lacks the new text")
                }
                return "applied-\(applied.stage.rawValue)"
            } catch let error as FerryError {
                guard !error.message.isEmpty else { throw Violation(description: "an edit error with no message") }
                return "refused"
            }
        }
    }
}

/// Seeds: replies and files of the shapes the parsers are built for.
public enum Corpus {
    static let calc =
        "def add(a, b):\n    return a - b\n\n\ndef total(items):\n    return sum(i.price for i in items)\n"
    static let cart =
        "class Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, item):\n        self.items.append(item)\n\n    def total(self):\n        if not self.items:\n            return 1\n        return sum(i.price for i in self.items)\n"
    static let script = "#!/usr/bin/env bash\nset -euo pipefail\nname=${1:-world}\necho \"Hello, $name\"\n"
    static let js =
        "export function parse(q) {\n  return Object.fromEntries(q.split('&').map((p) => p.split('=')));\n}\n"

    public static let allowedFiles = ["calc.py": calc, "cart.py": cart, "bin/greet.sh": script, "src/query.js": js]
    public static let sources = [calc, cart, script, js, "", "\n", "x", "a\r\nb\r\n", "\t\tdef f():\n\t\t\treturn 1\n"]

    public static let replies = [
        "I'll read it.\n```json\n{\"tool\": \"read_file\", \"args\": {\"path\": \"calc.py\"}}\n```",
        "<tool_call>\n{\"name\": \"edit_file\", \"arguments\": {\"path\": \"calc.py\", \"old\": \"return a - b\", \"new\": \"return a + b\"}}\n</tool_call>",
        "<tool_call>{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"a\\\"}\"}</tool_call>",
        "Run the tests:\n```bash\npython3 -m pytest -q\n```",
        "calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n",
        "cart.py\n<<<<<<< SEARCH\n            return 1\n=======\n            return 0\n>>>>>>> REPLACE\n\n```json\n{\"tool\": \"finish\", \"args\": {\"summary\": \"fixed\"}}\n```",
        "{\"tool\": \"list_files\", \"args\": {}}",
        "```json\n{\"tool\": \"finish\", \"args\": {\"summary\": \"done\"}}\n```",
        "I think the bug is in cart.py.",
    ]

    public static let wholeFileReplies = [
        "I will make add() add.\n\ncalc.py\n```python\n\(calc.replacingOccurrences(of: "a - b", with: "a + b"))```\n",
        "The empty cart is 0.\n\ncart.py\n```python\n\(cart.replacingOccurrences(of: "return 1", with: "return 0"))```\n",
        "**bin/greet.sh**\n```bash\n\(script)```\n\nsrc/query.js\n```javascript\n\(js)```\n",
        "calc.py\n```python\ndef add(a, b):\n    return a + b\n# ... rest of the code unchanged ...\n```\n",
        "cart.py\n```python\nclass Cart:\n",
    ]
}

/// What a fuzz session found.
public struct FuzzReport: Sendable {
    public var target: FuzzTarget
    public var executions = 0
    public var seconds = 0.0
    public var slowestMilliseconds = 0.0
    public var slowestInputBytes = 0
    public var slowestInput = ""
    public var largestInputBytes = 0
    public var outcomes: [String: Int] = [:]
    public var violations: [(input: String, problem: String)] = []

    public init(target: FuzzTarget) { self.target = target }
}

public enum Fuzzer {
    /// Runs `count` inputs through `target`: the corpus first, then mutations of it (and of earlier inputs that
    /// reached a new outcome class, so the inputs drift toward the parsers' rarer paths).
    public static func run(_ target: FuzzTarget, count: Int, seed: UInt64) -> FuzzReport {
        var generator = HostileText(seed: seed)
        var report = FuzzReport(target: target)
        var pool = target.corpus
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<count {
            let input =
                index < target.corpus.count
                ? target.corpus[index] : generator.mutate(generator.pick(pool), corpus: target.corpus)
            let before = clock.now
            do {
                let outcome = try target.run(input, generator: &generator)
                if report.outcomes[outcome] == nil && input.utf8.count < 20_000 { pool.append(input) }
                report.outcomes[outcome, default: 0] += 1
            } catch {
                report.violations.append((input, "\(error)"))
            }
            let milliseconds =
                Double((clock.now - before).components.attoseconds) / 1e15 + Double(
                    (clock.now - before).components.seconds) * 1000
            if milliseconds > report.slowestMilliseconds {
                report.slowestMilliseconds = milliseconds
                report.slowestInputBytes = input.utf8.count
                report.slowestInput = String(input.prefix(200))
            }
            report.largestInputBytes = max(report.largestInputBytes, input.utf8.count)
            report.executions += 1
        }
        let elapsed = clock.now - started
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }
}
