import { describe, expect, it } from "vitest"
import { solve, solveAimed, withoutInclusionMargin } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { oneBandInput } from "./testing.js"
import type { SolverInput } from "./types.js"

/*
 * Issue 13, stop 52: `solveAimed`, a plan the keeper's inclusion margins rule out goes at the read price (landing margin
 * kept), then, a rescue only (b53), as the module's own zone allows. Band 1.15 / 1.4 / 1.7 (makePolicy), one Morpho-like
 * sub-account at 3,000.
 */

const input = oneBandInput

function landed(i: SolverInput, plan: NonNullable<ReturnType<typeof solve>["plan"]>): number {
  return healthOf(applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])
}

describe("solveAimed: the margins' fallback", () => {
  it("a boost at health 1.9 with the band rule's health 1.6 and a rise of 10 % expected until inclusion: at the expected price the floor (1.6 x e^0.1) is above the zone's top, so solve plans nothing; solveAimed boosts at the read price, at or above the floor by the landing margin and inside the zone", () => {
    const i = input(1.9, { boostFloorHealth: 1.6, inclusionDrift: 0.1, landingMargin: 0.02 })
    const aimed = solve(i)
    expect(aimed.plan).toBeUndefined()
    expect(aimed.outcomes[0]?.reason).toMatch(/boost floor/)
    const r = solveAimed(i)
    expect(r.plan).toBeDefined()
    const h = landed(i, r.plan as NonNullable<typeof r.plan>)
    expect(h).toBeGreaterThanOrEqual(1.6 * Math.exp(0.02))
    expect(h).toBeLessThanOrEqual(1.7)
    // The first fallback keeps the landing margin: the same plan as the input without the drift alone.
    expect(r.plan).toEqual(solve(withoutInclusionMargin(i, "drift")).plan)
  })

  it("a rescue at health 1.1 whose landing margin (0.25, far beyond the zone) empties its zone: he63, solve plans it at the zone's geometric centre (centredAim: sqrt(1.225 x 1.55) = 1.378), so solveAimed is solve (before he63 solve planned nothing without the sale-minimum mode and solveAimed sent the unmargined rescue, to 1.4)", () => {
    // Helper he63 re-pinned this test: the centred aim now applies to every rescue whose margins empty its zone, not only
    // under the sale-minimum mode (bk58's chains 1-2,600 with swaps off, buffered: autopilot-only 3 -> 0, liquidated
    // paths 190 -> 186). Such a rescue no longer reaches the unmargined fallback; the fallback stays for a margined solve
    // that plans nothing otherwise (a boost has its own pins here and in b53 below).
    const i = input(1.1, { landingMargin: 0.25 })
    const r = solveAimed(i)
    expect(r.plan).toBeDefined()
    expect(r).toEqual(solve(i))
    const h = landed(i, r.plan as NonNullable<typeof r.plan>)
    expect(h).toBeCloseTo(Math.sqrt(1.225 * 1.55), 4)
    // Inside the band, under the target the unmargined rescue aims at (1.4).
    expect(h).toBeGreaterThan(1.15)
    expect(h).toBeLessThan(solve(withoutInclusionMargin(i)).outcomes[0]?.healthAfter as number)
  })

  it("b53: a boost whose landing margin lifts the band rule's floor above the zone (health 1.9, band rule 1.6, margin 0.08: 1.6 x e^0.08 = 1.73 > 1.7) is not sent unmargined: without the margin it would land at the band rule's health with nothing over it (helper bk52's five cut-and-gap breaks); solveAimed plans nothing", () => {
    const i = input(1.9, { boostFloorHealth: 1.6, landingMargin: 0.08 })
    const aimed = solve(i)
    expect(aimed.plan).toBeUndefined()
    expect(aimed.outcomes[0]?.reason).toMatch(/boost floor/)
    // Unmargined the solver would boost, to under 1.6 x e^0.08: the plan the last step no longer sends.
    const plain = solve(withoutInclusionMargin(i)).plan
    expect(plain).toBeDefined()
    expect(landed(i, plain as NonNullable<typeof plain>)).toBeLessThan(1.6 * Math.exp(0.08))
    expect(solveAimed(i).plan).toBeUndefined()
    expect(solveAimed(i)).toEqual(aimed)
  })

  it("when the margined input plans, or there are no margins, solveAimed is solve; nothing due plans nothing", () => {
    const margined = input(1.1, { landingMargin: 0.01, inclusionDrift: -0.005 })
    expect(solveAimed(margined)).toEqual(solve(margined))
    const bare = input(1.9, { boostFloorHealth: 1.8 })
    expect(solve(bare).plan).toBeUndefined()
    expect(solveAimed(bare)).toEqual(solve(bare))
    expect(solveAimed(input(1.5, { landingMargin: 0.02, inclusionDrift: 0.05 })).plan).toBeUndefined()
  })
})
