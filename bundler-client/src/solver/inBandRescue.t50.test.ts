import { describe, expect, it } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf, landingZone } from "./state.js"
import { checkInputPlan, makePolicy, TEST_COSTS } from "./testing.js"
import type { EpochState, Policy, SolverInput, SubAccountInput } from "./types.js"

/*
 * Issue 13, helper t50: the solver plans the module's in-band rescue (policy `rescueBelowTarget`, RebalanceLib
 * `_trigger` / `landingZone`) in autopilot mode only. Band 1.15 / 1.4 / 1.7, health 1.25: the module's in-band zone is
 * [max(1.4, 1.25 + (1.4 - 1.15) / 2), 1.4 + (1.7 - 1.4) / 2] = [1.4, 1.55].
 */

const NOW = 1_700_000_000
const FRESH: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }
const POOL = "0x00000000000000000000000000000000000000a1"

function input(health: number, policy: Partial<Policy>, mode: "autopilot" | "threshold"): SolverInput {
  const price = 3000
  const collateral = 10
  const sub: SubAccountInput = {
    state: { id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ pools: [POOL], ...policy }),
    epoch: FRESH,
    risk: { sigma: 0.6 },
  }
  return { now: NOW, subAccounts: [sub], pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 }], idle: {}, costs: TEST_COSTS, mode }
}

describe("t50: the in-band rescue (rescueBelowTarget) in the solver", () => {
  it("the landing zone's in-band branch is the module's: [before + (target - min) / 2, target + (max - target) / 2] (stop 64: continuous with the zone below the band at min), empty close under the target when the lower band is wider", () => {
    const band = { minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7 }
    const [l1, h1] = landingZone(band, 1.25)
    expect(l1).toBeCloseTo(1.375, 12)
    // At min the in-band edge meets the below-band one (1.275 both sides).
    expect(landingZone(band, 1.15)[0]).toBeCloseTo(landingZone(band, 1.15 - 1e-12)[0], 9)
    expect(h1).toBeCloseTo(1.55, 12)
    const [low, high] = landingZone(band, 1.3)
    expect(low).toBeCloseTo(1.425, 12)
    expect(high).toBeCloseTo(1.55, 12)
    // Lower band 0.3 wide, upper 0.1: from 1.39 the zone is [1.54, 1.45], empty.
    const [l2, h2] = landingZone({ minHealth: 1.1, targetHealth: 1.4, maxHealth: 1.5 }, 1.39)
    expect(l2).toBeGreaterThan(h2)
    // Below and above the band: unchanged.
    expect(landingZone(band, 1.1)[0]).toBeCloseTo(1.225, 12)
    expect(landingZone(band, 1.8)[0]).toBeCloseTo(1.275, 12)
  })

  it("autopilot, flag on, health 1.25 in band 1.15 / 1.4 / 1.7: a rescue is planned, lands in the zone [1.4, 1.55], and passes the rule book with the flag", () => {
    const i = input(1.25, { rescueBelowTarget: true }, "autopilot")
    const r = solve(i)
    expect(r.plan, r.outcomes[0]?.reason).toBeDefined()
    const plan = r.plan as NonNullable<typeof r.plan>
    expect(plan.actions.map((a) => a.kind)).toEqual(["WithdrawFromPool", "Repay"])
    const o = r.outcomes[0]
    expect(o?.triggered).toBe(true)
    expect(o?.role).toBe("target")
    expect(o?.reason).toMatch(/below target in band/)
    const after = healthOf(applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])
    expect(after).toBeGreaterThanOrEqual(1.4)
    expect(after).toBeLessThanOrEqual(1.55)
    expect(o?.healthAfter).toBeCloseTo(after, 9)
    const verdict = checkInputPlan(i, plan)
    expect(verdict.ok).toBe(true)
    // The module without the flag refuses it: no trigger inside the band.
    const without = { ...i, subAccounts: i.subAccounts.map((s) => ({ ...s, policy: { ...s.policy, rescueBelowTarget: false } })) }
    expect(checkInputPlan(without, plan).ok).toBe(false)
  })

  it("threshold mode with the flag: no rescue inside the band (the baseline keeps the band trigger)", () => {
    const r = solve(input(1.25, { rescueBelowTarget: true }, "threshold"))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.triggered).toBe(false)
    expect(r.outcomes[0]?.reason).toMatch(/in band .*no trigger/)
  })

  it("autopilot without the flag: no rescue inside the band", () => {
    for (const flag of [false, undefined]) {
      const r = solve(input(1.25, { rescueBelowTarget: flag }, "autopilot"))
      expect(r.plan).toBeUndefined()
      expect(r.outcomes[0]?.triggered).toBe(false)
    }
  })

  it("autopilot, flag on: an in-band rescue the caps cannot take to its zone is cap-bound (stop 66, module row 155): one step at the cap, at least 0.02 up; a cap too small for that plans nothing", () => {
    // From 1.25 to 1.4 repays about 2,200 of 17,200 debt; a 500 cap reaches about 1.287 < the zone's 1.375.
    const r = solve(input(1.25, { rescueBelowTarget: true, maxAmountPerRebalance: 500 }, "autopilot"))
    expect(r.plan, r.outcomes[0]?.reason).toBeDefined()
    expect(r.outcomes[0]?.capBound).toBe(true)
    expect(r.outcomes[0]?.reason).toMatch(/below target in band: deleverage .*cap-bound rescue/)
    expect(r.outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.27)
    expect(r.outcomes[0]?.healthAfter).toBeLessThan(1.375)
    // 100 gains about 0.007 < CAP_BOUND_GAIN (0.02): nothing.
    const small = solve(input(1.25, { rescueBelowTarget: true, maxAmountPerRebalance: 100 }, "autopilot"))
    expect(small.plan).toBeUndefined()
    expect(small.outcomes[0]?.reason).toMatch(/below target in band .*funds and caps reach only/)
  })

  it("autopilot, flag on, health at or above the target: no in-band trigger", () => {
    const r = solve(input(1.45, { rescueBelowTarget: true }, "autopilot"))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.triggered).toBe(false)
  })

  it("over the module's structural limits (MAX_SUB_ACCOUNTS 8) the boost is left for the next operation before any in-band rescue (urgency: below the band, then in band below the target, then above it)", () => {
    const sub = (k: number, health: number): SubAccountInput => ({
      state: { id: `0x${k.toString(16).padStart(64, "0")}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
      policy: makePolicy({ rescueBelowTarget: true, pools: [POOL] }),
      epoch: FRESH,
      risk: { sigma: 0.6 },
    })
    const subs = [...Array.from({ length: 8 }, (_, k) => sub(k + 1, 1.25 + 0.01 * k)), sub(9, 1.9)]
    // The boost parks its borrow in the pool; the rescues repay from idle funds.
    const i: SolverInput = { now: NOW, subAccounts: subs, pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 0, withdrawable: 0 }], idle: { USDC: 1e6 }, costs: TEST_COSTS, mode: "autopilot" }
    const r = solve(i)
    expect(r.plan?.subAccounts).toHaveLength(8)
    for (const o of r.outcomes.slice(0, 8)) expect(o.role, o.reason).toBe("target")
    expect(r.outcomes[8]?.role).toBe("none")
    expect(r.outcomes[8]?.reason).toMatch(/over the module's limits for one operation/)
    expect(checkInputPlan(i, r.plan as NonNullable<typeof r.plan>).ok).toBe(true)
  })
})
