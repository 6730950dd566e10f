import { describe, expect, it } from "vitest"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SubAccountInput } from "./types.js"

// Review rev11 (issue 11 item 1, float amounts): a rescue funded by several sources (donors' borrows, pool withdrawals)
// is one repayment of their float sum (`fund` folds them), floored once to base units, while each source is floored
// on its own: the repayment can ask a few base units more than the sources bring. The solver's own rule check then
// refuses the plan (`ActionFailed`: the Safe holds 2 units less than the repay) and drops the target: no rescue at all.

function sub(id: string, health: number, collateral: number, loanDecimals = 6): SubAccountInput {
  const price = 3000
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}

const solveFor = (donors: SubAccountInput[], low = sub("low", 1.05, 10)) => solve({ now: 1_700_000_000, subAccounts: [low, ...donors], pools: [], idle: {}, costs: TEST_COSTS })

describe("a rescue funded by several donors: the folded repayment is what the sources bring, in base units", () => {
  it("three small donors and two large ones (6 decimals): the rescue is planned, its repay within the borrows", () => {
    const r = solveFor([sub("d0", 1.65, 0.3), sub("d1", 1.65, 0.3), sub("d2", 1.65, 0.3), sub("big1", 1.65, 6), sub("big2", 1.65, 6)])
    expect(r.outcomes[0]?.reason).toMatch(/^below band: deleverage/)
    const borrowed = (r.plan?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amountBase, 0n)
    const repaid = (r.plan?.actions ?? []).filter((a) => a.kind === "Repay").reduce((t, a) => t + a.amountBase, 0n)
    expect(repaid).toBeGreaterThan(0n)
    expect(repaid).toBeLessThanOrEqual(borrowed)
  })

  it("two donors of many sizes, 6, 8 and 18 decimals: every rescue the donors can fund is planned", () => {
    const refused: string[] = []
    for (const decimals of [6, 8, 18])
      for (let k = 0; k < 40; k++) {
        const a = 4 + k * 0.137
        const b = 6 + k * 0.291
        const r = solveFor([sub("d0", 1.65, a, decimals), sub("d1", 1.65, b, decimals)], sub("low", 1.05, 10, decimals))
        if (!r.plan) refused.push(`${decimals} decimals, donors ${a.toFixed(3)} / ${b.toFixed(3)} WETH: ${r.outcomes[0]?.reason}`)
      }
    expect(refused).toEqual([])
  })
})
