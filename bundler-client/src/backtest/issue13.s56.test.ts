import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { noisyFall } from "./paths.testing.js"

/*
 * Stop 56 (issue 13; rule: where threshold is not liquidated, the autopilot is not either). bk53's noisy falls (-1.5 to
 * -2.5 %/min, +-3/4 % a minute, 30 minutes, then a gap): on main 358965b 14 of its 480 buffered paths liquidated the
 * autopilot where threshold survived (15 with stop 56's `UNDER_TOP_WIDTH` alone), every one the same way: the drawdown
 * guard had tripped, its exit (a sale) was decided in the last noisy minute, the next minute's draw of the noise moved the
 * price past the sale's window (its fixed repayment against what it sells for: about `maxSlippageBps`, 1 %) and it
 * reverted (ActionFailed), and the final gap liquidated the position where threshold's pool rescue, decided at the same
 * minute, landed. Now (engine `exitFragile`) in a noisy fall (`TrendEstimator.noisy`) the exit waits for the
 * buffers-first rescue when that rescue sells nothing; it stays owed. Grid after: buffered 1 of 480 (below, pinned),
 * autopilot liquidations 41 -> 28; no-idle 8 -> 8, 123 -> 120 (without the "sells nothing" condition: 3, but 151, as
 * the rescue that replaced the exit was a smaller sale, as fragile).
 */
const T0 = 1_700_000_000
const BUFFERED = resolveBacktestConfig()
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
/** Threshold survivors of the class grid below. */
const SURVIVORS = 22
const minute = (e: BacktestEvent) => Math.round((e.time - T0) / 60)

describe("stop 56: a tripped guard's exit in a noisy fall waits for a rescue that sells nothing", () => {
  it("noisy fall seed 17, -1.5 %/min +-4 %, then -20 % (buffered): threshold survives; the autopilot's exit at 388 waits (a noisy fall), its pool rescue lands at 389 and it survives (before: the exit reverted short at 389 and the gap liquidated it at 390, 0.8925)", () => {
    const p = noisyFall(17, 0.015, 0.04, -0.2, T0)
    expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, BUFFERED, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "stop-loss" && /^exit waits: a noisy fall/.test(e.detail)).map(minute)).toContain(388)
    expect(events.filter((e) => e.kind === "rebalance" && /WithdrawFromPool/.test(e.detail)).map(minute)).toContain(389)
    expect(events.filter((e) => e.kind === "rejected")).toEqual([])
    expect(autopilot.liquidations).toBe(0)
  })

  it("the class (buffered): seeds 11-15, 17, 18, -1.5/-2/-2.5 %/min, +-3/4 %, then -20 % (42 paths): threshold survives 22, the autopilot all of those (6 liquidated on 358965b)", () => {
    const broken: string[] = []
    let survived = 0
    for (const seed of [11, 12, 13, 14, 15, 17, 18])
      for (const rate of [0.015, 0.02, 0.025])
        for (const v of [0.03, 0.04]) {
          const p = noisyFall(seed, rate, v, -0.2, T0)
          if (runBacktest(p, BUFFERED, "threshold").liquidations > 0) continue
          survived++
          if (runBacktest(p, BUFFERED, "autopilot").liquidations > 0) broken.push(`${seed} ${rate} ${v}`)
        }
    expect(survived).toBe(SURVIVORS)
    expect(broken).toEqual([])
  }, 300_000)

  it("control (no-idle, no pool to wait for): noisy fall seed 5, -1.5 %/min +-3 %, then -20 %: the exit's stand-in would be a smaller sale, as fragile, so the exit goes; threshold is liquidated, the autopilot is not (min health 1.1116; 0.8893 when the exit waited for any rescue)", () => {
    const p = noisyFall(5, 0.015, 0.03, -0.2, T0)
    expect(runBacktest(p, NO_IDLE, "threshold").liquidations).toBeGreaterThan(0)
    const events: BacktestEvent[] = []
    const autopilot = runBacktest(p, NO_IDLE, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "stop-loss" && /^exit waits: a noisy fall/.test(e.detail))).toEqual([])
    expect(autopilot.liquidations).toBe(0)
    // 1.1116 with the fixed take; under the sale-minimum default (stop 61) 1.1776 while the band rule on paper still
    // planned fixed takes (its copy's sales reverted in the fall and it closed early: no in-band gate), 1.0461 since
    // the paper plans and lands in the mode as threshold does (its copy lives until the gap and gates the in-band exits).
    expect(autopilot.minHealth).toBeCloseTo(1.0461, 3)
  })

  // Found passing in stop 62 (main 4b0c03e, re-running the skipped pins under the sale-minimum default since stop 61).
  it("was FAILS TODAY: noisy fall seed 16, -2.5 %/min +-3 %, then -20 % (buffered): threshold survives (1.0789); the autopilot's rescue decided at 388 is a sale (its epoch's pool withdrawals were larger), it reverts at 389 (SaleExceedsRepayment: the noise drew a rise) and the gap liquidates it at 390 (0.9485)", () => {
    const p = noisyFall(16, 0.025, 0.03, -0.2, T0)
    expect(runBacktest(p, BUFFERED, "threshold").liquidations).toBe(0)
    expect(runBacktest(p, BUFFERED, "autopilot").liquidations).toBe(0)
  })
})
