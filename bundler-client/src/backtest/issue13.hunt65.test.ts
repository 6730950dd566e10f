import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import type { PricePaths } from "../prices/csv.js"
import { lin, minutePath } from "./paths.testing.js"

/*
 * Helper hunt65 (issue 13's rule on new founder-style families, default traders). One class found, no-idle only:
 * R. A fast rally, then a >= 45 % one-minute gap. Threshold's swap boosts revert while the price rises (the plan
 * supplies the collateral quoted at the decision, the purchase at execution buys less: ActionFailed), and once its
 * health passes about 2.1 no boost within the caps reaches the band (150,000 per rebalance: "a swap boost capped by
 * the amount caps reaches health 1.701, outside [1.275, 1.700]"), so it stays at 2.1 for the rest of the path. The
 * autopilot's boosts land (planned for the rise) at about 1.68; the gap liquidates it only.
 * Stop 65: the second half was a dead zone for both strategies; a boost due from above the band that moves 99 % of the
 * cap may now land above the band (module `_checkPostConditions`, SECURITY.md row 154; solver `planSwapBoost`), so
 * threshold is re-levered after the rally as the autopilot is, and the gap takes both.
 */
const T0 = 1_700_000_000
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
/** 60 min flat at 3,000, +up linear over m minutes, 120 min flat, a one-minute gap -g held 240 minutes. */
const rallyGap = (up: number, m: number, g: number): PricePaths => {
  const flat = (n: number, q: number) => Array.from({ length: n }, () => q)
  let p = flat(61, 3000)
  p = [...p, ...lin(3000, 3000 * (1 + up), m)]
  p = [...p, ...flat(120, p.at(-1) as number)]
  return minutePath([...p, ...flat(241, (p.at(-1) as number) * (1 - g))], T0)
}

describe("hunt65 class R: a fast rally, then a one-minute gap (no-idle)", () => {
  const path = rallyGap(0.5, 20, 0.45)
  const swapsBefore = (ev: BacktestEvent[], minute: number) => ev.filter((e) => e.kind === "swap" && e.time < T0 + minute * 60)
  it("stop 65, the cap-bound boost (SECURITY.md row 154): after the rally threshold is re-levered too (one boost at the cap above the band, then one into it, before the gap at 201 min), and the gap takes both: no path where only the autopilot is liquidated", () => {
    const ev: BacktestEvent[] = []
    const threshold = runBacktest(path, NO_IDLE, "threshold", { trace: (e) => ev.push(e) })
    // Before stop 65 no boost landed before the gap (its boosts reverted in the rally, then none fit the caps from 2.1).
    const boosts = swapsBefore(ev, 200).filter((e) => e.detail.includes("Borrow") && e.detail.includes("BuyCollateral"))
    expect(boosts.length).toBeGreaterThanOrEqual(2)
    expect(threshold.liquidations).toBe(1)
    expect(runBacktest(path, NO_IDLE, "autopilot").liquidations).toBe(1)
  })
  it("the autopilot alone is not liquidated on the class's noise-free grid (+50 % over 20 minutes, then a 40-60 % gap)", () => {
    for (const g of [0.4, 0.45, 0.5, 0.55, 0.6]) {
      const p = rallyGap(0.5, 20, g)
      const t = runBacktest(p, NO_IDLE, "threshold").liquidations
      const a = runBacktest(p, NO_IDLE, "autopilot").liquidations
      expect(a > 0 && t === 0, `gap ${g}: threshold ${t}, autopilot ${a}`).toBe(false)
    }
  })
})
