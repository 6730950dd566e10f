import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { calm, lcg, minutePath } from "./paths.testing.js"
import { parsePriceCsv } from "../prices/csv.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Review rr13t of issue 13 (main at 8a1c5e6): held-out inputs. Each finding: a skipped "FAILS TODAY" test stating what
 * the issue promises. Findings and figures: docs/reviews/issue13-rr13t.md.
 */

const T0 = 1_700_000_000
const minutes = (ps: number[]): PricePaths => minutePath(ps, T0)
/** Six calm hours, a gap of `drop` in one minute, a linear recovery over 30 minutes, ten calm hours. */
const gapRecover = (drop: number, seed: number): PricePaths => {
  const r = lcg(seed * 31)
  const a = calm(360, 3000, r)
  const last = a[a.length - 1] as number
  const gap = Array.from({ length: 31 }, (_, i) => last * (1 - drop + (drop * i) / 30))
  return minutes([...a, ...gap, ...calm(600, last, r)])
}

describe("rr13t T3: the scorecard target (autopilot liquidation loss <= dfs-style's per family) on a held-out gap-and-recover family", () => {
  // Measured (no-idle trader, drops 28/30/32 %, seeds 1-4), at 8a1c5e6 and again on f13j: every strategy rests at health
  // 1.4 when the gap comes, so the 30 and 32 % gaps liquidate all of them alike (health 0.98 / 0.95 on one step, nothing
  // can act in between); like for like 653,868 each. Autopilot 591,653 against dfs-style 484,229 (1.22x) on the issue's
  // definition because its no-liquidation rerun ends richer (about 99,600 per path against dfs-style's 78,000: dfs-style
  // sells a third of the position at the bottom of the wick and misses the recovery). Net P&L: autopilot -593,619
  // against -754,215. Meeting the headline target here needs the autopilot to rest above health 1/(1-0.32) = 1.47 in
  // calm (less leverage than dfs-style, and a tail beyond the policy's 28.6 %), or a different metric; neither is done
  // (bundler-client/README.md, "Caveats"). The headline target was skipped until stop 62 found it met (below); the tests
  // below state what holds.
  const c = resolveBacktestConfig(TRADERS["no-idle"])
  const family = () => [0.28, 0.3, 0.32].flatMap((drop) => [1, 2, 3, 4].map((seed) => ({ drop, seed, p: gapRecover(drop, seed) })))
  // Found passing in stop 62 (main 4b0c03e, re-running the skipped pins): autopilot liquidation loss 0 against dfs-style's
  // 484,229. The autopilot now opens with a deleverage to about health 1.53 (its tail floor; the same with the fixed
  // take), above the 1/(1-0.32) = 1.47 the paragraph above says the target needs, so no gap of the family liquidates it.
  it("rr13t T3 (was not met, see above): autopilot liquidation loss <= dfs-style's on the family (no-idle trader)", () => {
    let autopilot = 0
    let dfs = 0
    for (const { p } of family()) {
      autopilot += runBacktest(p, c, "autopilot").liquidationLoss
      dfs += runBacktest(p, c, "dfs-style").liquidationLoss
    }
    expect(autopilot).toBeLessThanOrEqual(dfs)
  })
  it("rr13t T3, what holds: liquidated only where dfs-style is, like-for-like loss <= dfs-style's, never poorer than dfs-style per path, net P&L >= dfs-style's", () => {
    let lflAutopilot = 0
    let lflDfs = 0
    let pnlAutopilot = 0
    let pnlDfs = 0
    for (const { drop, seed, p } of family()) {
      const a = runBacktest(p, c, "autopilot")
      const d = runBacktest(p, c, "dfs-style")
      if (a.liquidations > 0) expect(d.liquidations, `drop ${drop} seed ${seed}`).toBeGreaterThan(0)
      expect(a.finalEquity, `drop ${drop} seed ${seed}`).toBeGreaterThanOrEqual(d.finalEquity)
      lflAutopilot += a.liquidationLossLikeForLike
      lflDfs += d.liquidationLossLikeForLike
      pnlAutopilot += a.netPnl
      pnlDfs += d.netPnl
    }
    expect(lflAutopilot).toBeLessThanOrEqual(lflDfs + 1e-6)
    expect(pnlAutopilot).toBeGreaterThanOrEqual(pnlDfs)
  })
})

describe("rr13t T4: CSV input hygiene, prices", () => {
  // Timestamps must match DECIMAL, prices only Number(): "0x1f4" is read as 500, "0b1" as 1, "0o7" as 7.
  it("rr13t T4: a hex / binary / octal price is refused with its line, like a hex timestamp", () => {
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000\n1700000060,0xbb8\n")).toThrow(/:3:.*not a decimal/)
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000\n1700000060,0b1\n")).toThrow(/:3:.*not a decimal/)
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000\n1700000060,0o7\n")).toThrow(/:3:.*not a decimal/)
  })
  // Control (passes today): what the reader already refuses or accepts correctly.
  it("observed today: BOM, CRLF, blank lines and scientific notation are read; ms, repeats, backwards refused", () => {
    const p = parsePriceCsv("\uFEFFtimestamp,ETH\r\n\r\n1.7e9,3e3\r\n1700000060,3010\r\n\r\n")
    expect(Array.from(p.timestamps)).toEqual([1_700_000_000, 1_700_000_060])
    expect(Array.from(p.prices.ETH as Float64Array)).toEqual([3000, 3010])
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000000,3000\n1700000060000,3010\n")).toThrow(/milliseconds/)
    expect(() => parsePriceCsv("timestamp,ETH\n1700000060,3000\n1700000060,3010\n")).toThrow(/repeats/)
    expect(() => parsePriceCsv("timestamp,ETH\n1700000060,3000\n1700000000,3010\n")).toThrow(/backwards/)
  })
})
