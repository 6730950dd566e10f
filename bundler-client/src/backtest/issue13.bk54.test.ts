import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, fuzzPath, lcg, lin, minutePath } from "./paths.testing.js"

/*
 * Helper bk54, break-it review of stop 54 (issue 13; rule: where threshold is not liquidated, the autopilot is not
 * either). Main 2bf062fe. The breaks below are not from stop 54: each breaks the same on 4bb68202 (before g54 / w54).
 */

const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
const T0 = 1_700_000_000
const last = (a: number[]) => a.at(-1) as number

/**
 * 6 h calm at 3,000 (lcg 500 + m), a linear fall of `rate` per minute for `m` minutes, a gap `g1` in one minute, a
 * further fall `c` the next minute, held `h` minutes, then a gap `g2` held 4 h.
 */
function gapThenMore(rate: number, m: number, g1: number, c: number, h: number, g2: number) {
  const r = lcg(500 + m)
  let p = calm(360, 3000, r)
  p = [...p, ...lin(last(p), last(p) * (1 - rate * m), m)]
  p.push(last(p) * (1 + g1))
  p = [...p, ...calm(h, last(p) * (1 + c), r)]
  p = [...p, ...calm(240, last(p) * (1 + g2), r)]
  return minutePath(p, T0)
}

/*
 * A gap that goes on one more minute, then holds. The sale decided at the gap's poll (sized for the price holding, x53)
 * reverts short for threshold and the autopilot alike (ActionFailed, the next minute falls 2-4 % more). Threshold's
 * re-plan is at the read price and lands the minute the price holds; the autopilot's re-plan after the shortfall is
 * sized for the widened fall (rr13 F6) and reverts there (SaleExceedsRepayment), and the next gap, 2 minutes after the
 * first, liquidates it. The drawdown guard is not the cause (the same with `stopLoss` off). Held 3 minutes instead of
 * 2, saleHeld's re-plan at the read price lands before the second gap: no break. Hourly steps break the same way
 * (6 h calm, 12 hours of -2 %/h +-4 %, then -20 %: the autopilot's re-plan after a shortfall reverts at an hour the
 * price held, liquidated 0.9720 where threshold's lands, 1.0675).
 */
/*
 * Stop 55: the gap is read in the minute after it and the next (`TrendEstimator.gapped`, GAP_STEPS = 2), so the re-plan
 * after the first sale's shortfall is sized for the price holding, as threshold's, and lands the minute the price holds.
 * A grid of 192 paths (the class below, also held 3 minutes): no-idle autopilot-only liquidations 15 -> 0 (autopilot
 * liquidations 50 -> 16), buffered 0 -> 0.
 */
describe("bk54: a gap that falls one minute more and holds two: the re-plan after the shortfall is sized for a fall", () => {
  it("fixed (stop 55: a gap is read for two minutes, TrendEstimator.gapped's GAP_STEPS; was FAILS TODAY): -2 %/min for 4 min, -12 % at minute 364 (2,428.7), -3 % more at 365 (2,355.8), held to 366, -20 % at 367 (no-idle): threshold's sale reverts short at 365 and lands at 366 (1.0994 -> 1.3031, min health 1.0425); the autopilot's reverts short at 365, its re-plan reverts at 366 (SaleExceedsRepayment) and it is liquidated at 367 (0.9591)", () => {
    const p = gapThenMore(0.02, 4, -0.12, -0.03, 2, -0.2)
    const threshold = runBacktest(p, NO_IDLE, "threshold")
    expect(threshold.liquidations).toBe(0)
    // 1.0425 with the fixed take; 1.0320 under the sale-minimum default (stop 61): threshold's sales land in the mode.
    expect(threshold.minHealth).toBeCloseTo(1.032, 3)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, NO_IDLE, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "rejected" && /SaleExceedsRepayment/.test(e.detail ?? "")).map((e) => Math.round((e.time - T0) / 60))).not.toContain(366)
    expect(autopilot.liquidations).toBe(0)
  })

  it("fixed (stop 55, as above; was FAILS TODAY): the class (no-idle): a fall of 1/2/3 %/min for 4/8 min, a gap of -8/-12 %, 2/3/4/6 % more the next minute, held 2 minutes, then -15/-20 % (96 paths): threshold is not liquidated on 46, the autopilot is on 15 of those 46 (the same 15 on 4bb68202; buffered 0)", () => {
    const broken: string[] = []
    let survived = 0
    for (const rate of [0.01, 0.02, 0.03])
      for (const m of [4, 8])
        for (const g1 of [-0.08, -0.12])
          for (const c of [-0.02, -0.03, -0.04, -0.06])
            for (const g2 of [-0.15, -0.2]) {
              const p = gapThenMore(rate, m, g1, c, 2, g2)
              if (runBacktest(p, NO_IDLE, "threshold").liquidations > 0) continue
              survived++
              if (runBacktest(p, NO_IDLE, "autopilot").liquidations > 0) broken.push(`${rate} ${m} ${g1} ${c} ${g2}`)
            }
    expect(survived).toBe(46)
    expect(broken).toEqual([])
  })
})

const BUFFERED = resolveBacktestConfig()

/**
 * 6 h calm at 3,000 (lcg 800 + seed), 20 minutes each x exp(-1.5 % + v x (2u - 1)), a gap `g1` in one minute, back
 * `rec` of it the next minute, then a gap `g2` held 4 h.
 */
function noisyWick(seed: number, v: number, g1: number, rec: number, g2: number) {
  const r = lcg(800 + seed)
  let p = calm(360, 3000, r)
  for (let i = 0; i < 20; i++) p.push(last(p) * Math.exp(-0.015 + v * (r() - 0.5) * 2))
  const pre = last(p)
  p.push(pre * (1 + g1))
  p.push(pre * (1 + g1 * (1 - rec)))
  p = [...p, ...calm(240, last(p) * (1 + g2), r)]
  return minutePath(p, T0)
}

/*
 * bk53's wick (a gap, a partial rebound a minute later, a second gap) at the end of a noisy fall (-1.5 %/min, +-2-3 %
 * a minute) instead of a steady one. Buffered: the pool rescue decided at the gap's poll lands after the rebound over
 * the zone's top (HealthOutsideLandingZone) and the second gap liquidates it, as in bk53's wick before w54 (w54's top
 * margin did not save these; the drawdown guard is not the cause: the same with `stopLoss` off). Grid (seeds 1-5, v
 * 2/3 %, g1 -10/-15 %, rebound 0/30/60 %, g2 -10/-15/-20 %; 180 paths per trader): autopilot-only liquidations on
 * main 10 buffered + 2 no-idle, on 4bb68202 15 + 6 (stop 54 fixed 9, broke none).
 */
describe("bk54: bk53's wick at the end of a noisy fall", () => {
  it("fixed (stop 55: the -10 % minute is an outlier of the noise, NOISE.outlier 3, so not noisy and the gap's top margin applies; the top margin never empties the in-band zone, underTop; was FAILS TODAY): noisy wick seed 2, +-3 %, -10 % at minute 380 (1,818.6), +3.3 % at 381 (1,879.2), -20 % at 382 (buffered): threshold's pool rescue lands at 381 (1.0893 -> 1.4467, min health 1.0542); the autopilot's, decided at 380 (in band, 1.159), landed at 1.6017 over the zone's top (HealthOutsideLandingZone) and it was liquidated at 382 (0.9582)", () => {
    const p = noisyWick(2, 0.03, -0.1, 0.3, -0.2)
    const threshold = runBacktest(p, BUFFERED, "threshold")
    expect(threshold.liquidations).toBe(0)
    expect(threshold.minHealth).toBeCloseTo(1.0542, 3)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "rejected" && /lands at health/.test(e.detail ?? "")).map((e) => Math.round((e.time - T0) / 60))).toEqual([])
    expect(autopilot.liquidations).toBe(0)
  })

  it.skip("FAILS TODAY: noisy wick seed 2, +-3 %, -10 % at minute 380 held, -20 % at 382 (no-idle): threshold's sale lands at 369 and its rescue at 381 (1.0203 -> 1.4000); the autopilot's sales revert at every poll from 369 to 377 (SaleExceedsRepayment and short), land at 378 (1.3305), no rescue after the -10 % gap, liquidated at 382 (0.9287)", () => {
    const p = noisyWick(2, 0.03, -0.1, 0, -0.2)
    expect(runBacktest(p, NO_IDLE, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, NO_IDLE, "autopilot").liquidations).toBe(0)
  })

  // Helper he63 (the centred aim whatever the repayment mode): under the default as before (5); with swaps off 2 -> 4 and
  // with the fixed take (swap.repayment "amount") 3 -> 5, the same two wicks he62 added under the mode.
  it.skip("FAILS TODAY: the class (buffered, 180 paths): threshold not liquidated on 135, the autopilot on 5 of those (3 before he62's centred aim, solver centredAim: seeds 1 and 2 at +-3 %, -10 %, 60 % taken back, -20 % new; 10 before stop 55, 15 on 4bb68202)", () => {
    const broken: string[] = []
    let survived = 0
    for (const seed of [1, 2, 3, 4, 5])
      for (const v of [0.02, 0.03])
        for (const g1 of [-0.1, -0.15])
          for (const rec of [0, 0.3, 0.6])
            for (const g2 of [-0.1, -0.15, -0.2]) {
              const p = noisyWick(seed, v, g1, rec, g2)
              if (runBacktest(p, BUFFERED, "threshold").liquidations > 0) continue
              survived++
              if (runBacktest(p, BUFFERED, "autopilot").liquidations > 0) broken.push(`${seed} ${v} ${g1} ${rec} ${g2}`)
            }
    expect(survived).toBe(135)
    expect(broken).toEqual([])
  })
})

/*
 * Fuzz seeds 1400-1699 (`fuzzPath`, both traders, 600 runs): one autopilot-only liquidation, seed 1596 buffered (also
 * on 4bb68202). The drawdown guard tripped at minute 1669 (drawdown 30.5 %); 58 minutes later, in a steady
 * fall (1,914 at 1707 to 1,595 at 1727, -0.9 %/min), the autopilot's plan is the guard's stop exit (a sale), not the
 * pool rescue it makes without the guard (12,324 USDC from the pool at 1727, 1.2265 -> 1.5112); the sale reverts short
 * by 3,702 of 28,619,029,186 base units (0.013 %: sized for the fall less a take's tolerance) and the -22 % gap at 1728
 * liquidates it. Threshold's pool rescue lands at 1727 (1.1351 -> 1.3870). x52's `exitFragile` does not apply: the guard
 * did not trip in a jump its trend still reads. Fixed in stop 56 (engine `exitOverDelay`): an exit that would not land
 * were the latest poll's fall to go on until it executes is re-sized for its fall over that delay, and lands.
 */
describe("bk54: the drawdown guard's stop exit in a steady fall before a gap", () => {
  it("control: fuzz seed 1596 (buffered) with the drawdown guard off: the autopilot's pool rescue lands at 1727 and it is not liquidated (min health 1.1114)", () => {
    const p = fuzzPath(1596, T0)
    const autopilot = runBacktest(p, { ...BUFFERED, policy: { ...BUFFERED.policy, stopLoss: undefined } }, "autopilot")
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.minHealth).toBeCloseTo(1.1114, 3)
  })

  it("fuzz seed 1596 (buffered): threshold is not liquidated (min health 1.0834); the autopilot's stop exit decided at 1726, re-sized over the minute it takes (stop 56, exitOverDelay), lands at 1727 (a sale, no ActionFailed) and the -22 % gap at 1728 does not liquidate it (min health 1.1114)", () => {
    const p = fuzzPath(1596, T0)
    const threshold = runBacktest(p, BUFFERED, "threshold")
    expect(threshold.liquidations).toBe(0)
    expect(threshold.minHealth).toBeCloseTo(1.0834, 3)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    const at = (e: BacktestEvent) => Math.round((e.time - T0) / 60)
    expect(events.filter((e) => e.kind === "rejected" && /ActionFailed/.test(e.detail)).map(at)).not.toContain(1727)
    expect(events.filter((e) => e.kind === "swap" && /RepayWithCallback/.test(e.detail)).map(at)).toContain(1727)
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.minHealth).toBeCloseTo(1.1114, 3)
  })
})
