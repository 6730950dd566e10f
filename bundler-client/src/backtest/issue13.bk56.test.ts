import { describe, expect, it } from "vitest"
import type { PricePaths } from "../prices/csv.js"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, lcg, lin } from "./paths.testing.js"

/*
 * Helper bk56's break-it review of stop 56 (49c7379e; issue 13's rule: where threshold is not liquidated, the autopilot
 * is not either). New shapes, both traders (grid: paths / autopilot-only breaks, after -> on 358965ba):
 *   - noisy falls sampled every 5 minutes (240 paths): buffered 1 -> 1 (class B), no-idle 0 -> 0;
 *     every 15 minutes (240): 0 / 0 (both traders).
 *   - long noisy falls, 60-120 minutes at -0.3 to -0.8 %/min +-2/3 %, then flat or -15 % (240): 0 / 0 (both traders).
 *   - a steady fall that stops or bounces 0-3 % for 1-5 minutes, then a gap (432): 0 (both traders).
 *   - accelerating / decelerating falls then a gap (180): 0 (both traders).
 *   - a steady fall then a gap at minute 3-20 (192): 0 (both traders).
 *   - a noisy fall, flat 1-10 minutes, then a gap (400): buffered 1 (class A), 2 on 358965ba; no-idle 0.
 *   - a fall with upward-skewed noise (big up-ticks one minute in five) then a gap (240): buffered 2 (class A), 4 on
 *     358965ba; no-idle 0.
 *   - a noisy rise then a noisy fall then a gap (160): buffered 0; no-idle 8 (class C), the same 8 on 358965ba.
 *   - two noisy falls 10-240 minutes apart (the pool fed into the first), then a gap (120): 0 (both traders).
 * No class is new in 49c7379e: every break below also breaks on 358965ba, and the commit fixed 1 (flat) + 2 (upward
 * noise) buffered paths of these grids (controls below).
 *
 * The noisy-exit wait's wealth cost (autopilot final equity, 49c7379e - 358965ba, same paths): the flat-after-fall
 * grid -226,070 over 61 changed paths of 400 (43 worse; worst -15,463: the pinned control below), the long noisy-fall
 * grid -107,947 over 64 of 240 (worst -13,367); upward noise +88,521 (two paths saved); no-idle long -320. The exit
 * that waits does not "stay owed" in effect: the pool rescue that replaces it lands in the band, no rescue is due after
 * it, and the guard's cut of exposure never comes until the next band rescue (after the gap).
 */
const T0 = 1_700_000_000
const BUFFERED = resolveBacktestConfig()
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
const last = (a: number[]) => a.at(-1) as number
const minute = (e: BacktestEvent) => Math.round((e.time - T0) / 60)
const steps = (ps: number[], dt: number): PricePaths => ({ timestamps: Float64Array.from(ps.map((_, i) => T0 + dt * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(ps) } })

/** 6 h calm at 3,000, then `n` steps of `dt` minutes each x exp(-rate dt + v sqrt(dt) (2u - 1)), then a gap `g2` held 4 h; steps of `dt` minutes. */
function noisyEvery(seed: number, dt: number, rate: number, v: number, n: number, g2: number): PricePaths {
  const r = lcg(100 + seed)
  const p = calm(360 / dt, 3000, r)
  for (let i = 0; i < n; i++) p.push(last(p) * Math.exp(-rate * dt + v * Math.sqrt(dt) * (r() - 0.5) * 2))
  return steps([...p, ...calm(240 / dt, last(p) * (1 + g2), r)], 60 * dt)
}
/** A fall of `rate`/min with upward-skewed noise (u > 0.8: up 3 v u, else down v u) for `n` minutes, then a gap `g2`. */
function upNoise(seed: number, rate: number, v: number, n: number, g2: number): PricePaths {
  const r = lcg(7100 + seed)
  const p = calm(360, 3000, r)
  for (let i = 0; i < n; i++) {
    const u = r()
    p.push(last(p) * Math.exp(-rate + (u > 0.8 ? 3 * v * u : -v * u)))
  }
  return steps([...p, ...calm(240, last(p) * (1 + g2), r)], 60)
}
/** A 25-minute noisy fall, `f` minutes flat, then a gap `g2`. */
function noisyFlat(seed: number, rate: number, v: number, f: number, g2: number): PricePaths {
  const r = lcg(5100 + seed)
  let p = calm(360, 3000, r)
  for (let i = 0; i < 25; i++) p.push(last(p) * Math.exp(-rate + v * (r() - 0.5) * 2))
  p = [...p, ...calm(f, last(p), r)]
  return steps([...p, ...calm(240, last(p) * (1 + g2), r)], 60)
}
/** A 30-minute noisy rise (`up`/min), an `n`-minute noisy fall (`rate`/min), then a gap `g2`. */
function riseFall(seed: number, up: number, rate: number, v: number, n: number, g2: number): PricePaths {
  const r = lcg(6100 + seed)
  const p = calm(360, 3000, r)
  for (let i = 0; i < 30; i++) p.push(last(p) * Math.exp(up + v * (r() - 0.5) * 2))
  for (let i = 0; i < n; i++) p.push(last(p) * Math.exp(-rate + v * (r() - 0.5) * 2))
  return steps([...p, ...calm(240, last(p) * (1 + g2), r)], 60)
}
/** A long noisy fall (`n` minutes) then a gap `g2`. */
function longNoisy(seed: number, rate: number, v: number, n: number, g2: number): PricePaths {
  const r = lcg(2100 + seed)
  const p = calm(360, 3000, r)
  for (let i = 0; i < n; i++) p.push(last(p) * Math.exp(-rate + v * (r() - 0.5) * 2))
  return steps([...p, ...calm(240, last(p) * (1 + g2), r)], 60)
}
/** A steady fall of `rate`/min for `n` minutes, a bounce `b`, `h` minutes held, then a gap `g`. */
function fallStop(rate: number, n: number, b: number, h: number, g: number): PricePaths {
  const r = lcg(3100 + n)
  let p = calm(360, 3000, r)
  p = [...p, ...lin(last(p), last(p) * (1 - rate * n), n)]
  p.push(last(p) * (1 + b))
  p = [...p, ...calm(h, last(p), r)]
  return steps([...p, ...calm(240, last(p) * (1 + g), r)], 60)
}

describe("bk56: breaks (all also on 358965ba)", () => {
  // Found passing in stop 62 (main 4b0c03e, re-running the skipped pins under the sale-minimum default since stop 61:
  // the exit's repayment follows the inclusion oracle, so it no longer reverts short; the expectation below holds).
  it("was FAILS TODAY (stop 56 tried the exit giving way to the buffers-first rescue when its re-sized one misses too: fixed these, failed rr13w W2's gap collapse and three other pins; not kept; stop 58 tried it only when the latest poll's fall is the trend's own: fixed these and W2 held, but broke helper bk58's random chains 913 and 1771 and cost -506,086 over 2,600 of them; not kept, see engine exitOverDelay): class A, a tripped guard's exit that exitOverDelay sees miss (and its re-sized one too) still goes: upward-noise fall seed 11, -2 %/min, 35 min, then -20 % (buffered). Threshold's pool rescue (decided 393) lands; the autopilot's exit decided at 393 (1,633.9, latest poll -2.3 %: extrapolated 1,596.1, neither the exit nor the re-sized one lands there) reverts short at 394 (1,600.0) and the gap liquidates it at 395 (0.9706). Expected once fixed: such an exit gives way to the buffers-first rescue (as exitFragile's) and the autopilot survives", () => {
    const p = upNoise(11, 0.02, 0.02, 35, -0.2)
    expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
  })

  // Found passing in stop 62 (as above).
  it("was FAILS TODAY: class A, the other paths: upward-noise seed 14 (-2 %/min +-2 %, 35 min, -20 %; exit 393 reverts short at 394, liquidated 395, 0.948) and noisy fall seed 1 -2 %/min +-3 %, flat 1 minute, -18 % (the exit at 384, sized for the -4.9 % latest poll's fall, reverts SaleExceedsRepayment at 385 as the price holds; liquidated 386, 0.972), buffered: threshold survives all, the autopilot should too", () => {
    for (const p of [upNoise(14, 0.02, 0.02, 35, -0.2), noisyFlat(1, 0.02, 0.03, 1, -0.18)]) {
      expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
      expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
    }
  })

  it.skip("FAILS TODAY: class B, a noisy fall sampled every 5 minutes, seed 3, -2 %/min +-2 %/sqrt-min, 6 steps, then -20 % (buffered). The autopilot's in-band pool rescue decided at 380 (1,972.2) lands at 385 (1,844.7, -6.5 % over the 5-minute step) at health 1.334 under its zone [1.4, 1.55] (HealthOutsideLandingZone) where threshold's out-of-band pool rescue of the same step lands; the guard trips at 385 and the gap liquidates the autopilot at 390 (0.938; threshold min 1.042). At 380 one of the latest two steps reads as a gap (TrendEstimator.gapped, against the fall's earlier steps through the noise), so the rescue is planned for the price holding. bk56's seed 11 (-1.5 %/min) broke the same way until stop 57's TREND_MIN_STEPS (there every step read as a gap: the five-minute window held one step); the grid stays 1 of 240 buffered (autopilot liquidations 134 -> 125), no-idle 0. Expected: no liquidation", () => {
    const p = noisyEvery(3, 5, 0.02, 0.02, 6, -0.2)
    expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
  })

  it.skip("FAILS TODAY: class C (no-idle), a noisy rise (+1 %/min, 30 min) then a noisy fall (-2 %/min +-3 %, 20 min) then -12 %, seed 5: the guard trips at 396 on the drawdown from the top, threshold's sale decided at 405 reverts at 406 and its retry lands at 407; the autopilot's first sale is decided at 408, reverts short at 409 and the gap liquidates it at 410 (0.9739; threshold 1.025). 8 of the 160-path rise grid break the same way (all on 358965ba too). Cause (stop 57): the autopilot boosted near the top (386) where threshold did not, so after the guard trips its health stays above the band rule's shadow and no in-band rescue or exit is due (belowTarget's shadow test, bk50) until it leaves the band at 408; in band the no-idle exit cannot reach the in-band zone [target, ...] in one sale within maxSlippageBps, and below the band it has one draw of the noise. Tried, not kept: the tripped guard's exit from any in-band health below the target (shadow ignored): fixes this seed (a sale lands at 403 in a quiet minute, min 1.28), buffered suite +293 per path, but no-idle whipsaw -15,148 per path (sold at each dip that trips the guard, boosted back when it re-arms); only while TrendEstimator.noisy: this seed fixed, rise grid 8 -> 7, but new breaks on long noisy seed 3 (no-idle) and upward-noise seed 8 (buffered). Expected: no liquidation", () => {
    const p = riseFall(5, 0.01, 0.02, 0.03, 20, -0.12)
    expect(runBacktest(p, NO_IDLE, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, NO_IDLE, "autopilot").liquidations).toBe(0)
  })
})

describe("bk56: controls (pass today)", () => {
  it("class B's seed 11 (-1.5 %/min +-2 %/sqrt-min, 5-minute steps, then -20 %, buffered) survives since stop 57's TREND_MIN_STEPS: threshold and the autopilot both (before: every 5-minute step read as a gap, the in-band rescue decided at 380 landed under its zone at 385 and the gap liquidated the autopilot at 390, 0.9391)", () => {
    const p = noisyEvery(11, 5, 0.015, 0.02, 6, -0.2)
    expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
    const a = runBacktest(p, BUFFERED, "autopilot")
    expect(a.liquidations).toBe(0)
    expect(a.minHealth).toBeGreaterThan(1)
  })

  it("fixed by 49c7379e: noisy fall seed 1 -2 %/min +-4 %, flat 1 minute, -18 %, and upward-noise seeds 2 and 14 (+-3 %), buffered: threshold and the autopilot survive (all three autopilot-only liquidations on 358965ba)", () => {
    for (const p of [noisyFlat(1, 0.02, 0.04, 1, -0.18), upNoise(2, 0.02, 0.03, 20, -0.2), upNoise(14, 0.02, 0.03, 35, -0.2)]) {
      expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
      expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
    }
  })

  it("held: long noisy falls (seeds 1-5, -0.8 %/min +-3 %, 120 minutes, then -15 %) and 15-minute-sampled noisy falls (seeds 1-5, -1 %/min +-3 %, then -20 %), both traders: no autopilot-only liquidation", () => {
    const broken: string[] = []
    for (const [name, cfg] of [["buffered", BUFFERED], ["no-idle", NO_IDLE]] as const)
      for (let s = 1; s <= 5; s++)
        for (const p of [longNoisy(s, 0.008, 0.03, 120, -0.15), noisyEvery(s, 15, 0.01, 0.03, 3, -0.2)])
          if (runBacktest(p, cfg, "threshold").liquidations === 0 && runBacktest(p, cfg, "autopilot").liquidations > 0) broken.push(`${name} ${s}`)
    expect(broken).toEqual([])
  })

  it("held: a steady fall (-1.3 %/min, 18 minutes) that stops, bounces 1 % or 3 % for 1-2 minutes, then -18 % (exitOverDelay's re-sized exit then meets a price that held), buffered: no autopilot-only liquidation", () => {
    for (const b of [0, 0.01, 0.03])
      for (const h of [1, 2]) {
        const p = fallStop(0.013, 18, b, h, -0.18)
        const t = runBacktest(p, BUFFERED, "threshold").liquidations
        if (t === 0) expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
      }
  })

  it("the noisy-exit wait's cost: noisy fall seed 1 -1.5 %/min +-4 %, flat 10 minutes, -18 % (buffered): the guard trips at 376, the pool rescues land at 373 and 378 (stop 64: the rescue at 372 landed 1.378, under the target, started no cooldown and was owed the rest, `rescueOwed`, finished at 373; before, the exit at 377 waited and the pool rescue landed at 378) and no sale comes until the band rescue after the gap (396); final equity 103,326 against 118,787 on 358965ba, whose exit sold 25.8 ETH at 378", () => {
    const p = noisyFlat(1, 0.015, 0.04, 10, -0.18)
    const events: BacktestEvent[] = []
    const a = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    expect(a.liquidations).toBe(0)
    expect(events.filter((e) => e.kind === "rebalance" && minute(e) > 370 && minute(e) < 395).map(minute)).toEqual([372, 373, 378])
    expect(events.filter((e) => e.kind === "swap" && minute(e) > 370 && minute(e) < 395)).toEqual([])
    expect(a.finalEquity).toBeLessThan(104_000)
  })
})
