import { describe, expect, it } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { PortfolioState, SolverInput, SubAccountInput } from "./types.js"

// Review rev11 (issue 11 item 10, structural limits, most urgent first): when a plan is over MAX_SUB_ACCOUNTS /
// MAX_ACTIONS the solver leaves out its least urgent target. With ONE target funded by many donors that target is the
// one left out: the Safe's only sub-account in danger gets no plan, although fewer donors (the large ones) fund it
// within the limits.

function sub(id: string, health: number, collateral: number): SubAccountInput {
  const price = 3000
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}

function checked(i: SolverInput, plan: NonNullable<ReturnType<typeof solve>["plan"]>) {
  const pre: PortfolioState = { subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }
  return checkPlanAgainstPolicy({ plan, pre, policies: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.policy])), epochs: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.epoch])), now: i.now })
}

describe("one target, more donors than a plan may list", () => {
  for (const small of [6, 7, 9, 12])
    it(`${small} small donors listed before 2 large ones: the target is rescued within the limits`, () => {
      const donors = [...Array.from({ length: small }, (_, k) => sub(`small${k}`, 1.65, 0.3)), sub("big1", 1.65, 6), sub("big2", 1.65, 6)]
      const i: SolverInput = { now: 1_700_000_000, subAccounts: [sub("low", 1.05, 10), ...donors], pools: [], idle: {}, costs: TEST_COSTS }
      const r = solve(i)
      expect(r.outcomes[0]?.reason).toMatch(/^below band: deleverage/)
      const plan = r.plan as NonNullable<typeof r.plan>
      expect(plan.subAccounts).toContain("low")
      expect(plan.subAccounts.length).toBeLessThanOrEqual(Number(MAX_SUB_ACCOUNTS))
      expect(plan.actions.length).toBeLessThanOrEqual(Number(MAX_ACTIONS))
      expect(checked(i, plan).violations).toEqual([])
      expect(r.outcomes[0]?.healthAfter).toBeGreaterThan(1.15)
    })
})
