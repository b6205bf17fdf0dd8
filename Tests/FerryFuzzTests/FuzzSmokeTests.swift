import FerryFuzz
import Foundation
import Testing

/// The fuzz targets' properties over a few thousand seeded hostile inputs each (the full run is `make fuzz`). A
/// violation here is a parser answering hostile input with something impossible: a file outside the allowed set,
/// arguments that are not an object, an edit reported at a line the file does not have.
@Suite struct FuzzSmokeTests {
    /// Runs on a thread of its own: seconds of CPU on the concurrency pool would starve the suite's other tests.
    static func fuzz(_ target: FuzzTarget, count: Int, seed: UInt64) async -> FuzzReport {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Fuzzer.run(target, count: count, seed: seed)) }.start()
        }
    }

    /// The three targets one after another on one thread: a few seconds of one core, not the whole machine.
    @Test func everyInputGetsAnAnswerThatKeepsTheProperties() async {
        for target in FuzzTarget.allCases {
            let report = await Self.fuzz(target, count: 400, seed: 42)
            #expect(report.executions == 400)
            #expect(
                report.violations.isEmpty,
                "\(target): \(report.violations.prefix(3).map { "\($0.problem): \($0.input.prefix(200).debugDescription)" })"
            )
            // The mutations reach more than one kind of answer, or the generator is not doing its job.
            #expect(report.outcomes.count >= 2, "\(target): \(report.outcomes)")
        }
    }

    @Test func theSameSeedGivesTheSameInputs() {
        var a = HostileText(seed: 7)
        var b = HostileText(seed: 7)
        let inputs = (0..<20).map { _ in
            (
                a.mutate("calc.py\n```python\nx\n```", corpus: ["{}"]),
                b.mutate("calc.py\n```python\nx\n```", corpus: ["{}"])
            )
        }
        #expect(inputs.allSatisfy { $0.0 == $0.1 })
        #expect(Set(inputs.map(\.0)).count > 5)
    }
}
