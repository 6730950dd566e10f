import { describe, expect, it } from "vitest"
import { solve } from "../solver/solver.js"
import { applyPlan, healthOf } from "../solver/state.js"
import type { SolverInput, SubAccountState } from "../solver/types.js"
import type { PortfolioSnapshot } from "./portfolio.js"
import { bandSnapshot, feedAndRuntime } from "./bandShadow.testing.js"

/*
 * Helper bk51b, issue 13 (main ce736d5): the live keeper's band rule on paper (`rt.bandPaper`, BandRulePaper, fed by
 * VolatilityFeed.withBandShadow) at the unit level.
 *
 * 1. A sub-account id read in a different case than at the first read (same sub-account): the copy is matched
 *    case-insensitively but its epoch is kept under the first read's spelling (`this.epochs[x.state.id]`), so the next
 *    band-rule decision solves with `epoch: undefined` and `validateEpoch` throws a TypeError out of
 *    `VolatilityFeed.apply`; the copy was already renamed, so every later read where the band rule must act (the
 *    position out of its band: when the autopilot must act too) throws again: the Safe gets no plan then.
 *    Chain reads give lower-case bytes32, so this needs a caller that spells ids otherwise (config, another reader).
 * 2. An Aave v3 sub-account (`thresholdFloored` with the read `health`, as readPortfolio sets them): the copy is
 *    `{ ...live state, collateral, debt }`, so it keeps the LIVE read's `health`, and `venueHealthOf` returns that: the
 *    band rule's health is the autopilot's own at every read, not the copy's. The floor is then the autopilot's own
 *    health (no boost can land at or above it: the autopilot never boosts on Aave) and the in-band gate is always open
 *    (h0 <= floor). Conservative for liquidations (no break of issue 13's rule found from it), but not the band rule.
 * 3. While the band rule's plan is pending the paper reads its PREDICTED landing, at the very read it decides it. A
 *    boost decided as the price crosses maxHealth makes the floor the target (1.4) at once; the autopilot, held above
 *    its band by the floor until then (floor-blocked), boosts at that read to about 1.63; if the price steps back into
 *    the band by the next read, the band rule's boost reverts (not due: 1.66) while the autopilot's (still above its
 *    band) lands, at about 1.58: below the band rule's health. A one-minute gap of 37-40 % then liquidates only the
 *    autopilot (the backtest scan in bk51b's report).
 *    Tried in stop 54 and not kept: `bandRuleHealth` as max(now, predicted) (a pending boost counts once landed) makes
 *    this test pass but is stop 51's rule before bk51's fix: the autopilot boosts a poll after the band rule, its
 *    cooldown ends a poll later, and a gap at the band rule's first ready minute liquidates only it (both pins of
 *    `issue13.bk51.test.ts` fail again; bk51's sweep was 28 breaks with it, 4 without). A 37-40 % one-minute gap right
 *    after a reverted band-rule boost is the rarer of the two; the trade stays open.
 */

const SUB = `0x${"b".repeat(64)}`
const T0 = 1_700_000_000

/** A fixed position (10 WETH, debt for health `h0` at 3,000) read at `price`, band 1.15 / 1.4 / 1.7 with boosts. */
const snapshot = (id: string, price: number, t: number, block: number, h0 = 1.4, extra: Partial<SubAccountState> = {}): PortfolioSnapshot =>
  bandSnapshot({ id, price, debt: (10 * 3000 * 0.86) / h0, t, block, extra })

const floorOf = (s: PortfolioSnapshot) => s.input.subAccounts[0]?.boostFloorHealth

const UPPER = `0x${"B".repeat(64)}`
/** First read spelled upper-case at 3,000 (health 1.4), then lower-case on a 20 % dip (1.12 < 1.15: the band rule decides). */
function caseChange() {
  const { feed, rt } = feedAndRuntime()
  feed.apply(rt, snapshot(UPPER, 3000, T0, 1000))
  return { read: (price: number, t: number, block: number) => feed.apply(rt, snapshot(SUB, price, t, block)) }
}

/** Aave-style read: `thresholdFloored`, sole collateral, the read `health` (the position's own: 10 WETH, debt for `h0` at 3,000). */
const aave = (price: number, t: number, block: number, h0: number) =>
  snapshot(SUB, price, t, block, h0, { thresholdFloored: true, soleCollateral: true, health: (10 * price * 0.86) / ((10 * 3000 * 0.86) / h0) })

describe("bk51b: the keeper's band rule on paper (rt.bandPaper) at the unit level", () => {
  it("fixed (stop 51: a copy keeps its first spelling): a sub-account id read in another case is the same sub-account: the band rule rescues its copy (floor near 1.4 after landing), no throw", () => {
    const { read } = caseChange()
    read(2400, T0 + 60, 1005)
    const landed = floorOf(read(2400, T0 + 120, 1010)) as number
    expect(landed).toBeGreaterThan(1.39)
    expect(landed).toBeLessThan(1.45)
  })

  /** Band-rule copy taken at 1.68 (3,000); the autopilot then at 1.76 (a 10 WETH position, debt for it at 3,000). */
  function crossing() {
    const { feed, rt } = feedAndRuntime()
    feed.apply(rt, snapshot(SUB, 3000, T0, 1000, 1.68))
    const held = feed.apply(rt, snapshot(SUB, 3000, T0 + 12, 1001, 1.76))
    // +2 %: the band rule crosses maxHealth (1.7136) and decides a boost; the autopilot is at 1.7952.
    const crossed = feed.apply(rt, snapshot(SUB, 3060, T0 + 24, 1002, 1.76))
    // -3 % by the next read: the band rule (1.662) is back in band, its boost reverts; the autopilot (1.741) is not.
    const back = feed.apply(rt, snapshot(SUB, 3060 * 0.97, T0 + 36, 1003, 1.76))
    const landing = (i: SolverInput) => {
      const plan = solve(i).plan
      return plan === undefined ? undefined : healthOf(applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, plan).subAccounts[0] as SubAccountState)
    }
    return { held, crossed, back, landing }
  }

  it("pin (today): the floor is the band rule's predicted landing (1.4) at the read it decides a boost; the autopilot's boost decided there lands (at the next read's price) under the band rule's health then (its boost reverted)", () => {
    const { held, crossed, back, landing } = crossing()
    expect(floorOf(held)).toBeCloseTo(1.68, 9)
    expect(landing(held.input)).toBeUndefined() // floor-blocked above its band
    expect(floorOf(crossed)).toBeLessThan(1.45)
    const decided = landing(crossed.input) as number
    expect(decided).toBeLessThan(1.68)
    expect(floorOf(back)).toBeCloseTo(1.68 * 1.02 * 0.97, 6)
    // The autopilot's position after its boost, at the next read's price, under the band rule's health there.
    expect(decided * 0.97).toBeLessThan((floorOf(back) as number) - 0.05)
  })

  it.skip("FAILS TODAY: a boost the autopilot decides at a read lands (at the next read's price) at or above the band rule's health at that next read", () => {
    const { crossed, back, landing } = crossing()
    const decided = landing(crossed.input)
    if (decided !== undefined) expect(decided * 0.97).toBeGreaterThanOrEqual(floorOf(back) as number)
  })

  it("fixed (stop 51: a copy's health is its own, not the venue's read): on an Aave v3 sub-account the band rule's health is its copy's (taken at 1.4 at 3,000; the autopilot's own read, 1.6 at 3,000, does not move it)", () => {
    const { feed, rt } = feedAndRuntime()
    feed.apply(rt, aave(3000, T0, 1000, 1.4))
    expect(floorOf(feed.apply(rt, aave(3000, T0 + 60, 1005, 1.6)))).toBeCloseTo(1.4, 3)
  })
})
