import { describe, expect, it } from "vitest"
import { solve } from "../solver/solver.js"
import { applyPlan, healthOf } from "../solver/state.js"
import type { SolverInput } from "../solver/types.js"
import type { PortfolioSnapshot } from "./portfolio.js"
import { bandSnapshot, feedAndRuntime } from "./bandShadow.testing.js"

/*
 * Issue 13, helper s50: the live keeper keeps the band rule's health per sub-account on its price reads (since stop 51
 * the band rule on paper, `rt.bandPaper`) and passes it as the boost floor (`boostFloorHealth`), as the backtester's
 * autopilot does (`keeper.bandShadow` "paper").
 */

const SUB = `0x${"b".repeat(64)}`
const T0 = 1_700_000_000

/** Buffered sub-account, band 1.15 / 1.4 / 1.7 with boosts, at oracle `price` with health `health`. */
const snapshot = (price: number, health: number, t: number, block: number, mode: "autopilot" | "threshold" = "autopilot"): PortfolioSnapshot =>
  bandSnapshot({ id: SUB, price, debt: (10 * price * 0.86) / health, t, block, mode })

describe("s50: the keeper's band-rule shadow is the boost floor", () => {
  it("first read 1.45 at 3,000: floor 1.45; the autopilot later at 1.55 and a 15 % rise (1.7825, threshold's 1.6675 in band): the floor is 1.6675 and the solved boost does not land below it; without the feed's floor it lands under it", () => {
    const { feed, rt } = feedAndRuntime()
    const first = feed.apply(rt, snapshot(3000, 1.45, T0, 1000))
    expect(first.input.subAccounts[0]?.boostFloorHealth).toBeCloseTo(1.45, 9)
    const risen = feed.apply(rt, snapshot(3450, 1.55 * 1.15, T0 + 60, 1005))
    const sub = risen.input.subAccounts[0]
    expect(sub?.boostFloorHealth).toBeCloseTo(1.45 * 1.15, 9)
    const landed = (i: SolverInput) => {
      const plan = solve(i).plan
      return plan === undefined ? undefined : healthOf(applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, plan).subAccounts[0] as Parameters<typeof healthOf>[0])
    }
    const floored = landed(risen.input)
    if (floored !== undefined) expect(floored).toBeGreaterThanOrEqual(1.45 * 1.15)
    const free = landed({ ...risen.input, subAccounts: risen.input.subAccounts.map((s) => ({ ...s, boostFloorHealth: undefined })) })
    expect(free).toBeDefined()
    expect(free as number).toBeLessThan(1.45 * 1.15)
  })

  it("the band rule on paper boosts where the band rule would (read above maxHealth): decided at that read (the floor is its predicted landing while pending), landed at the next read near the target; dropped without debt; threshold mode gets no floor", () => {
    const { feed, rt } = feedAndRuntime()
    feed.apply(rt, snapshot(3000, 1.6, T0, 1000))
    // 1.6 x 1.1 = 1.76 > 1.7: the band rule decides a boost back to 1.4, landing at the next read.
    const decided = feed.apply(rt, snapshot(3300, 1.9, T0 + 60, 1005)).input.subAccounts[0]?.boostFloorHealth as number
    expect(decided).toBeGreaterThan(1.39)
    expect(decided).toBeLessThan(1.45)
    // The same read again (same time): nothing lands, the floor stays the predicted landing.
    expect(feed.apply(rt, snapshot(3300, 1.9, T0 + 60, 1005)).input.subAccounts[0]?.boostFloorHealth).toBe(decided)
    const landed = feed.apply(rt, snapshot(3300, 1.9, T0 + 120, 1010)).input.subAccounts[0]?.boostFloorHealth as number
    expect(landed).toBeGreaterThan(1.39)
    expect(landed).toBeLessThan(1.45)
    const closed = snapshot(3300, 1.9, T0 + 180, 1015)
    ;(closed.input.subAccounts[0] as { state: { debt: number } }).state.debt = 0
    expect(feed.apply(rt, closed).input.subAccounts[0]?.boostFloorHealth).toBeUndefined()
    // Reopened: copied anew at its health then.
    expect(feed.apply(rt, snapshot(3300, 1.5, T0 + 240, 1020)).input.subAccounts[0]?.boostFloorHealth).toBeCloseTo(1.5, 9)
    const { feed: f2, rt: rt2 } = feedAndRuntime()
    expect(f2.apply(rt2, snapshot(3000, 1.6, T0, 1000, "threshold")).input.subAccounts[0]?.boostFloorHealth).toBeUndefined()
  })

  it("the band rule on paper keeps to the policy's amount cap: a rescue needing more than maxAmountPerRebalance lands short of the target (where BandRuleShadow, the model, assumed the target)", () => {
    const { feed, rt } = feedAndRuntime()
    const capped = (price: number, health: number, t: number, block: number) => {
      const s = snapshot(price, health, t, block)
      const sub = s.input.subAccounts[0] as { policy: { maxAmountPerRebalance: number } }
      sub.policy = { ...sub.policy, maxAmountPerRebalance: 1_000 }
      return s
    }
    feed.apply(rt, capped(3000, 1.3, T0, 1000))
    // 1.3 x 0.85 = 1.105 < 1.15: a rescue to 1.4 needs about 5,700 USDC of repayment (debt about 23,300); 1,000 allowed.
    feed.apply(rt, capped(2550, 1.105, T0 + 60, 1005))
    const after = feed.apply(rt, capped(2550, 1.105, T0 + 120, 1010)).input.subAccounts[0]?.boostFloorHealth as number
    expect(after).toBeGreaterThan(1.105)
    expect(after).toBeLessThan(1.2)
  })
})
