import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { BUY_CURVE, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput } from "./types.js"

function farAbove(epoch: Partial<SolverInput["subAccounts"][number]["epoch"]>, policy: Parameters<typeof makePolicy>[0] = {}): SolverInput {
  return oneSubAccountInput({
    state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / 3, lltv: 0.86, price: 3000 },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400, maxAmountPerRebalance: 5_000, ...policy }),
    epoch: { epoch: Math.floor(1_700_000_000 / 86_400), amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0, ...epoch },
    risk: { sigma: 0.5 },
    swapBuy: BUY_CURVE,
  })
}
describe("rv65b: the cap-bound boost's half share in the solver", () => {
  for (const [name, epoch, policy] of [
    ["count at half (12 of 24)", { rebalancesInEpoch: 12 }, {}],
    ["amount past half (epoch cap 9,000: half 4,500 < 4,975)", {}, { maxAmountPerEpoch: 9_000 }],
    ["amount past half (6,000 used of 20,000)", { amountInEpoch: 6_000 }, { maxAmountPerEpoch: 20_000 }],
  ] as const)
    test(name, () => {
      const input = { ...farAbove(epoch, policy), mode: "autopilot" as const }
      const { plan, outcomes } = solve(input)
      console.log(name, plan ? plan.actions.map((a) => a.kind).join(",") : "no plan", outcomes[0]?.reason)
      if (plan) console.log("  rule book:", JSON.stringify(checkInputPlan(input, plan as Plan).violations))
      // a plan the solver makes must pass the rule book
      if (plan) expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
    })
})
