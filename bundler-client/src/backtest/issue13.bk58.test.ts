import { describe, expect, it } from "vitest"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import { chainPath } from "./paths.testing.js"

/*
 * Helper bk58's break-it review of stop 58's fallsOnTrend (8a9d5407: a tripped guard's exit that misses on the latest
 * poll's fall, re-sized or not, waited for the buffers-first rescue when that fall was the trend's own, at most twice
 * its per-poll move). On bk58's random chains (`chainPath`, paths.testing.ts; seeds 1-2600) it moved autopilot-only
 * liquidations 12 -> 13 buffered (913 and 1771 new, 2061 fixed) and 10 -> 10 no-idle, and cost -506,086 of buffered
 * final equity (383 paths changed: 133 worse by -600,348, 250 better by +94,262; seed 1308 -26,744: the exit that waited
 * would have landed, and the guard's cut never came as every later exit waited as a noisy fall). Reverted in stop 58;
 * the two paths it broke are kept as controls (both pass on 488b3068 and after the revert).
 */
const T0 = 1_700_000_000
const BUFFERED = resolveBacktestConfig()

describe("bk58: controls against stop 58's reverted fallsOnTrend", () => {
  // [seed, what fallsOnTrend did there]: both buffered, threshold survives; each liquidated the autopilot with the change.
  const cases = [
    [913, "a noisy fall of about -4.5 %/min from 397 to 419, then -18.6 % held: with fallsOnTrend its exit at 412 waited, the next one at 418 reverted short at 419 and the gap at 420 liquidated it (0.924)"],
    [1771, "a -1 %/min fall, a -10 % gap over 399-401, -2.8 %/min, then -10.7 % at 408 and -14.7 % at 409: with fallsOnTrend its exit at 400 waited, the pool rescue landed at a higher price and smaller, and its rescue decided at 408 came too late (liquidated at 409, 0.965)"],
  ] as const
  for (const [seed, what] of cases) {
    it(`held: random chain seed ${seed} (buffered), ${what}: threshold and the autopilot survive`, () => {
      const p = chainPath(seed, T0)
      expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
      const a = runBacktest(p, BUFFERED, "autopilot")
      expect(a.liquidations).toBe(0)
      expect(a.minHealth).toBeGreaterThan(1)
    })
  }
})
