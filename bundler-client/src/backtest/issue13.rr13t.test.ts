import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { parsePriceCsv } from "../prices/csv.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Review rr13t of issue 13 (main at 8a1c5e6): held-out inputs. Each finding: a skipped "FAILS TODAY" test stating what
 * the issue promises. Findings and figures: docs/reviews/issue13-rr13t.md.
 */

const T0 = 1_700_000_000
const minutes = (ps: number[]): PricePaths => ({ timestamps: Float64Array.from(ps.map((_, i) => T0 + 60 * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(ps) } })
/** A seeded LCG (numerical recipes constants), uniform in [0, 1). */
const lcg = (seed: number) => {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
const calm = (n: number, p0: number, r: () => number) => {
  const out = [p0]
  for (let i = 1; i < n; i++) out.push((out[i - 1] as number) * Math.exp(0.0004 * (r() - 0.5)))
  return out
}
/** Six calm hours, a gap of `drop` in one minute, a linear recovery over 30 minutes, ten calm hours. */
const gapRecover = (drop: number, seed: number): PricePaths => {
  const r = lcg(seed * 31)
  const a = calm(360, 3000, r)
  const last = a[a.length - 1] as number
  const gap = Array.from({ length: 31 }, (_, i) => last * (1 - drop + (drop * i) / 30))
  return minutes([...a, ...gap, ...calm(600, last, r)])
}

describe("rr13t T3: the scorecard target (autopilot liquidation loss <= dfs-style's per family) on a held-out gap-and-recover family", () => {
  // Measured today (no-idle trader, drops 28/30/32 %, seeds 1-4): all strategies liquidated on the 30 and 32 % gaps;
  // autopilot 591,907 against dfs-style 484,229 (1.22x), like for like equal (653,868 each), net P&L autopilot
  // -593,405 against -754,215. The headline metric counts the autopilot's better counterfactual as a larger loss.
  it.skip("rr13t T3 FAILS TODAY: autopilot liquidation loss <= dfs-style's on the family (no-idle trader)", () => {
    const c = resolveBacktestConfig(TRADERS["no-idle"])
    let autopilot = 0
    let dfs = 0
    for (const drop of [0.28, 0.3, 0.32]) {
      for (const seed of [1, 2, 3, 4]) {
        const p = gapRecover(drop, seed)
        autopilot += runBacktest(p, c, "autopilot").liquidationLoss
        dfs += runBacktest(p, c, "dfs-style").liquidationLoss
      }
    }
    expect(autopilot).toBeLessThanOrEqual(dfs)
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
