import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, fuzzPath, lcg, minutePath } from "./paths.testing.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Helper b53, issue 13's rule "on any path where threshold is not liquidated, the autopilot is not either", after stop
 * 52 (`solveAimed`: a plan the keeper's inclusion margins rule out goes at the read price with the landing margin kept,
 * then without either). Helper bk52's cut-and-gap scan found five no-idle paths that break with stop 52's boost
 * fallback and not with the rescue-only one before it: a fuzz path (`fuzzPath`) to minute `cut`, then a gap held 4 h.
 *
 * Why: the last step drops the landing margin, and a boost's landing margin is also its margin over the band rule's
 * health (`boostFloorHealth x e^landingMargin`). Unmargined, the autopilot's boost lands at the band rule's health
 * itself (seeds 730, 977: 1.6824 -> 1.6845, 1.6807 -> 1.6827; 842: 1.6670 -> 1.6670) or, where the margined floor was
 * above the zone, at the zone's top a poll before threshold decides anything (719 at minute 960, 808 at 393): each time
 * more leverage, sooner, than the margined autopilot takes. Its later rescues, from a larger debt, end under threshold's
 * (719: threshold's capped rescue ends below the band and rescues again the next minute, the autopilot's ends in band
 * and waits out its cooldown; 730/977: threshold's capped rescue overtakes it and it rests in band under threshold until
 * the gap). Since b53 the unmargined step plans rescues only; a boost falls back to the read price with its landing
 * margin kept (which alone keeps bk51's four swept paths fixed: `issue13.bk51.test.ts`).
 */

const T0 = 1_700_000_000
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
/**
 * The paths were found, and the fallback fixed, with the fixed take (`swap.repayment: "amount"`), pinned here. Under the
 * sale-minimum default (stop 61) threshold's sales land where the fixed take's reverted, and on two of the five paths
 * threshold is liquidated by the gap (719: min 0.780; 842: 0.929), so issue 13's rule no longer binds there; it is
 * checked on every path under the default below. The autopilot is liquidated there too under the default (review rv61
 * M2: seed 719, final equity 4,633 against 29,102 with the fixed take): a path the switch loses, with threshold.
 */
const NO_IDLE_AMOUNT = resolveBacktestConfig({ swap: { repayment: "amount" } }, NO_IDLE)

/** Helper bk52's recipe: fuzz seed `seed` to minute `cut`, then 240 calm minutes at that price x (1 + gap) (noise 0.0002, lcg(seed)). */
function cutAndGap(seed: number, cut: number, gap: number): PricePaths {
  const p = Array.from(fuzzPath(seed, T0).prices.ETH as Float64Array)
  return minutePath([...p.slice(0, cut + 1), ...calm(240, (p[cut] as number) * (1 + gap), lcg(seed), 0.0002)], T0)
}

/** [seed, cut minute, gap, threshold's min health above, the autopilot's min health above] (no-idle trader). */
const CASES: [number, number, number, number, number][] = [
  [719, 1203, -0.2596, 1.02, 1.1],
  [730, 2451, -0.139, 1.005, 1.1],
  [977, 2441, -0.1597, 1.01, 1.15],
  [842, 3038, -0.1479, 1.0, 1.0],
  [808, 820, -0.2805, 1.0, 1.05],
]

describe("b53: a boost never falls back to the unmargined landing (bk52's five cut-and-gap paths, no-idle)", () => {
  for (const [seed, cut, gap, tMin, aMin] of CASES) {
    it(`fuzz seed ${seed} to minute ${cut}, then ${(gap * 100).toFixed(2)} % held 4 h: threshold not liquidated (min health > ${tMin}); the autopilot not either (> ${aMin}; liquidated with stop 52's unmargined boosts)`, () => {
      const p = cutAndGap(seed, cut, gap)
      const t = runBacktest(p, NO_IDLE_AMOUNT, "threshold")
      expect(t.liquidations).toBe(0)
      expect(t.minHealth).toBeGreaterThan(tMin)
      const events: BacktestEvent[] = []
      const a = runBacktest(p, NO_IDLE_AMOUNT, "autopilot", { trace: (e) => events.push(e) })
      expect(events.filter((e) => e.kind === "liquidation")).toEqual([])
      expect(a.liquidations).toBe(0)
      expect(a.minHealth).toBeGreaterThan(aMin)
    })
  }

  it("under the sale-minimum default (stop 61): on each of the five paths the autopilot is not liquidated where threshold is not (threshold liquidated on none: on 719 and 842 before stop 64 planned its cap-bound sales)", () => {
    const liquidatedThreshold: number[] = []
    for (const [seed, cut, gap] of CASES) {
      const p = cutAndGap(seed, cut, gap)
      if (runBacktest(p, NO_IDLE, "threshold").liquidations > 0) {
        liquidatedThreshold.push(seed)
        continue
      }
      expect(runBacktest(p, NO_IDLE, "autopilot").liquidations, `seed ${seed}`).toBe(0)
    }
    // [719, 842] before stop 64: threshold's cap-bound sale (module `_capBound`) moved 99.04 % of the cap, under the
    // solver's 99.1 % floor, and was never planned (swapDeleverage `capsOnRepayment`).
    expect(liquidatedThreshold).toEqual([])
  })
})
