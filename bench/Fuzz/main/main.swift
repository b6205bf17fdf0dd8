import FerryFuzz
import Foundation

// ferry-fuzz [count per target] [seed]: runs the seeded hostile-input generator against the text tool protocol parser,
// the whole-file reply parser and the edit matcher. Exit 1 when any answer breaks a property; a hang shows as an
// input that never returns (the watchdog names the target and aborts after 30 s on one input).
let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 20_000 : 20_000
let seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1

var failed = false
print("target          execs   exec/s   slowest ms (bytes)   largest input   outcome classes   violations")
for target in FuzzTarget.allCases {
    let report = Fuzzer.run(target, count: count, seed: seed)
    let rate = Double(report.executions) / max(report.seconds, 1e-9)
    print(
        target.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
            + String(
                format: "%7d %8.0f %12.1f (%d) %14d %17d %12d", report.executions, rate, report.slowestMilliseconds,
                report.slowestInputBytes, report.largestInputBytes, report.outcomes.count, report.violations.count))
    for (outcome, n) in report.outcomes.sorted(by: { $0.key < $1.key }) { print("    \(outcome): \(n)") }
    print("    slowest input begins: \(report.slowestInput.prefix(120).debugDescription)")
    for violation in report.violations.prefix(5) {
        failed = true
        print("  VIOLATION: \(violation.problem)\n    input: \(String(violation.input.prefix(300)).debugDescription)")
    }
}
exit(failed ? 1 : 0)
