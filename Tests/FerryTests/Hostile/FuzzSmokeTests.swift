import FerryFuzz
import Testing

/// The fuzz targets' properties over a few thousand seeded hostile inputs each (the full run is `make fuzz`). A
/// violation here is a parser answering hostile input with something impossible: a file outside the allowed set,
/// arguments that are not an object, an edit reported at a line the file does not have.
@Suite struct FuzzSmokeTests {
    @Test(arguments: FuzzTarget.allCases)
    func everyInputGetsAnAnswerThatKeepsTheProperties(target: FuzzTarget) {
        let report = Fuzzer.run(target, count: 2_000, seed: 42)
        #expect(report.executions == 2_000)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(3).map { "\($0.problem): \($0.input.prefix(200).debugDescription)" })")
        // The mutations reach more than one kind of answer, or the generator is not doing its job.
        #expect(report.outcomes.count >= 2)
    }

    @Test func theSameSeedGivesTheSameInputs() {
        var a = HostileText(seed: 7)
        var b = HostileText(seed: 7)
        let inputs = (0..<20).map { _ in (a.mutate("calc.py\n```python\nx\n```", corpus: ["{}"]), b.mutate("calc.py\n```python\nx\n```", corpus: ["{}"])) }
        #expect(inputs.allSatisfy { $0.0 == $0.1 })
        #expect(Set(inputs.map(\.0)).count > 5)
    }
}
