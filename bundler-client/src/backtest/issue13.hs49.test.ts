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

/** Seeded (`seed`): 6 h calm at 3,000, then one one-minute gap per entry of `gaps` (fractions), each followed by 4 h calm. */
function staircase(gaps: readonly number[], seed: number): PricePaths {
  const r = lcg(seed)
  let ps = calm(360, 3000, r)
  for (const g of gaps) ps = [...ps, ...calm(240, (ps.at(-1) as number) * (1 - g), r)]
  return minutePath(ps, T0)
}

function run(p: PricePaths, strategy: StrategyName) {
  const events: BacktestEvent[] = []
  const result = runBacktest(p, buffered, strategy, { trace: (e) => events.push(e) })
  return { result, events, landed: events.filter((e) => e.kind === "rebalance" || e.kind === "swap") }
}

/** The three staircases of the finding (gaps 20/20/22, 20/20/18, 25/20/20 %), seeds 1-3 each. */
const CASES = [
  [0.2, 0.2, 0.22],
  [0.2, 0.2, 0.18],
  [0.25, 0.2, 0.2],
] as const

describe("hs49: a staircase of gaps liquidates the autopilot where threshold and dfs-style survive (buffered trader)", () => {
  it("observed today: 20/20/22 % gaps 4 h apart, seeds 1-3: threshold and dfs-style not liquidated (min health 1.08-1.10), the autopilot liquidated at the third gap (0.92), having landed at 1.48 after the first and not acted after the second", () => {
    for (const seed of [1, 2, 3]) {
      const p = staircase(CASES[0], seed)
      const threshold = run(p, "threshold")
      const dfs = run(p, "dfs-style")
      const autopilot = run(p, "autopilot")
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

  test.skip("FAILS TODAY (measured: autopilot liquidated on all 9 paths, threshold on 0): threshold not liquidated => autopilot not liquidated on staircases of 18-25 % gaps 4 h apart", () => {
    for (const gaps of CASES) {
      for (const seed of [1, 2, 3]) {
        const p = staircase(gaps, seed)
        expect(run(p, "threshold").result.liquidations, `gaps ${gaps.join("/")} seed ${seed}`).toBe(0)
        expect(run(p, "autopilot").result.liquidations, `gaps ${gaps.join("/")} seed ${seed}`).toBe(0)
      }
    }
  })
})
