import { describe, expect, test } from "vitest"
import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import { withInclusionMargin } from "../keeper/inclusionMargin.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { atInclusion, solve } from "./solver.js"
import { curveShortfallBps } from "./swapDeleverage.js"
import { TEST_COSTS, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SwapCurve } from "./types.js"

// Issue 13 (a): after a wick's liquidation the remnant is far above its band, and the price rebounds several percent a
// minute. A swap boost supplies a fixed amount of collateral (SupplyCollateral / SupplyCollateralWithCallback), sized
// at the quote's price: at inclusion the purchase buys less than that and the operation reverts, at every attempt
// until the rebound stops. With a rising trend the solver sizes the purchase at the price expected at inclusion.

const CURVE: SwapCurve = {
  route: `0x${"0".repeat(61)}1f4`,
  points: [
    { amountIn: 3_000, shortfallBps: 5.04 },
    { amountIn: 30_000, shortfallBps: 5.47 },
    { amountIn: 150_000, shortfallBps: 7.39 },
  ],
}
/** +2 % a minute, annualised (a rebound of 30 % over 15 minutes). */
const RISING = (0.02 / 60) * SECONDS_PER_YEAR

function input(health: number, trend: number): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
      policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxLossBps: 50, maxEpochLossBps: 400, cooldown: 0, tailDrop: 0 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.5, trend },
      swapBuy: CURVE,
      swap: { route: CURVE.route, points: [{ amountIn: 1, shortfallBps: 5 }, { amountIn: 50, shortfallBps: 20 }] },
    },
    { mode: "autopilot" },
  )
}

/** The plan as the module runs it with the oracle and the pool at `price`: the purchase buys at that price (less its shortfall). */
function landsAt(solved: SolverInput, plan: Plan, price: number): boolean {
  const buy = plan.actions.find((a) => a.kind === "BuyCollateral")
  if (buy === undefined) return false
  const bought = (buy.amount / price) * (1 - curveShortfallBps(CURVE, buy.amount) / 10_000)
  if (bought < (buy.amount / price) * (1 - 50 / 10_000)) return false
  const executed = { ...plan, actions: plan.actions.map((a) => (a === buy ? { ...a, expectedOut: bought } : a)) }
  const s = solved.subAccounts[0] as SolverInput["subAccounts"][number]
  return checkPlanAgainstPolicy({
    plan: executed,
    pre: { subAccounts: [{ ...s.state, price }], pools: [], idle: {} },
    policies: { [s.state.id]: s.policy },
    epochs: { [s.state.id]: s.epoch },
    now: solved.now,
  }).ok
}

describe("atInclusion for a boost in a rising market", () => {
  test("the purchase is sized at the price expected at inclusion, so it lands while the rebound goes on", () => {
    const rising = withInclusionMargin(input(2.5, RISING), 12)
    const drift = rising.subAccounts[0]?.inclusionDrift as number
    // 24 s of +2 %/min less the take's tolerance (0.2 x 50 bp).
    expect(drift).toBeCloseTo(0.008 - 0.001, 9)
    const { plan } = solve(rising)
    expect(plan?.actions.map((a) => a.kind)).toContain("BuyCollateral")
    const after = 3000 * Math.exp(0.008)
    expect(landsAt(rising, plan as Plan, after)).toBe(true)
    // Sized at the quote's price (no trend), the same boost supplies more than the purchase buys after the rise.
    const flat = withInclusionMargin(input(2.5, 0), 12)
    const old = solve(flat).plan as Plan
    expect(old.actions.map((a) => a.kind)).toContain("BuyCollateral")
    expect(landsAt(flat, old, after)).toBe(false)
  })

  test("a caller whose operation executes later than the live inclusion (the backtester's next step) plans the rise over that delay; the landing margin and a fall keep the inclusion window", () => {
    // Executed 60 s after the quote (a one-minute backtest step), +2 %/min is 2 % of rise, not the 0.8 % of 24 s.
    const late = withInclusionMargin(input(2.5, RISING), 12, 60)
    expect(late.subAccounts[0]?.inclusionDrift).toBeCloseTo(0.02 - 0.001, 9)
    const live = withInclusionMargin(input(2.5, RISING), 12)
    expect(late.subAccounts[0]?.landingMargin).toBe(live.subAccounts[0]?.landingMargin)
    const after = 3000 * Math.exp(0.02)
    expect(landsAt(late, solve(late).plan as Plan, after)).toBe(true)
    expect(landsAt(live, solve(live).plan as Plan, after)).toBe(false)
    // A fall is still planned over the live window only.
    expect(withInclusionMargin(input(2.5, -RISING), 12, 60).subAccounts[0]?.inclusionDrift).toBeCloseTo(-0.008 + 0.001, 9)
  })

  test("a rescue is never sized for a rise, and a fall still moves every sub-account", () => {
    const below = withInclusionMargin(input(1.2, RISING), 12)
    expect(below.subAccounts[0]?.inclusionDrift).toBeGreaterThan(0)
    expect(atInclusion(below).subAccounts[0]?.state.price).toBe(3000)
    const falling = withInclusionMargin(input(2.5, -RISING), 12)
    expect(atInclusion(falling).subAccounts[0]?.state.price).toBeCloseTo(3000 * Math.exp(-0.007), 6)
  })
})

describe("a boost's value while the price rebounds", () => {
  /** A debt-free remnant after a liquidation (8 WETH at 2,100, health infinite) at 40 gwei (ETH 3,000): its edge (20 bp of the exposure bought) is below its cost. */
  const remnant = (trend: number): SolverInput =>
    withInclusionMargin(
      oneSubAccountInput(
        {
          state: { id: `0x${"b".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 8, debt: 0, lltv: 0.86, price: 2100 },
          policy: makePolicy({ minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: true, maxSlippageBps: 100, maxLossBps: 100, maxEpochLossBps: 400, cooldown: 0 }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          risk: { sigma: 2.5, trend, tail: { drop: 0.3, reactionSeconds: 84 } },
          swapBuy: CURVE,
        },
        { mode: "autopilot", costs: { ...TEST_COSTS, gasPrice: 40e-9 * 3000 } },
      ),
      12,
    )

  test("skipped at its edge in a flat market, taken when the trend reads a rebound it plans the purchase for", () => {
    const flat = solve(remnant(0))
    expect(flat.plan).toBeUndefined()
    expect(flat.outcomes[0]?.reason).toMatch(/swap boost skipped: exposure value [\d.]+ < cost/)
    // A rise too slow to plan for (inside the take's tolerance) is noise: still skipped.
    const slow = remnant((0.0005 / 60) * SECONDS_PER_YEAR)
    expect(slow.subAccounts[0]?.inclusionDrift).toBeUndefined()
    expect(solve(slow).plan).toBeUndefined()
    // +2 %/min: one reaction (84 s) of it is worth 2.8 % of the exposure bought, far above the boost's gas, fee and impact.
    const rebound = solve(remnant(RISING))
    expect(rebound.plan?.actions.map((a) => a.kind)).toContain("BuyCollateral")
    expect(rebound.outcomes[0]?.reason).toMatch(/swap boost/)
  })
})
