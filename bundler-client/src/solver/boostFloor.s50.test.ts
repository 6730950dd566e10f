import { describe, expect, it } from "vitest"
import { BandRuleShadow } from "./bandShadow.js"
import { atInclusion, solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { oneBandInput } from "./testing.js"
import type { EpochState, SolverInput } from "./types.js"

/*
 * Issue 13, helper s50: a boost lands at or above the band rule's health on the same prices (`boostFloorHealth`, the
 * keeper's `BandRuleShadow`). Band 1.15 / 1.4 / 1.7, health 1.9: the boost's landing zone is [1.275, min(1.7, 1.9 - 0.15)]
 * = [1.275, 1.7].
 */

function input(health: number, boostFloorHealth: number | undefined, landingMargin?: number): SolverInput {
  return oneBandInput(health, { boostFloorHealth, landingMargin })
}

function after(i: SolverInput): number {
  const plan = solve(i).plan
  if (plan === undefined) return Number.NaN
  return healthOf(applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])
}

describe("s50: the boost floor (boostFloorHealth)", () => {
  it("health 1.9: without a floor the boost lands under 1.6; with a floor of 1.6 it lands at or above 1.6 (and inside the zone); with 1.6 and a landing margin of 2 % at or above 1.6 x e^0.02", () => {
    const free = after(input(1.9, undefined))
    expect(free).toBeLessThan(1.6)
    const floored = after(input(1.9, 1.6))
    expect(floored).toBeGreaterThanOrEqual(1.6)
    expect(floored).toBeLessThanOrEqual(1.7)
    const margined = after(input(1.9, 1.6, 0.02))
    expect(margined).toBeGreaterThanOrEqual(1.6 * Math.exp(0.02))
  })

  it("a floor above the zone's top (1.75 > 1.7): no boost, the reason names the floor; a floor under the free landing changes nothing", () => {
    const r = solve(input(1.9, 1.75))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.reason).toMatch(/boost floor 1\.75.* above the landing zone's top/)
    expect(after(input(1.9, 1.2))).toBe(after(input(1.9, undefined)))
  })

  it("the floor applies to boosts only: a rescue below the band ignores it", () => {
    const rescued = after(input(1.1, 1.9))
    expect(rescued).toBeGreaterThan(1.15)
    expect(rescued).toBe(after(input(1.1, undefined)))
  })

  it("atInclusion moves the floor with the price (a rise expected for a sub-account above its band)", () => {
    const i = { ...input(1.9, 1.6), subAccounts: input(1.9, 1.6).subAccounts.map((s) => ({ ...s, inclusionDrift: 0.01 })) }
    expect(atInclusion(i).subAccounts[0]?.boostFloorHealth).toBeCloseTo(1.6 * Math.exp(0.01), 12)
  })
})

describe("s50: BandRuleShadow", () => {
  const band = { minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: true }
  it("starts at the first health, scales with the factor, resets to the target below minHealth or above maxHealth (boosts allowed), not above it without boosts", () => {
    const s = new BandRuleShadow()
    expect(s.observe(3000, 1.5, band)).toBe(1.5)
    expect(s.observe(3300, 9, band)).toBeCloseTo(1.65, 12)
    expect(s.observe(3450, 9, band)).toBe(1.4) // 1.725 > 1.7: the band rule boosts back to the target
    expect(s.observe(3450 * 0.8, 9, band)).toBe(1.4) // 1.12 < 1.15: rescued to the target
    expect(s.observe(3450 * 0.8 * 1.1, 9, band)).toBeCloseTo(1.54, 12)
    const noBoost = new BandRuleShadow()
    noBoost.observe(100, 1.4, { ...band, boostAllowed: false })
    expect(noBoost.observe(150, 1.4, { ...band, boostAllowed: false })).toBeCloseTo(2.1, 12)
    expect(noBoost.observe(Number.NaN, 1.4, band)).toBeCloseTo(2.1, 12)
  })
  it("a first observation at or above maxHealth resets at once (the band rule boosts at its first poll)", () => {
    expect(new BandRuleShadow().observe(3000, 2, band)).toBe(1.4)
  })
})
