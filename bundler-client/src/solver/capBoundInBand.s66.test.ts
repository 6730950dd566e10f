import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { ROUTE_500, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SwapCurve } from "./types.js"

/*
 * Issue 13, stop 66 (module `_checkPostConditions`, SECURITY.md row 155): inside the band below the target
 * (`rescueBelowTarget`) an in-band rescue must gain half the lower band, and after a fall that left a large position
 * just above minHealth no operation within the amount cap did, so the autopilot planned nothing and sat at 1.18 for 22
 * minutes (b53's fuzz seed 842, no-idle) while threshold, lower and so below its band, was rescued cap-bound past it; a
 * -15 % gap then liquidated the autopilot alone. The module now takes an in-band rescue whose counted move is at least
 * 99 % of `maxAmountPerRebalance` landing under that zone, at least MIN_BAND_GAP up; the solver plans it as below the band.
 */

/** A WETH/USDC 0.05 % pool: 5 bps fee plus impact. */
const CURVE: SwapCurve = { route: ROUTE_500, points: [{ amountIn: 1, shortfallBps: 5.5 }, { amountIn: 30, shortfallBps: 8 }, { amountIn: 300, shortfallBps: 40 }] }

/** 100 WETH at 3,000 at `health`, band 1.15 / 1.4 / 1.7 with rescueBelowTarget, `cap` per rebalance (USDC), a swap lane, no idle funds, no pool. */
function justInBand(health: number, cap: number, policy: Parameters<typeof makePolicy>[0] = {}): SolverInput {
  return oneSubAccountInput({
    state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 100, debt: (100 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
    policy: makePolicy({ minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7, rescueBelowTarget: true, maxSlippageBps: 50, maxEpochLossBps: 400, maxAmountPerRebalance: cap, ...policy }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swap: CURVE,
  }, { mode: "autopilot" })
}
const after = (input: SolverInput, plan: Plan) => healthOf(applyPlan({ subAccounts: input.subAccounts.map((s) => s.state), pools: [], idle: {} }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])

describe("stop 66: an in-band rescue at the cap from just above minHealth (cap-bound in band)", () => {
  test("autopilot: from 1.18 with a 40,000 USDC cap (a sale at the cap gains about 0.03 < the zone's 0.125): one sale at 99 % of the cap, at least 0.02 up, under the zone, and the rule book accepts it", () => {
    const input = justInBand(1.18, 40_000)
    const { plan, outcomes } = solve(input)
    expect(plan?.actions.map((a) => a.kind), outcomes[0]?.reason).toContain("SellCollateral")
    const h = after(input, plan as Plan)
    expect(h).toBeGreaterThanOrEqual(1.18 + 0.02)
    expect(h).toBeLessThan(1.18 + 0.125)
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
    expect(outcomes[0]?.reason).toMatch(/cap-bound rescue/)
  })

  test("not when the epoch's amount left is under 99 % of the cap, nor without rescueBelowTarget (nothing is due in band)", () => {
    const short = justInBand(1.18, 40_000, { maxAmountPerEpoch: 39_000 })
    expect(solve(short).plan).toBeUndefined()
    expect(solve(justInBand(1.18, 40_000, { rescueBelowTarget: false })).plan).toBeUndefined()
  })

  test("a rescue that reaches the in-band zone within the cap is not cap-bound: it lands in [before + 0.125, 1.55]", () => {
    const input = justInBand(1.18, 1e9)
    const { plan, outcomes } = solve(input)
    const h = after(input, plan as Plan)
    expect(h, outcomes[0]?.reason).toBeGreaterThanOrEqual(1.18 + 0.125 - 1e-9)
    expect(h).toBeLessThanOrEqual(1.55 + 1e-9)
    expect(outcomes[0]?.reason).not.toMatch(/cap-bound/)
  })
})
