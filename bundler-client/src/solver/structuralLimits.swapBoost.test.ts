import { describe, expect, test } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { solve } from "./solver.js"
import { BUY_CURVE, TEST_COSTS, checkInputPlan, makePolicy } from "./testing.js"
import type { Plan, SolverInput, SubAccountInput } from "./types.js"

// Review rev11t (issue 11 item 10, held-out): the structural limits with swap BOOSTS. `n` sub-accounts sharing USDC,
// each above its band with boosts and swaps allowed and a buying curve, no pool and no idle funds (only a swap boost
// serves them). The module takes at most MAX_SUB_ACCOUNTS (8) per operation: the solver should boost as many as fit
// (the highest first) and leave the rest for the next operation, not drop every boost.

function above(k: number, health: number): SubAccountInput {
  const id = `0x${(k + 1).toString(16).padStart(64, "0")}`
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swapBuy: BUY_CURVE,
  }
}

describe("swap boosts over the module's structural limits", () => {
  for (const n of [8, 9, 12])
    test(`${n} sub-accounts above their band, swap boosts only: a plan within the limits boosting min(n, 8), the highest first`, () => {
      const subAccounts = Array.from({ length: n }, (_, k) => above(k, 2 + k * 0.05))
      const input: SolverInput = { now: 1_700_000_000, subAccounts, pools: [], idle: {}, costs: TEST_COSTS, mode: "threshold" }
      const { plan, outcomes } = solve(input)
      const summary = JSON.stringify(outcomes.map((o) => o.reason))
      expect(plan, summary).toBeDefined()
      const p = plan as Plan
      expect(p.subAccounts.length).toBe(Math.min(n, Number(MAX_SUB_ACCOUNTS)))
      expect(p.actions.length).toBeLessThanOrEqual(Number(MAX_ACTIONS))
      expect(checkInputPlan(input, p).violations).toEqual([])
      // Most urgent first: the highest healths (furthest above the band) are in; the lowest is left for the next.
      if (n > Number(MAX_SUB_ACCOUNTS)) {
        expect(p.subAccounts).toContain(subAccounts[n - 1]?.state.id)
        expect(p.subAccounts).not.toContain(subAccounts[0]?.state.id)
        expect(outcomes[0]?.reason).toMatch(/left for the next operation/)
      }
    })
})
