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

describe("he62: a rescue whose landing margins meet aims at its zone's centre under the sale-minimum repayment", () => {
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

  it("the solver's aim: the centre in the mode, the margined floor (underTop) with the fixed take and on a venue with a flash premium", () => {
    const mode = solve(input({ saleMinimumRepayment: true }))
    const fixed = solve(input())
    const aave = solve(input({ saleMinimumRepayment: true }, 5))
    const allowed = (r: ReturnType<typeof solve>) => r.outcomes[0]?.allowedHealth as { min: number; max: number }
    expect(mode.plan).toBeDefined()
    expect((allowed(mode).min + allowed(mode).max) / 2).toBeCloseTo(CENTRE, 9)
    expect(mode.outcomes[0]?.healthAfter).toBeCloseTo(CENTRE, 4)
    // As before: aimed at the floor x e^landingMargin.
    expect(allowed(fixed).min).toBeCloseTo(ZONE[0] * Math.exp(M), 5)
    expect(allowed(fixed).max).toBeCloseTo(allowed(fixed).min + UNDER_TOP_WIDTH, 9)
    expect(allowed(aave)).toEqual(allowed(fixed))
  })
})
