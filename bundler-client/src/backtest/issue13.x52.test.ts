import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { FAMILIES } from "./suite.js"
import { DEFAULT_PATH, generatePath } from "../prices/generator.js"
import { fuzzPath, gapGrid as gapGridPath, minutePath } from "./paths.testing.js"

/*
 * Helper x52, issue 13 (rule: where threshold is not liquidated, the autopilot is not either). The fix of fuzz seed
 * 1259 (issue13.bk51.test.ts): a tripped drawdown guard's exit below the band waits for the buffers-first rescue when
 * the guard tripped in a jump the trend still reads and the exit lands only at the trend's price (engine
 * `exitFragile`). Its bound, pinned here: a guard tripped outside a jump keeps its exit. A first version without the
 * jump condition (the exit waited whenever it landed neither at the price holding nor at the last poll's move
 * extrapolated) deferred the exits of a noisy crash, whose trend was right: crash45 seed 1147 -77,768 -> -85,041,
 * the family's mean net P&L -77,000 -> -77,861 per path (suite, 220 paths, buffered).
 */

const BUFFERED = resolveBacktestConfig()
const T0 = 1_700_000_000

/**
 * Fuzz seed 1259's path to minute 2782 (a -3.5 %/min fall), then a gap of `g1` held `flat` minutes, then a gap of `g2`
 * held 5 h (drifting +0.05 %).
 */
function variant(g1: number, flat: number, g2: number) {
  const p = Array.from(fuzzPath(1259, T0).prices.ETH as Float64Array).slice(0, 2783)
  const a = (p.at(-1) as number) * (1 + g1)
  for (let i = 0; i < flat; i++) p.push(a * (1 + 0.0001 * (i % 2)))
  const b = a * (1 + g2)
  for (let i = 0; i < 300; i++) p.push(b * (1 + (0.0005 * i) / 300))
  return minutePath(p, T0)
}

/** The suite's crash45 path `seed` (its ETH path, as `runSuitePaths` generates it). */
const crash45 = (seed: number) => generatePath({ ...DEFAULT_PATH, ...FAMILIES.crash45.path, asset: "ETH", kind: "crash45", seed })

describe("x52: a tripped guard's exit waits for the rescue only after the jump that tripped it", () => {
  it("crash45 seed 1147 (buffered, a -45 % crash with noise): the guard trips outside a jump, its exits are never deferred and the first operation after the trip is the exit (a swap)", () => {
    const events: BacktestEvent[] = []
    const r = runBacktest(crash45(1147), BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    const trip = events.find((e) => e.kind === "stop-loss")
    expect(trip).toBeDefined()
    expect(events.filter((e) => e.kind === "stop-loss" && /^exit waits/.test(e.detail ?? ""))).toEqual([])
    const first = events.find((e) => (e.kind === "rebalance" || e.kind === "swap") && e.time > (trip as BacktestEvent).time)
    expect(first?.kind).toBe("swap")
    expect(r.liquidations).toBe(0)
  })

  it("the class on seed 1259's fall: a gap of -14 % or -17 % that trips the guard, held 3 minutes, then -22 % or -26 %: threshold (rescued from the pool at the flat poll) is not liquidated and the autopilot neither (all 4 liquidated before x52: exit SaleExceedsRepayment at the flat poll); at the first flat poll its exit, sized for the price holding (stop 55: the gap is read for two minutes), lands; before stop 55 it waited once there for the pool rescue", () => {
    for (const g1 of [-0.14, -0.17])
      for (const g2 of [-0.22, -0.26]) {
        const name = `${g1} ${g2}`
        const p = variant(g1, 3, g2)
        expect(runBacktest(p, BUFFERED, "threshold").liquidations, name).toBe(0)
        const events: BacktestEvent[] = []
        const a = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
        expect(a.liquidations, name).toBe(0)
        // Stop 55: at the first flat poll (2784) the gap is still read (TrendEstimator.gapped, GAP_STEPS), so the exit is
        // sized for the price holding, lands as such, and need not wait: it lands at 2785 (x52's wait was for an exit
        // sized at the trend's price).
        expect(events.filter((e) => e.kind === "stop-loss" && /^exit waits/.test(e.detail ?? "")).map((e) => Math.round((e.time - T0) / 60)), name).toEqual([])
        expect(events.filter((e) => e.kind === "rejected"), name).toEqual([])
        const first = events.find((e) => (e.kind === "swap" || e.kind === "rebalance") && e.time > T0 + 2783 * 60)
        expect([first?.kind, first === undefined ? undefined : Math.round((first.time - T0) / 60)], name).toEqual(["swap", 2785])
        expect(a.minHealth, name).toBeGreaterThan(1.09)
      }
  })
})

/*
 * Stop 52, x52's synthetic grid (no-idle trader; every rescue is a sale): six hours calm at 3,000, a linear fall of
 * `rate` a minute for `n` minutes, a gap `g1` held `k` minutes, then a gap `g2` held 4 h. After the first gap the trend
 * (a median of five minutes) still reads the linear fall while the price holds, so a sale sized for it reverts with
 * SaleExceedsRepayment; before `saleHeld` the autopilot re-planned for the same fall (widened by rr13 F6 after a first
 * shortfall) at every poll and the second gap liquidated it where threshold's sale, sized at the read price, landed.
 */
/**
 * `saleHeld` reads the fixed take's `SaleExceedsRepayment` (the price held where the sale was sized for a fall), so the
 * grid is pinned to the fixed take (`swap.repayment: "amount"`). Under the sale-minimum default (stop 61) that revert
 * does not happen (the same move lands a sale over its zone's top: engine `saleZoneSide`, `overTop`), and on four of
 * the five saleHeld paths threshold's rescue at 369, sized before the -12 % gap, ends under the band (HealthOutOfBand)
 * and the second gap liquidates threshold: the last test checks issue 13's rule on the grid under the default. The
 * autopilot is liquidated with it on three of those paths under the default (review rv61 M2: [0.02,9,-0.12,3,-0.2]
 * 9,781 against 17,791 with the fixed take; [0.02,9,-0.12,3,-0.26] 2,874 against 12,297; [0.03,6,-0.12,3,-0.26] 3,053
 * against 12,160): "fixed" below holds with the fixed take only.
 */
const NO_IDLE = resolveBacktestConfig({ swap: { repayment: "amount" } }, resolveBacktestConfig(TRADERS["no-idle"]))
const NO_IDLE_DEFAULT = resolveBacktestConfig(TRADERS["no-idle"])
const gapGrid = (rate: number, n: number, g1: number, k: number, g2: number) => gapGridPath(rate, n, g1, k, g2, T0)

describe("stop 52: after a sale reverts because the price held, the next plan is sized at the read price (saleHeld)", () => {
  it("fixed (saleHeld; 5 of x52's grid's 6 no-idle breaks, each liquidated before): threshold is not liquidated and the autopilot is not either", () => {
    for (const [rate, n, g1, k, g2] of [[0.02, 6, -0.12, 3, -0.2], [0.02, 9, -0.12, 3, -0.2], [0.02, 9, -0.12, 3, -0.26], [0.03, 6, -0.12, 3, -0.2], [0.03, 6, -0.12, 3, -0.26]] as const) {
      const p = gapGrid(rate, n, g1, k, g2)
      const at = JSON.stringify([rate, n, g1, k, g2])
      expect(runBacktest(p, NO_IDLE, "threshold").liquidations, at).toBe(0)
      expect(runBacktest(p, NO_IDLE, "autopilot").liquidations, at).toBe(0)
    }
  })

  it("x53 (was FAILS TODAY): -2 %/min for 6 minutes, -12 % held 2 minutes, then -20 % (no-idle): the autopilot is not liquidated where threshold is not", () => {
    const p = gapGrid(0.02, 6, -0.12, 2, -0.2)
    expect(runBacktest(p, NO_IDLE, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, NO_IDLE, "autopilot").liquidations).toBe(0)
  })

  it("x53, neighbours of the class (x53's wider grid, no-idle: 54 of 2,160 paths liquidated where threshold is not before, 0 after, every one a first gap held 2 minutes): other falls, first gaps and second gaps; threshold is not liquidated and the autopilot is not either (each liquidated before x53, min health 0.943-0.969)", () => {
    for (const [rate, n, g1, k, g2] of [[0.04, 4, -0.08, 2, -0.2], [0.02, 9, -0.1, 2, -0.15], [0.025, 4, -0.17, 2, -0.15], [0.03, 4, -0.1, 2, -0.22]] as const) {
      const p = gapGrid(rate, n, g1, k, g2)
      const at = JSON.stringify([rate, n, g1, k, g2])
      expect(runBacktest(p, NO_IDLE, "threshold").liquidations, at).toBe(0)
      const autopilot = runBacktest(p, NO_IDLE, "autopilot")
      expect(autopilot.liquidations, at).toBe(0)
      expect(autopilot.minHealth, at).toBeGreaterThan(1.1)
    }
  })

  it("x53: there the guard trips in the -12 % gap (minute 366) and the sale decided at that poll, at the read price (the trend, a median, reads -2 %/min, but its latest step is a gap: TrendEstimator.gapped), lands at 367 with no revert, before the -20 % gap at 368 (before x53: sized for the fall, SaleExceedsRepayment at 367, liquidated at 368 at 0.946)", () => {
    const p = gapGrid(0.02, 6, -0.12, 2, -0.2)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, NO_IDLE, "autopilot", { trace: (e) => events.push(e) })
    const minute = (e: BacktestEvent | undefined) => (e === undefined ? undefined : (e.time - T0) / 60)
    expect(minute(events.find((e) => e.kind === "stop-loss"))).toBe(366)
    expect(events.filter((e) => e.kind === "rejected")).toEqual([])
    const sale = events.find((e) => (e.kind === "swap" || e.kind === "rebalance") && e.time > T0 + 366 * 60)
    expect(minute(sale)).toBe(367)
    expect(sale?.detail).toMatch(/SellCollateral/)
    // At or above the target (stop 55: after a gap that ends a fall the rescue is aimed near the target, the top margin;
    // 1.4427, was over 1.45 when the top margin emptied the zone and the unmargined fallback aimed at its top).
    expect(sale?.healthAfter).toBeGreaterThan(1.4)
    expect(autopilot.minHealth).toBeGreaterThan(1.15)
  })

  it("under the sale-minimum default (stop 61): on x52's saleHeld paths and x53's the autopilot is not liquidated where threshold is not (threshold liquidated on four saleHeld paths before stop 64; on none since: [0.03,6,-0.12,3,-0.2] both survive, the other three are below)", () => {
    const liquidatedThreshold: string[] = []
    for (const g of [[0.02, 6, -0.12, 3, -0.2], [0.03, 6, -0.12, 3, -0.2], [0.02, 6, -0.12, 2, -0.2], [0.04, 4, -0.08, 2, -0.2], [0.02, 9, -0.1, 2, -0.15], [0.025, 4, -0.17, 2, -0.15], [0.03, 4, -0.1, 2, -0.22]] as const) {
      const p = gapGrid(g[0], g[1], g[2], g[3], g[4])
      const at = JSON.stringify(g)
      if (runBacktest(p, NO_IDLE_DEFAULT, "threshold").liquidations > 0) {
        liquidatedThreshold.push(at)
        continue
      }
      expect(runBacktest(p, NO_IDLE_DEFAULT, "autopilot").liquidations, at).toBe(0)
    }
    expect(liquidatedThreshold).toEqual([])
  })

  // Stop 64, first a named cost of planning cap-bound sales (swapDeleverage `capsOnRepayment`): on -2 %/min for 9
  // minutes, -12 % held 3 minutes, then -20 % (and five neighbours on the gapGrid of 432 shapes, below: -26 %, the -12 %
  // held 5 minutes, -3 %/min for 6), threshold was liquidated with the autopilot before; with that fix threshold's plan
  // decided before the -12 % gap is refused (HealthOutOfBand, sized at the read price), its cap-bound sale lands at
  // minute 370 (1.010 -> 1.134, no cooldown: it ends below the band) and a rescue to its target at 371 (1.40), so the
  // -20 % gap at 372 leaves it at 1.12. The autopilot's in-band rescue decided at 368 (sized for the trend's fall)
  // lands through the gap as a rescue from below the band at 1.2485, inside the band below the target: its 300 s
  // cooldown started (module `_recordUsage`), no in-band rescue could follow before the gap, and 1.2485 x 0.8 was
  // liquidated (threshold 13,466, autopilot 9,781). Fixed in stop 64 by the module: with `rescueBelowTarget` a rescue
  // that leaves the position below its target starts no cooldown (still due; SECURITY.md row 152), so the in-band
  // rescue to the target follows at once.
  const S64 = [[0.02, 9, -0.12, 3, -0.2], [0.02, 9, -0.12, 3, -0.26], [0.02, 9, -0.12, 5, -0.2], [0.02, 9, -0.12, 5, -0.26], [0.03, 6, -0.12, 3, -0.26], [0.03, 6, -0.12, 5, -0.26]] as const
  for (const g of S64)
    it(`fixed (stop 64, a landing below the target starts no cooldown): gapGrid ${JSON.stringify(g)} (no-idle, sale-minimum default): threshold survives, the autopilot too`, () => {
      const p = gapGrid(g[0], g[1], g[2], g[3], g[4])
      expect(runBacktest(p, NO_IDLE_DEFAULT, "threshold").liquidations).toBe(0)
      expect(runBacktest(p, NO_IDLE_DEFAULT, "autopilot").liquidations).toBe(0)
    })
  it("stop 64: on that path the autopilot's rescue lands inside the band below the target (1.2485 at minute 369) and the in-band rescue follows before the -20 % gap at 372, within the 300 s cooldown", () => {
    const p = gapGrid(0.02, 9, -0.12, 3, -0.2)
    const events: BacktestEvent[] = []
    runBacktest(p, NO_IDLE_DEFAULT, "autopilot", { trace: (e) => events.push(e) })
    const landed = events.filter((e) => e.kind === "swap" && e.time >= T0 + 360 * 60 && e.time < T0 + 372 * 60)
    expect(landed.length).toBeGreaterThanOrEqual(2)
    const first = landed[0] as BacktestEvent
    expect(first.healthAfter).toBeGreaterThan(1.15)
    expect(first.healthAfter).toBeLessThan(1.4)
    expect((landed.at(-1) as BacktestEvent).time - first.time).toBeLessThan(300)
    expect((landed.at(-1) as BacktestEvent).healthAfter).toBeGreaterThanOrEqual(1.4)
  })
})
