import Foundation

/// One run of the project's test command, and what it says.
public struct TestRun: Sendable, Hashable {
    public var command: String
    public var exitCode: Int32?
    public var timedOut: Bool
    public var durationSeconds: Double
    public var output: String
    /// Files the run made, changed or deleted in the work tree, put back after it (`WorkTreeState`): not part of the
    /// change, and not there for the next run.
    public var tidied: [String] = []

    public var passed: Bool { exitCode == 0 && !timedOut }

    /// The runner's own summary line ("3 passed, 1 failed in 0.12s"), if it printed one.
    public var summaryLine: String? {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "= ")) }
        // unittest: "Ran 4 tests in 0.001s" then "OK" or "FAILED (failures=1)".
        if let ran = lines.last(where: { $0.hasPrefix("Ran ") && $0.contains(" test") }),
            let verdict = lines.last(where: { $0 == "OK" || $0.hasPrefix("OK (") || $0.hasPrefix("FAILED (") })
        {
            return "\(ran): \(verdict)"
        }
        let pattern = #"\d+ (passed|failed|errors?|tests?|skipped|xfailed|FAILED)"#
        return lines.last { $0.range(of: pattern, options: .regularExpression) != nil }
    }

    /// The sentence a failed verification puts before the tests' own description (`describe` always starts with its
    /// `[status]`), as a sentence for the model; nil when the detail is the description alone.
    public static func verdict(in detail: String) -> String? {
        guard let first = detail.split(separator: "\n").first, !first.hasPrefix("[") else { return nil }
        return first.prefix(1).uppercased() + first.dropFirst() + (first.hasSuffix(".") ? "" : ".")
    }

    /// A short description for the model and the report; it starts with the run's `[status]`.
    public func describe(tailBytes: Int = 2_000) -> String {
        let status =
            timedOut ? "timed out after \(Int(durationSeconds))s" : "exit code \(exitCode.map(String.init) ?? "?")"
        var text = "[\(status)]" + (summaryLine.map { " \($0)" } ?? "")
        if !passed {
            let tail = String(decoding: Array(output.utf8).suffix(tailBytes), as: UTF8.self)
            text += "\n" + tail
        }
        return text
    }

    public var json: JSONValue {
        [
            "command": .string(command), "exit_code": exitCode.map { .number(Double($0)) } ?? .null,
            "timed_out": .bool(timedOut), "duration_s": .number(durationSeconds), "passed": .bool(passed),
            "summary": summaryLine.map { .string($0) } ?? .null,
        ]
    }

    public init(command: String, exitCode: Int32?, timedOut: Bool, durationSeconds: Double, output: String) {
        self.command = command
        self.exitCode = exitCode
        self.timedOut = timedOut
        self.durationSeconds = durationSeconds
        self.output = output
    }
}
