import FerryCore
import Testing

@Suite struct CascadePolicyTests {
    @Test func anEarlierStageGetsHalfOfWhatIsLeftAndTheLastAllOfIt() {
        let total = AgentLimits(maxSteps: 40, maxCostUSD: 2, maxTimeSeconds: 600)
        let none = CascadePolicy.Spent(steps: 0, costUSD: 0, seconds: 0)
        let first = CascadePolicy.limits(stage: 0, of: 2, total: total, spent: none)
        #expect(first?.maxSteps == 20 && first?.maxCostUSD == 1 && first?.maxTimeSeconds == 300)
        let spent = CascadePolicy.Spent(steps: 12, costUSD: 0.5, seconds: 100)
        let last = CascadePolicy.limits(stage: 1, of: 2, total: total, spent: spent)
        #expect(last?.maxSteps == 28 && last?.maxCostUSD == 1.5 && last?.maxTimeSeconds == 500)
        // Three stages: the middle one gets half of what the first left.
        #expect(CascadePolicy.limits(stage: 1, of: 3, total: total, spent: spent)?.maxSteps == 14)
        // Nothing useful left: no stage.
        #expect(
            CascadePolicy.limits(stage: 1, of: 2, total: total, spent: .init(steps: 38, costUSD: 0, seconds: 0)) == nil)
        #expect(
            CascadePolicy.limits(stage: 1, of: 2, total: total, spent: .init(steps: 1, costUSD: 2, seconds: 0)) == nil)
        #expect(
            CascadePolicy.limits(stage: 1, of: 2, total: total, spent: .init(steps: 1, costUSD: 0, seconds: 600)) == nil
        )
        // Without a cost or time cap, none is made up.
        let open = CascadePolicy.limits(stage: 0, of: 2, total: AgentLimits(maxSteps: 9), spent: none)
        #expect(open?.maxCostUSD == nil && open?.maxTimeSeconds == nil && open?.maxSteps == 4)
        // A small budget still gives an early stage the minimum to work with.
        #expect(CascadePolicy.limits(stage: 0, of: 2, total: AgentLimits(maxSteps: 5), spent: none)?.maxSteps == 3)
    }

    @Test func theNextStageRunsOnlyAfterAnUnprovedEnd() {
        #expect(!CascadePolicy.goesOn(after: .verified, limit: nil))
        #expect(!CascadePolicy.goesOn(after: .interrupted, limit: nil))
        #expect(!CascadePolicy.goesOn(after: .limit, limit: "host"), "the host's budget halted it")
        #expect(CascadePolicy.goesOn(after: .limit, limit: "steps"), "its own share of the steps")
        #expect(
            CascadePolicy.goesOn(after: .unverified, limit: nil) && CascadePolicy.goesOn(after: .failed, limit: nil))
    }

    @Test func theProvedChangeIsChosenElseTheLastChange() {
        #expect(CascadePolicy.chosen([(.unverified, true), (.verified, true)]) == 1)
        #expect(CascadePolicy.chosen([(.unverified, true), (.failed, false)]) == 0)
        #expect(CascadePolicy.chosen([(.unverified, true), (.unverified, true)]) == 1)
        #expect(CascadePolicy.chosen([(.failed, false), (.limit, false)]) == 1)
    }
}
