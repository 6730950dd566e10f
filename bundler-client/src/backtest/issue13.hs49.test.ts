import { describe, expect, it, test } from "vitest"
import { resolveBacktestConfig } from "./config.js"
import type { StrategyName } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, lcg, minutePath } from "./paths.testing.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Helper hs49, held-out stress scan of issue 13's rule "on any path where threshold is not liquidated, the autopilot is
 * not liquidated either" (bundler-client/bench/heldout-scan.ts; bundler-client/README.md, "Held-out stress scan").
 * Finding: a staircase of gaps, each too small to liquidate a position resting at the target, liquidates the autopilot
 * and neither threshold nor dfs-style. The first gap triggers both solver strategies together; threshold re-lands at the
 * target (1.40), the autopilot higher (1.48: its probability health after the gap). The second gap takes threshold below
 * the band (rescued to 1.40 again) but leaves the autopilot inside it (about 1.18), where the module refuses any
 * rebalance (RebalanceLib `_trigger`: due only below minHealth, or below exitHealth under an engaged on-chain stop),
 * so the third gap, which threshold at 1.40 survives, liquidates it. Not a tuning accident: under a band trigger shared
 * with threshold, any rescue landing above threshold's lets a fall trigger threshold and not the autopilot, after which
 * the autopilot sits below threshold with no operation allowed (README, the scan's paragraph).
 */

const T0 = 1_700_000_000
const buffered = resolveBacktestConfig()
// The band rule alone: the autopilot without the module's in-band rescue (issue 13, t50: `rescueBelowTarget`, on by
// default since), as the finding was measured.
const bandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } })

/**
 * Seeded (`seed`): 6 h calm at 3,000, then (when `up` is not 0) a one-minute gap up of `up` (fraction) held 12 h, then
 * one one-minute gap per entry of `gaps` (fractions), each followed by 4 h calm.
 */
function staircase(gaps: readonly number[], seed: number, up = 0): PricePaths {
  const r = lcg(seed)
  let ps = calm(360, 3000, r)
  if (up !== 0) ps = [...ps, ...calm(720, (ps.at(-1) as number) * (1 + up), r)]
  for (const g of gaps) ps = [...ps, ...calm(240, (ps.at(-1) as number) * (1 - g), r)]
  return minutePath(ps, T0)
}

function run(p: PricePaths, strategy: StrategyName, config = buffered) {
  const events: BacktestEvent[] = []
  const result = runBacktest(p, config, strategy, { trace: (e) => events.push(e) })
  return { result, events, landed: events.filter((e) => e.kind === "rebalance" || e.kind === "swap") }
}

/** The three staircases of the finding (gaps 20/20/22, 20/20/18, 25/20/20 %), seeds 1-3 each. */
const CASES = [
  [0.2, 0.2, 0.22],
  [0.2, 0.2, 0.18],
  [0.25, 0.2, 0.2],
] as const

describe("hs49: a staircase of gaps liquidates the autopilot where threshold and dfs-style survive (buffered trader)", () => {
  it("without the in-band rescue (rescueBelowTarget false, main before t50): 20/20/22 % gaps 4 h apart, seeds 1-3: threshold and dfs-style not liquidated (min health 1.08-1.10), the autopilot liquidated at the third gap (0.92), having landed at 1.48 after the first and not acted after the second", () => {
    for (const seed of [1, 2, 3]) {
      const p = staircase(CASES[0], seed)
      const threshold = run(p, "threshold", bandOnly)
      const dfs = run(p, "dfs-style", bandOnly)
      const autopilot = run(p, "autopilot", bandOnly)
      expect(threshold.result.liquidations).toBe(0)
      expect(dfs.result.liquidations).toBe(0)
      expect(threshold.result.minHealth).toBeGreaterThan(1.07)
      expect(autopilot.result.liquidations).toBe(1)
      expect(autopilot.result.minHealth).toBeLessThan(0.93)
      // The first gap (minute 360) triggers both: threshold re-lands at the target, the autopilot above it.
      const first = (x: ReturnType<typeof run>) => x.landed.find((e) => (e.time - T0) / 60 > 300) as BacktestEvent
      expect(first(threshold).healthAfter).toBeCloseTo(1.4, 2)
      expect(first(autopilot).healthAfter).toBeGreaterThan(1.45)
      // The second gap (minute 600) rescues threshold; the autopilot, inside its band, lands nothing until it is liquidated.
      expect(threshold.landed.some((e) => (e.time - T0) / 60 > 600 && (e.time - T0) / 60 < 700)).toBe(true)
      expect(autopilot.landed.filter((e) => (e.time - T0) / 60 > 400)).toEqual([])
      expect(autopilot.events.find((e) => e.kind === "liquidation")?.time).toBe(T0 + 840 * 60)
    }
  })

  it("with the in-band rescue (the default policy, t50): the same paths, the autopilot not liquidated: after the second gap it is inside its band below the target (1.18-1.19) and an in-band rescue lands it at or above the target before the third gap; threshold's run is the same", () => {
    for (const seed of [1, 2, 3]) {
      const p = staircase(CASES[0], seed)
      const threshold = run(p, "threshold")
      const autopilot = run(p, "autopilot")
      expect(threshold.result.liquidations).toBe(0)
      expect(threshold.result.finalEquity).toBe(run(p, "threshold", bandOnly).result.finalEquity)
      expect(autopilot.result.liquidations).toBe(0)
      // 1.147-1.151 before s50's boost floor; with it the first boost lands at 1.401 (the band-rule shadow, 1.4, x the
      // landing margin), not at 1.400, so no noise-driven in-band rescue to 1.527 follows and the first gap takes the
      // autopilot to 1.12 (threshold's 1.12 too).
      expect(autopilot.result.minHealth).toBeGreaterThan(1.1)
      const rescue = autopilot.landed.find((e) => (e.time - T0) / 60 > 600 && (e.time - T0) / 60 < 840) as BacktestEvent
      expect(rescue).toBeDefined()
      expect(rescue.healthBefore).toBeGreaterThan(buffered.policy.minHealth)
      expect(rescue.healthBefore).toBeLessThan(buffered.policy.targetHealth)
      expect(rescue.healthAfter).toBeGreaterThanOrEqual(buffered.policy.targetHealth)
    }
  })

  test("threshold not liquidated => autopilot not liquidated on staircases of 18-25 % gaps 4 h apart (issue 13: the in-band rescue; before it the autopilot was liquidated on all 9 paths, threshold on 0)", () => {
    for (const gaps of CASES) {
      for (const seed of [1, 2, 3]) {
        const p = staircase(gaps, seed)
        expect(run(p, "threshold").result.liquidations, `gaps ${gaps.join("/")} seed ${seed}`).toBe(0)
        expect(run(p, "autopilot").result.liquidations, `gaps ${gaps.join("/")} seed ${seed}`).toBe(0)
      }
    }
  })
})

/*
 * Helper hs49b: does an on-chain stop (policy `stopPrice`, relative to the path's first price, and `exitHealth`;
 * docs/stop-loss-exit.md), the one operation the module allows inside the band, close the class? `exitHealth` must be at
 * least maxHealth + 0.01 (1.71 here: `validatePolicy`, OwnerControlsLib `InvalidStopLoss("exitHealth")`). It closes the
 * nine staircases above (the stop engages at the second gap, 0.64 x the first price, and the autopilot exits toward
 * 1.71 from inside the band), but not the class: the stop is a fixed price and the class is made of relative moves. After
 * a 25 % gap up held 12 h (the autopilot boosts back to the target), the same gaps leave the price at 0.8 x the first
 * after the second, above the stop, and the third liquidates the autopilot as without a stop.
 */
describe("hs49b: an on-chain stop at 0.75 x the first price (exitHealth 1.71) closes these staircases, not the class", () => {
  // The stop alone, without the in-band rescue (t50), as hs49b measured it; the default autopilot (in-band rescue, no
  // stop) is checked on the same paths.
  const stopped = resolveBacktestConfig({ policy: { stopPrice: 0.75, exitHealth: 1.71, rescueBelowTarget: false } })

  it("the nine staircases (18-25 % gaps 4 h apart, seeds 1-3): neither threshold nor the autopilot is liquidated, and the autopilot exits after the second gap", () => {
    for (const gaps of CASES) {
      for (const seed of [1, 2, 3]) {
        const p = staircase(gaps, seed)
        const label = `gaps ${gaps.join("/")} seed ${seed}`
        expect(run(p, "threshold", stopped).result.liquidations, label).toBe(0)
        const autopilot = run(p, "autopilot", stopped)
        expect(autopilot.result.liquidations, label).toBe(0)
        expect(autopilot.result.minHealth, label).toBeGreaterThan(1.04)
        // Something lands after the second gap (minute 600) and before the third (minute 840): the stop's exit.
        expect(autopilot.landed.some((e) => (e.time - T0) / 60 > 600 && (e.time - T0) / 60 < 840), label).toBe(true)
      }
    }
  })

  it("the same staircases after a 25 % gap up held 12 h: threshold survives all nine, the autopilot is liquidated on the 20/20/22 and 20/20/18 ones (measured: 8 of 9; the second gap leaves the price at 0.8 x the first, above the stop, and the autopilot lands nothing before the third)", () => {
    let liquidated = 0
    let defaultLiquidated = 0
    for (const gaps of CASES) {
      for (const seed of [1, 2, 3]) {
        const p = staircase(gaps, seed, 0.25)
        const label = `+25 % then gaps ${gaps.join("/")} seed ${seed}`
        expect(run(p, "threshold", stopped).result.liquidations, label).toBe(0)
        const autopilot = run(p, "autopilot", stopped)
        if (gaps[0] === 0.2) {
          expect(autopilot.result.liquidations, label).toBe(1)
          // Nothing lands between the second gap (minute 1,320: price 0.8 x the first, above the stop) and the third (1,560).
          expect(autopilot.landed.filter((e) => (e.time - T0) / 60 > 1320 && (e.time - T0) / 60 < 1560), label).toEqual([])
        }
        liquidated += autopilot.result.liquidations > 0 ? 1 : 0
        defaultLiquidated += run(p, "autopilot").result.liquidations > 0 ? 1 : 0
      }
    }
    expect(liquidated).toBe(8)
    // The in-band rescue without any stop (t50): it is a relative rule, so the gap up changes nothing.
    expect(defaultLiquidated).toBe(0)
  })

  it("a stop at 0.65 x closes the 20/20 staircases only by 1 %: with gaps of 19/19/22 % (0.656 x the first price after the second) the autopilot is liquidated on seeds 1-3, threshold never; a stop at 0.75 x clears them", () => {
    const at65 = resolveBacktestConfig({ policy: { stopPrice: 0.65, exitHealth: 1.71, rescueBelowTarget: false } })
    for (const seed of [1, 2, 3]) {
      const p = staircase([0.19, 0.19, 0.22], seed)
      expect(run(p, "threshold", at65).result.liquidations, `seed ${seed}`).toBe(0)
      expect(run(p, "autopilot", at65).result.liquidations, `seed ${seed}`).toBe(1)
      expect(run(p, "autopilot", stopped).result.liquidations, `seed ${seed}`).toBe(0)
      // The in-band rescue without any stop (t50): not liquidated either.
      expect(run(p, "autopilot").result.liquidations, `seed ${seed}`).toBe(0)
    }
  })
})
