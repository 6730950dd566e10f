import { afterEach, describe, expect, it } from "vitest"
import { NOISE } from "../risk/trend.js"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, lcg, minutePath } from "./paths.testing.js"

/*
 * Helper bk55, break-it review of stop 55 (issue 13; rule: where threshold is not liquidated, the autopilot is not
 * either). Main 81199132; "before this stop" is 647b7811. Stop 55's rules: a gap is read for two minutes
 * (TrendEstimator.gapped, GAP_STEPS = 2), the gap's top margin only in the gap's own minute (risk.gapLatest) and never
 * emptying a zone (workingPortfolio underTop), and a minute more than NOISE.outlier = 3 robust scales (was 4) from a
 * noisy window's median is a gap, not noise.
 *
 * Held (no autopilot-only liquidation on main, both traders unless said): a gap, a 2/5 % bounce held 1-2 min, then a
 * fall of 1-2 %/min for 3-6 min and -15/-20 % (128 paths); two gaps (-6..-14 % and -6/-10 %) 1-3 minutes apart, held
 * 1-5 min, then -15/-20 % (216); a gap of -6..-14 % inside a 0.1-0.4 %/min grind of 30-90 min, the grind going on 5-30
 * min, then -15/-20 % (72); a small gap (-3..-9 %) after -1 %/min, held 1-10 min, a second gap (-4..-10 %) held 2/5 min,
 * then -12 % (96: no liquidation at all; the in-band rescue's lower aim, underTop, left the autopilot within 0.001 of
 * threshold's min health, buffered); a noisy fall (-1.5 %/min, +-2/3 %) whose latest minute is an outlier of 2.5-4.5
 * robust scales down or 3.2-4 up, 0-2 noisy minutes after it, then -12 % (108 per trader), -14/-17 % (192, buffered:
 * the one break below).
 */

const BUFFERED = resolveBacktestConfig()
const T0 = 1_700_000_000
const last = (a: number[]) => a.at(-1) as number

/**
 * 6 h calm at 3,000 (lcg 1200 + seed), 20 minutes each x exp(-rate + v (2u - 1)) (uniform noise: robust scale about
 * 0.74 v), one minute x exp(-rate - o x 0.7413 v) (an outlier about `o` robust scales under the window's median), `after`
 * noisy minutes more, then a gap `g2` held 4 h.
 */
function noisyOutlier(seed: number, rate: number, v: number, o: number, after: number, g2: number) {
  const r = lcg(1200 + seed)
  const p = calm(360, 3000, r)
  for (let i = 0; i < 20; i++) p.push(last(p) * Math.exp(-rate + v * (r() - 0.5) * 2))
  p.push(last(p) * Math.exp(-rate - o * 0.7413 * v))
  for (let i = 0; i < after; i++) p.push(last(p) * Math.exp(-rate + v * (r() - 0.5) * 2))
  return minutePath([...p, ...calm(240, last(p) * (1 + g2), r)], T0)
}

const minute = (e: BacktestEvent) => Math.round((e.time - T0) / 60)

/*
 * New in stop 55 (NOISE.outlier 4 -> 3), fixed in stop 56 (see the first test). A noisy fall (seed 2, -1.5 %/min +-3 %) whose minute 380 falls 9.3 % (2,091.4
 * -> 1,897.5), 3.7 robust scales under the window's median: before stop 55 it was noise (`risk.noisy`, the sale sized at
 * the read price) and the autopilot's rescue decided at 380 was the pool's (WithdrawFromPool + Repay, landed at 381,
 * 1.180 -> 1.480, min health 1.1248). Now 380 is a gap (noisy false, gap and gapLatest true: sized for the price holding,
 * aimed near the target by the top margin) and the rescue decided there (the drawdown guard tripped at 380, 32.3 %; the
 * buffers-first rescue) is a flash-repay sale (RepayWithCallback + WithdrawCollateral + SellCollateral); the next minute
 * falls 1.7 % more (1,865.4, the noise) and it reverts short at 381 (ActionFailed: the callback needs 35,183.80 USDC, the
 * sale left 34,849.26); the -17 % gap at 382 liquidates it (0.9706). Threshold's pool rescue lands at 381 (1.0749 ->
 * 1.3763; min health 1.0749). The drawdown guard is not the cause (the same with `stopLoss` off: 0.9706). Narrow: a
 * 3.2 / 3.5 / 3.9 / 4.5-scale outlier on the same seed is not liquidated (1.1248). Grids (buffered; no-idle not
 * broken): seeds 1-8, v 3 %, outlier 3.2/3.5/3.7/3.9 scales, 1 minute after, -16/-17/-18 % (96 paths): threshold not
 * liquidated on 78, the autopilot on 3 of those (this seed and outlier, each final gap), 0 on 647b7811; seeds 1-4,
 * v 2/3 %, 2.5/3.2/3.7/4.5 scales, 0-2 minutes after, -14/-17 % (192): 1.
 */
describe("bk55: an outlier minute of 3-4 robust scales in a noisy fall, now a gap: the rescue is a sale sized for the price holding", () => {
  afterEach(() => {
    NOISE.outlier = 3
  })

  /*
   * Fixed in stop 56 (workingPortfolio `underTop`, `UNDER_TOP_WIDTH`): the in-band rescue's aim at 380 was the zone
   * [1.4415, 1.4415] (the top margin emptied it, so the aim was its floor), the pool funding aims HEALTH_MARGIN under the
   * aim's top and reached 1.4415 - 1e-6: "buffers could not", so the rescue was the sale. With the aim 10 x HEALTH_MARGIN
   * wide the pool's rescue is decided at 380 and lands at 381, as with NOISE.outlier 4.
   */
  it("noisy fall seed 2, +-3 %, a 3.7-scale -9.3 % minute at 380 (1,897.5), -1.7 % at 381, -17 % at 382 (buffered): threshold's pool rescue lands at 381 (min health 1.0749); the autopilot's pool rescue lands at 381 too (no sale reverted short) and it is not liquidated (1.1248)", () => {
    const p = noisyOutlier(2, 0.015, 0.03, 3.7, 1, -0.17)
    const threshold = runBacktest(p, BUFFERED, "threshold")
    expect(threshold.liquidations).toBe(0)
    expect(threshold.minHealth).toBeCloseTo(1.0749, 3)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "rejected" && /ActionFailed/.test(e.detail)).map(minute)).not.toContain(381)
    expect(events.filter((e) => e.kind === "rebalance" && /WithdrawFromPool/.test(e.detail)).map(minute)).toContain(381)
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.minHealth).toBeCloseTo(1.1248, 3)
  })

  it("control: with NOISE.outlier 4 (before stop 55; the 3.7-scale minute is noise, no top margin) the same pool rescue at 381 and min health 1.1248", () => {
    const p = noisyOutlier(2, 0.015, 0.03, 3.7, 1, -0.17)
    NOISE.outlier = 4
    const before: BacktestEvent[] = []
    const autopilot = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => before.push(e) })
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.minHealth).toBeCloseTo(1.1248, 3)
    expect(before.filter((e) => e.kind === "rebalance" && /WithdrawFromPool/.test(e.detail)).map(minute)).toContain(381)
  })

  it("control: the same seed with a 3.9-scale outlier (also a gap today): threshold 1.0702, the autopilot not liquidated (1.1248)", () => {
    const p = noisyOutlier(2, 0.015, 0.03, 3.9, 1, -0.17)
    const threshold = runBacktest(p, BUFFERED, "threshold")
    expect(threshold.liquidations).toBe(0)
    expect(threshold.minHealth).toBeCloseTo(1.0702, 3)
    const autopilot = runBacktest(p, BUFFERED, "autopilot")
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.minHealth).toBeCloseTo(1.1248, 3)
  })

  it("the class (buffered): seeds 1-8, +-3 %, outlier 3.2/3.5/3.7/3.9 scales, one noisy minute after, -16/-17/-18 % (96 paths): threshold not liquidated on 78, the autopilot on none of those (3 on stop 55's main, 0 before it)", () => {
    const broken: string[] = []
    let survived = 0
    for (let seed = 1; seed <= 8; seed++)
      for (const o of [3.2, 3.5, 3.7, 3.9])
        for (const g2 of [-0.16, -0.17, -0.18]) {
          const p = noisyOutlier(seed, 0.015, 0.03, o, 1, g2)
          if (runBacktest(p, BUFFERED, "threshold").liquidations > 0) continue
          survived++
          if (runBacktest(p, BUFFERED, "autopilot").liquidations > 0) broken.push(`${seed} ${o} ${g2}`)
        }
    expect(survived).toBe(78)
    expect(broken).toEqual([])
  }, 600_000)
})
