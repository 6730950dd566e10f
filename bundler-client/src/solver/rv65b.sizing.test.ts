import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { BUY_CURVE, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput } from "./types.js"

// rv65b F2: planSwapBoost's cap-bound bisection starts at `most` (the curve's largest quote within slippage, 1.5M here),
// where the borrow takes health under (1 - l) lltv and `countedAt`'s honest term changes sign (its denominator
// h - (1 - l) lltv < 0): countedAt(hi) < aim, so no cap-bound boost is planned at all. The same position at
// maxSlippageBps 100 is planned (countedAt(hi) happens to be positive there).
function farAbove(health: number, slip: number): SolverInput {
  return oneSubAccountInput({
    state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.7, boostAllowed: true, maxSlippageBps: slip, maxEpochLossBps: 400, maxAmountPerRebalance: 5_000 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swapBuy: BUY_CURVE,
  })
}
describe("rv65b F2: cap-bound swap boost sizing with a deep curve", () => {
  for (const slip of [100, 200, 300])
    for (const h0 of [1.9, 2.0])
      test(`maxSlippageBps ${slip}, health ${h0}: a cap-bound boost is planned and the rule book accepts it`, () => {
        const input = { ...farAbove(h0, slip), mode: "threshold" as const }
        const { plan, outcomes } = solve(input)
        expect(plan, outcomes[0]?.reason).toBeDefined()
        const h = healthOf(applyPlan({ subAccounts: input.subAccounts.map((s) => s.state), pools: [], idle: {} }, plan as Plan).subAccounts[0] as Parameters<typeof healthOf>[0])
        expect(h).toBeGreaterThan(1.7)
        expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
      })
})
