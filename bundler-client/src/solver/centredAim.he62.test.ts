import { describe, expect, it } from "vitest"
import { INCLUSION_MARGIN } from "../keeper/inclusionMargin.js"
import { solve } from "./solver.js"
import { makePolicy, oneSubAccountInput } from "./testing.js"
import type { SolverInput } from "./types.js"
import { centredAim, UNDER_TOP_WIDTH } from "./workingPortfolio.js"

/*
 * Issue 13, helper he62: under the sale-minimum repayment a rescue whose landing margins meet (the gap's top margin,
 * `landingMarginTop`, against an in-band zone [1.4, 1.55]) aims at its zone's centre, not at the margined floor
 * (`underTop`, stop 55). bk58's random chains 1076 and 1621 (buffered) and 1076 (no-idle): the in-band rescue decided in
 * the gap's minute, aimed at 1.4227, landed at 1.36-1.40 under the floor after a -2.9 % minute (the backtester fills 60 s
 * after the decision, the margin covers the live 24 s), and the next gap liquidated it where threshold's landed.
 * Helper he63: without the mode too (swaps off, the fixed take, Aave), measured on the same chains (below).
 */

const BAND = { minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7 }
const CAP = INCLUSION_MARGIN.maxShareOfBand * Math.log(BAND.maxHealth / BAND.minHealth)
const M = 0.016
const ZONE: [number, number] = [1.4, 1.55]
const CENTRE = Math.sqrt(ZONE[0] * ZONE[1])

/** In band at 1.25 (zone [1.4, 1.55]), 60,000 idle USDC, the gap's margins; `extra` overlays the solver input. */
function input(extra: Partial<SolverInput> = {}, flashPremiumBps?: number): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${"c".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 50, debt: (50 * 2300 * 0.86) / 1.25, lltv: 0.86, price: 2300, ...(flashPremiumBps === undefined ? {} : { flashPremiumBps }) },
      policy: makePolicy({ ...BAND, boostAllowed: true, rescueBelowTarget: true, cooldown: 0, tolerance: 0.001, horizon: 86_400, maxSlippageBps: 100 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 1 },
      landingMargin: M,
      landingMarginTop: CAP,
    },
    { mode: "autopilot", idle: { USDC: 60_000 }, ...extra },
  )
}

describe("he62: a rescue whose landing margins meet aims at its zone's centre (he63: whatever the repayment mode)", () => {
  it("centredAim: the centre, UNDER_TOP_WIDTH wide, when the margins empty the zone; undefined when they leave room or there are none", () => {
    const [lo, hi] = centredAim({ zl: ZONE[0], zh: ZONE[1], t: BAND.targetHealth, up: 1, inBand: true, m: M, mTop: CAP }) as [number, number]
    expect((lo + hi) / 2).toBeCloseTo(CENTRE, 12)
    expect(hi - lo).toBeCloseTo(UNDER_TOP_WIDTH, 12)
    // The landing margin alone (no gap) leaves room: as before.
    expect(centredAim({ zl: ZONE[0], zh: ZONE[1], t: BAND.targetHealth, up: 1, inBand: true, m: M, mTop: 0 })).toBeUndefined()
    expect(centredAim({ zl: ZONE[0], zh: ZONE[1], t: BAND.targetHealth, up: 1, inBand: true, m: 0, mTop: 0 })).toBeUndefined()
    // Below the band with a wide zone the aim keeps the target between its edges: as before.
    expect(centredAim({ zl: 1.195, zh: ZONE[1], t: BAND.targetHealth, up: 1, inBand: false, m: M, mTop: CAP })).toBeUndefined()
  })

  it("the solver's aim: the centre in the mode, with the fixed take and on a venue with a flash premium alike (he63)", () => {
    // Helper he63 re-pinned this test. Before, the centred aim applied only under the sale-minimum mode on a venue without
    // a flash premium, and the fixed take and the Aave account were aimed at the margined floor (1.4 x e^0.016 = 1.4226).
    // It now applies to every rescue whose margins empty its zone, whatever the repayment. bk58's chains 1-2,600 with swaps
    // off (buffered): autopilot-only 3 -> 0 (1076, 1621 and 2167 fixed), 190 -> 186 liquidated paths, none newly
    // liquidated. With the fixed take (swap.repayment "amount"): 12 -> 10, 193 -> 189 (no-idle 10 -> 10, 283 -> 282).
    // The default is unchanged (204, 2 / 109, 1).
    const mode = solve(input({ saleMinimumRepayment: true }))
    const fixed = solve(input())
    const aave = solve(input({ saleMinimumRepayment: true }, 5))
    const allowed = (r: ReturnType<typeof solve>) => r.outcomes[0]?.allowedHealth as { min: number; max: number }
    for (const r of [mode, fixed, aave]) {
      expect(r.plan).toBeDefined()
      expect((allowed(r).min + allowed(r).max) / 2).toBeCloseTo(CENTRE, 9)
      expect(r.outcomes[0]?.healthAfter).toBeCloseTo(CENTRE, 4)
    }
    expect(allowed(fixed)).toEqual(allowed(mode))
    expect(allowed(aave)).toEqual(allowed(mode))
    // Not the margined floor the fixed take was aimed at before he63.
    expect(allowed(fixed).min).toBeGreaterThan(ZONE[0] * Math.exp(M) + 0.04)
  })
})
