import { describe, expect, it } from "vitest"
import type { PricePaths } from "../prices/csv.js"
import { pathAtStep, SCENARIO_KINDS } from "../prices/generator.js"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { calm, lcg, lin } from "./paths.testing.js"
import { runSuitePaths } from "./suite.js"

/*
 * Stop 57 (issue 13; rule: where threshold is not liquidated, the autopilot is not either), price data sampled coarser
 * than the keeper's one-minute poll (a user backtesting on 5-minute or hourly candles): the scorecard's families
 * generated at 2, 5, 15 and 60-minute steps over the same three days (`stepSeconds`, `points`), 330 paths each, both
 * traders, on main 920ea5a: no path where the autopilot was liquidated and threshold was not (autopilot / threshold
 * liquidated paths: buffered 34/34, 37/37, 88/89, 95/97; no-idle 3/85, 53/100, 52/99, 64/98). Each operation fills at
 * the next sample (`executionDelay`: the step, not 60 s). Until `TREND_MIN_STEPS` (this stop) every step of a fall read
 * as a gap to the trend (`TrendEstimator.gapped`: the five-minute window held one step of 5-minute prices), so the
 * autopilot planned each rescue for the price holding: `backtest:suite --step-seconds 300`, no-idle, 31 -> 8 liquidated
 * paths of 220 with the minimum (bundler-client/README.md, Coarser price samples). The one-minute rules are not tuned
 * for coarse prices, which is why the rule is pinned here. A smaller share runs by default (4 paths per family per
 * sampling): the class test, not the measurement.
 */
describe("stop 57: coarse price samples", () => {
  for (const [trader, overlay] of [["buffered", {}], ["no-idle", TRADERS["no-idle"]]] as const) {
    for (const stepSeconds of [300, 3600]) {
      it(`${trader}, ${stepSeconds / 60}-minute steps, 4 paths per family: the autopilot is not liquidated where threshold is not`, { timeout: 120_000 }, () => {
        const config = resolveBacktestConfig({ ...overlay, strategies: ["threshold", "autopilot"] })
        const out = runSuitePaths({ count: 4 * SCENARIO_KINDS.length, baseSeed: 57_000, config, path: pathAtStep(stepSeconds) })
        expect(out).toHaveLength(4 * SCENARIO_KINDS.length)
        const broken = out.filter((r) => r.results[0]?.liquidations === 0 && (r.results[1]?.liquidations ?? 0) > 0).map((r) => `${r.kind} ${r.seed}`)
        expect(broken).toEqual([])
        // The sampling is what the run used: the strategies traded (a run that never rebalanced would pass vacuously).
        expect(out.some((r) => (r.results[1]?.rebalances ?? 0) > 0)).toBe(true)
      })
    }
  }
})

const T0 = 1_700_000_000
const last = (a: number[]) => a.at(-1) as number

/**
 * Helper bk57's generator (stop 57's break-it review): 6 hours calm at 3,000, then 3-12 random segments counted in
 * samples of `dt` seconds (a gap held 1-6 samples, a linear move over 1-6, or a flat stretch), then a final gap held 6
 * hours; `scale` scales the moves; the calm noise is 0.2 % a minute scaled to the step.
 */
function segments(seed: number, dt: number, scale: number): PricePaths {
  const r = lcg(seed * 7919 + dt)
  r()
  const per = Math.max(1, Math.round(3600 / dt))
  const v = 0.002 * Math.sqrt(dt / 60)
  let p = calm(6 * per, 3000, r, v)
  const n = 3 + Math.floor(r() * 10)
  for (let i = 0; i < n; i++) {
    const u = r()
    const x = (r() - 0.65) * 0.5 * scale
    if (u < 0.45) p = [...p, ...calm(1 + Math.floor(r() * 6), last(p) * (1 + x), r, v)]
    else if (u < 0.8) p = [...p, ...lin(last(p), last(p) * (1 + x), 1 + Math.floor(r() * 6))]
    else p = [...p, ...calm(1 + Math.floor(r() * 8), last(p), r, v)]
  }
  p = [...p, ...calm(6 * per, last(p) * (1 + (r() - 0.7) * 0.4 * scale), r, v)]
  return { timestamps: Float64Array.from(p.map((_, i) => T0 + dt * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(p) } }
}
const configOf = (trader: "buffered" | "no-idle") => resolveBacktestConfig(trader === "no-idle" ? TRADERS["no-idle"] : {})

describe("stop 57, helper bk57: random segments at coarse steps", () => {
  it("fixed by TREND_MIN_STEPS (each liquidated the autopilot, not threshold, with TREND_MIN_STEPS 1, checked): buffered 900 s seed 108; no-idle 300 s seed 201 and 7200 s seed 88 (scale 0.7)", { timeout: 60_000 }, () => {
    const cases = [["buffered", 900, 108, 0.7], ["no-idle", 300, 201, 0.7], ["no-idle", 7200, 88, 0.7]] as const
    for (const [trader, dt, seed, scale] of cases) {
      const p = segments(seed, dt, scale)
      expect(runBacktest(p, configOf(trader), "threshold").liquidations, `${trader} ${dt} ${seed}`).toBe(0)
      expect(runBacktest(p, configOf(trader), "autopilot").liquidations, `${trader} ${dt} ${seed}`).toBe(0)
    }
  })

  it.skip("FAILS TODAY (also with one step kept, before stop 57): 9 of about 2,000 paths at 5-minute to 2-hour steps, e.g. buffered 300 s seed 68 (scale 0.7): the guard trips at 395, its exit sale decided at 500 reverts at 505 (the price fell on over the 5-minute step: the sale paid less than its repayment) and the gap liquidates the autopilot at 510 (0.989) where threshold's pool repayment landed at 505 (1.029 -> 1.343); buffered 7200 s seed 86: the pool rescue aimed at its zone's top lands over it (1.5518 > 1.55) as the price rises over the 2-hour step, twice, and the autopilot is liquidated at 1560 where threshold's rescue, aimed at 1.40, landed. Expected: no liquidation", () => {
    const cases = [["buffered", 300, 68, 0.7], ["buffered", 300, 104, 0.7], ["buffered", 300, 167, 0.7], ["buffered", 900, 21, 0.5], ["buffered", 1800, 43, 0.7], ["buffered", 1800, 184, 0.7], ["buffered", 7200, 86, 0.7], ["no-idle", 7200, 71, 0.7], ["no-idle", 7200, 101, 0.7]] as const
    for (const [trader, dt, seed, scale] of cases) {
      const p = segments(seed, dt, scale)
      expect(runBacktest(p, configOf(trader), "threshold").liquidations, `${trader} ${dt} ${seed}`).toBe(0)
      expect(runBacktest(p, configOf(trader), "autopilot").liquidations, `${trader} ${dt} ${seed}`).toBe(0)
    }
  })
})
