import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { BUY_CURVE, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput } from "./types.js"

/*
 * Issue 13, stop 65 (helper hunt65; module `_checkPostConditions`, SECURITY.md row 154): above the band by more than one
 * rebalance's amount cap can move, every boost at the cap landed above maxHealth and was refused, so no boost was
 * planned at all (no-idle after a +50 % rally: health 2.1 and up, for hours). The module now takes a boost due from
 * above the band whose counted (honest) move is at least 99 % of `maxAmountPerRebalance` landing above the band, at
 * least MIN_BAND_GAP under where it was; the solver sizes it on that honest move (`planSwapBoost`).
 */

/** 10 WETH at 3,000 at `health`, band 1.25 / 1.45 / 1.8, `cap` per rebalance (USDC), no idle funds, no pool. */
function farAbove(health: number, cap: number, policy: Parameters<typeof makePolicy>[0] = {}): SolverInput {
  return oneSubAccountInput({
    state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400, maxAmountPerRebalance: cap, ...policy }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swapBuy: BUY_CURVE,
  })
}
const after = (input: SolverInput, plan: Plan) => healthOf(applyPlan({ subAccounts: input.subAccounts.map((s) => s.state), pools: [], idle: {} }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])

describe("stop 65: a boost at the cap from far above the band (cap-bound boost)", () => {
  for (const mode of ["threshold", "autopilot"] as const)
    test(`${mode}: from health 3 with a 5,000 USDC cap (a boost at the cap reaches about 2.5): one boost above the band, at least 0.02 under where it was, its move 99 % of the cap, and the rule book accepts it`, () => {
      const input = { ...farAbove(3, 5_000), mode }
      const { plan, outcomes } = solve(input)
      expect(plan?.actions.map((a) => a.kind), outcomes[0]?.reason).toEqual(["Borrow", "BuyCollateral", "SupplyCollateral"])
      const h = after(input, plan as Plan)
      expect(h).toBeGreaterThan(1.8)
      expect(h).toBeLessThanOrEqual(3 - 0.02)
      const [borrow, , supply] = (plan as Plan).actions
      const moved = (borrow?.amount as number) + (supply?.amount as number) * 3000
      expect(moved).toBeGreaterThanOrEqual(0.99 * 5_000)
      expect(moved).toBeLessThanOrEqual(5_000)
      expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
      expect(outcomes[0]?.reason).toMatch(/swap boost/)
    })

  test("not when the epoch's amount left is under 99 % of the cap (the module would count it short), nor while a stop holds", () => {
    const short = farAbove(3, 5_000)
    ;(short.subAccounts[0] as SolverInput["subAccounts"][number]).policy.maxAmountPerEpoch = 4_900
    expect(solve(short).plan).toBeUndefined()
    const held = farAbove(3, 5_000, { stopPrice: 2_990, maxOracleDeviationBps: 100, exitHealth: 3.5 })
    expect(solve(held).plan).toBeUndefined()
  })

  test("a boost that reaches the band within the cap is not cap-bound: it lands inside the band", () => {
    const input = farAbove(2, 1e9)
    const { plan } = solve(input)
    const h = after(input, plan as Plan)
    expect(h).toBeLessThanOrEqual(1.8)
    expect(h).toBeGreaterThanOrEqual(1.25)
  })
})
