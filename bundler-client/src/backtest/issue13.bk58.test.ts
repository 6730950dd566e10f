import { describe, expect, it } from "vitest"
import type { PricePaths } from "../prices/csv.js"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import { calm, lcg } from "./paths.testing.js"

/*
 * Helper bk58's break-it review of stop 58's fallsOnTrend (8a9d5407: a tripped guard's exit that misses on the latest
 * poll's fall, re-sized or not, waited for the buffers-first rescue when that fall was the trend's own, at most twice
 * its per-poll move). On bk58's random chains (below; seeds 1-2600, one-minute steps) it moved autopilot-only
 * liquidations 12 -> 13 buffered (913 and 1771 new, 2061 fixed) and 10 -> 10 no-idle, and cost -506,086 of buffered
 * final equity (383 paths changed: 133 worse by -600,348, 250 better by +94,262; seed 1308 -26,744: the exit that waited
 * would have landed, and the guard's cut never came as every later exit waited as a noisy fall). Reverted in stop 58;
 * the two paths it broke are kept as controls (both pass on 488b3068 and after the revert).
 */
const T0 = 1_700_000_000
const BUFFERED = resolveBacktestConfig()
const last = (a: number[]) => a.at(-1) as number

/**
 * bk58's random chain `seed`: 6 h calm at 3,000, then 1-4 segments: a fall of 0.3-2.8 %/min with noise (a ratio 0-1.6 of
 * the rate, 30 % of them upward-skewed) for 5-44 minutes (70 %), 1-30 minutes calm (15 %), or a gap of -3 to -15 %
 * spread over 1-3 minutes (15 %); then (75 %) a gap of -5 to -25 % held 4 h, else 4 h calm. One-minute steps.
 */
function chain(seed: number): PricePaths {
  const r = lcg(seed * 104729 + 17)
  r()
  let p = calm(360, 3000, r)
  const nseg = 1 + Math.floor(r() * 4)
  for (let j = 0; j < nseg; j++) {
    const u = r()
    if (u < 0.7) {
      const rate = 0.003 + r() * 0.025
      const vr = r() * 1.6
      const n = 5 + Math.floor(r() * 40)
      const skew = r() < 0.3
      for (let i = 0; i < n; i++) {
        const w = r()
        const z = skew ? (w > 0.8 ? 3 * w : -w) : (w - 0.5) * 2
        p.push(last(p) * Math.exp(-rate + vr * rate * z))
      }
    } else if (u < 0.85) p = [...p, ...calm(1 + Math.floor(r() * 30), last(p), r)]
    else {
      const m = 1 + Math.floor(r() * 3)
      const G = -(0.03 + r() * 0.12)
      for (let i = 0; i < m; i++) p.push(last(p) * Math.exp(Math.log(1 + G) / m))
    }
  }
  const g = r() < 0.75 ? -(0.05 + r() * 0.2) : 0
  p = [...p, ...calm(240, last(p) * (1 + g), r)]
  return { timestamps: Float64Array.from(p.map((_, i) => T0 + 60 * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(p) } }
}

describe("bk58: controls against stop 58's reverted fallsOnTrend", () => {
  // [seed, what fallsOnTrend did there]: both buffered, threshold survives; each liquidated the autopilot with the change.
  const cases = [
    [913, "a noisy fall of about -4.5 %/min from 397 to 419, then -18.6 % held: with fallsOnTrend its exit at 412 waited, the next one at 418 reverted short at 419 and the gap at 420 liquidated it (0.924)"],
    [1771, "a -1 %/min fall, a -10 % gap over 399-401, -2.8 %/min, then -10.7 % at 408 and -14.7 % at 409: with fallsOnTrend its exit at 400 waited, the pool rescue landed at a higher price and smaller, and its rescue decided at 408 came too late (liquidated at 409, 0.965)"],
  ] as const
  for (const [seed, what] of cases) {
    it(`held: random chain seed ${seed} (buffered), ${what}: threshold and the autopilot survive`, () => {
      const p = chain(seed)
      expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
      const a = runBacktest(p, BUFFERED, "autopilot")
      expect(a.liquidations).toBe(0)
      expect(a.minHealth).toBeGreaterThan(1)
    })
  }
})
