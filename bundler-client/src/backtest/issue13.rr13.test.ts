import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import type { BacktestConfig, StrategyName } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { DEFAULT_PATH, generatePath } from "../prices/generator.js"
import { parsePriceCsv } from "../prices/csv.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Review rr13 of issue 13 (round 7, main at c895859): held-out inputs no test of the issue uses.
 * Each finding: an "observed today" test that passes on main, and a skipped "FAILS TODAY" test stating what the issue
 * (or the README) promises. Findings and figures: docs/reviews/issue13-rr13.md.
 */

const T0 = 1_700_000_000
const noIdle = resolveBacktestConfig(TRADERS["no-idle"])
const buffered = resolveBacktestConfig()
// Without the autopilot's in-band rescue (issue 13, t50; on by default): the pinned figures below were measured on
// positions the autopilot now mostly keeps out of these liquidations and stop-loss trips; the mechanisms they test
// (the counterfactual's liquidator-first rule, Aave's partial liquidation, the stop-loss's wealth) need those states.
const noIdleBandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } }, noIdle)
const bufferedBandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } })
const run = (p: PricePaths, config: BacktestConfig, s: StrategyName, trace?: (e: BacktestEvent) => void) => runBacktest(p, config, s, { trace })
const wick = (seed: number) => generatePath({ ...DEFAULT_PATH, asset: "ETH", kind: "flashWick", seed })

// The scorecard generator's flashWick family on seeds 5000-5199 (the scorecard uses 1005 + 9j): these 11 liquidate
// every strategy (no-idle trader); the other 189 liquidate nobody.
const HELD_OUT_WICKS = [5006, 5015, 5065, 5099, 5109, 5112, 5117, 5121, 5145, 5152, 5184]

describe("rr13 F1: the scorecard target (autopilot liquidation loss <= dfs-style's) on held-out flash wicks", () => {
  const sums = () => {
    const sum = { autopilot: 0, "dfs-style": 0 }
    const net = { autopilot: 0, "dfs-style": 0 }
    let autopilotNetBetterOnEach = true
    for (const seed of HELD_OUT_WICKS) {
      const p = wick(seed)
      const a = run(p, noIdleBandOnly, "autopilot")
      const d = run(p, noIdleBandOnly, "dfs-style")
      sum.autopilot += a.liquidationLoss
      sum["dfs-style"] += d.liquidationLoss
      net.autopilot += a.netPnl
      net["dfs-style"] += d.netPnl
      if (!(a.netPnl >= d.netPnl)) autopilotNetBetterOnEach = false
    }
    return { sum, net, autopilotNetBetterOnEach }
  }

  it("fixed (b13c): seeds 5000-5199 no-idle, with the counterfactual's liquidator-first rule for every strategy the autopilot books 741,855 against dfs-style's 782,092 (630,162 before: dfs-style's rerun Repaid below health 1), its realised runs unchanged and its net higher on every liquidated path", () => {
    const { sum, net, autopilotNetBetterOnEach } = sums()
    // 741,855 before f13j: the autopilot's liquidation-free rerun sends a rescue its inclusion margin had ruled out.
    // 741,752 before f13k: that rerun now also sends cap-bound rescues (issue 13, the module's cap-bound rule).
    // 741,722 before s50's boost floor (the band-rule shadow); 741,121 with the shadow model (BandRuleShadow), 741,722
    // again with the band rule's own landings (keeper.bandShadow "paper" or "run", stop 51: these paths' boosts land as
    // before).
    // 741,752 under the sale-minimum default (stop 61): the autopilot's sales land in the mode.
    // 741,722 in stop 64: cap-bound sales are sized on the repayment the caps count (swapDeleverage `capsOnRepayment`).
    expect(sum.autopilot).toBeCloseTo(741_722, -1)
    expect(sum["dfs-style"]).toBeCloseTo(782_092, -1)
    // the realised runs are the ones observed before the rule (b13b): only the liquidation-free reruns change
    // -840,618 before s50's boost floor: the autopilot's realised runs change there (601 better summed, the loss as much
    // lower, -840,017, with the shadow model); with the band rule run on the path (stop 51) as before s50.
    expect(net.autopilot).toBeCloseTo(-840_618, -1)
    expect(net["dfs-style"]).toBeCloseTo(-882_483, -1)
    expect(autopilotNetBetterOnEach).toBe(true)
    // seed 5152: dfs-style's rerun loss is now near the seizure's (like for like 61,964); it was 19,960
    const d = run(wick(5152), noIdleBandOnly, "dfs-style")
    expect(d.liquidationLoss).toBeGreaterThan(60_000)
    expect(d.liquidationLossLikeForLike).toBeGreaterThan(60_000)
  })

  it("fixed (b13c): in the rerun with liquidations disabled, no strategy's operation lands on a position below health 1 (seed 5152 no-idle: dfs-style's Repay at 0.983 did; also scorecard seed 1230, bufferedBandOnly)", () => {
    const landedBelowOne = (p: PricePaths, config: BacktestConfig, strategy: StrategyName) => {
      const events: BacktestEvent[] = []
      const rerun = runBacktest(p, config, strategy, { liquidate: false, trace: (e) => events.push(e) })
      expect(rerun.minHealth).toBeLessThan(1)
      const landed = events.filter((e) => e.kind === "swap" || e.kind === "rebalance")
      expect(landed.every((e) => e.healthBefore !== undefined)).toBe(true)
      return landed.filter((e) => (e.healthBefore as number) < 1)
    }
    for (const strategy of ["threshold", "dfs-style", "autopilot"] as const) {
      expect(landedBelowOne(wick(5152), noIdleBandOnly, strategy)).toEqual([])
      expect(landedBelowOne(wick(1230), bufferedBandOnly, strategy)).toEqual([])
    }
  })

  it("was FAILS TODAY, passes now: autopilot's liquidation loss <= dfs-style's on the held-out flashWick seeds (the README reports the target met)", () => {
    const { sum } = sums()
    expect(sum.autopilot).toBeLessThanOrEqual(sum["dfs-style"])
  })
})

// A Safe whose one sub-account is an Aave v3 account (threshold 0.83, bonus 1.05), looped at health 1.4, nothing idle:
// Aave's close factor leaves debt after a liquidation above health factor 0.95, so DeFi Saver's trigger still sees it.
const aaveNoIdle = resolveBacktestConfig({
  ...TRADERS["no-idle"],
  // Without the in-band rescue (t50): the liquidations F2 measures (see noIdleBandOnly).
  policy: { ...TRADERS["no-idle"].policy, rescueBelowTarget: false },
  subAccounts: [{ id: "0x00000000000000000000000000000000000000000000000000000000000000a7", asset: "ETH", lltv: 0.83, equity: 100_000, initialHealth: 1.4, venue: "aave-v3", liquidationBonus: 1.05 }],
})
const AAVE_WICKS = [5006, 5015, 5065, 5099, 5109, 5112, 5117, 5121, 5145, 5152, 5184, 5209, 5222, 5263, 5271, 5280]

describe("rr13 F2: round 7's win rests on the full-close liquidation; with a partial liquidation (Aave, modelled) dfs-style keeps its automation", () => {
  const sums = () => {
    const sum = { autopilot: 0, "dfs-style": 0 }
    for (const seed of AAVE_WICKS) for (const s of ["autopilot", "dfs-style"] as const) sum[s] += run(wick(seed), aaveNoIdle, s).liquidationLoss
    return sum
  }

  it("fixed (b13c): 16 liquidated held-out wicks (seeds 5000-5299) on an Aave account: autopilot 611,647 against dfs-style 625,362 (439,580 before the counterfactual's liquidator-first rule, 576,904 before b13b's one-sided DFS ratio check, F3)", () => {
    const sum = sums()
    // 611,647 before f13j (the rescue fallback of the autopilot, see gapFamily.test.ts).
    // 611,616 before s50's boost floor (the band-rule shadow); 611,601 with the shadow model, 611,613 with the band
    // rule's own landings (keeper.bandShadow "paper" or "run", stop 51); 610,277 with stop 55's gap read two minutes
    // (GAP_STEPS), the outlier rule of the noise and the top margin that no longer empties a zone (underTop).
    // 623,515 under the sale-minimum default while the backtester modelled no flash premium on an Aave account (stop 61:
    // its sales repaid in the mode); since stop 62 the account pays Aave's 5 bp premium and its sales keep the fixed
    // repayment, as the keeper sends them: 610,317.
    expect(sum.autopilot).toBeCloseTo(610_317, -1)
    expect(sum["dfs-style"]).toBeCloseTo(625_362, -1)
    // After a close-factor liquidation the account keeps debt and dfs-style acts on it (orders after the liquidation).
    const events: BacktestEvent[] = []
    run(wick(5006), aaveNoIdle, "dfs-style", (e) => events.push(e))
    const liquidation = events.find((e) => e.kind === "liquidation") as BacktestEvent
    expect(liquidation.detail).toMatch(/close factor 0\.5/)
    expect(events.some((e) => e.time > liquidation.time && (e.kind === "swap" || e.kind === "rejected"))).toBe(true)
  })

  it("was FAILS TODAY, passes now: autopilot's liquidation loss <= dfs-style's where the liquidation is partial (Aave venue)", () => {
    const sum = sums()
    expect(sum.autopilot).toBeLessThanOrEqual(sum["dfs-style"])
  })
})

describe("rr13 F3: dfs-style's ratio check is two-sided; DeFi Saver's MorphoBlueRatioCheck is one-sided", () => {
  // MorphoBlueRatioCheck: a Repay reverts only if the ratio did not improve or ends above target + RATIO_OFFSET; a Boost
  // only if it did not fall or ends below target - RATIO_OFFSET (RATIO_OFFSET 5e16 of DFS's ratio collateral/debt, i.e.
  // 0.05 x LLTV of health). A Repay that improves the ratio but falls short of the target lands.
  const dfsAccepts = (side: string, before: number, after: number, goal: number, lltv = 0.86) =>
    side === "sell" ? after > before && after <= goal + 0.05 * lltv : after < before && after >= goal - 0.05 * lltv
  const rejectedDfsWouldLand = (events: BacktestEvent[]) =>
    events.filter((e) => {
      const m = /^(sell|buy) [\d.e+-]+: ratio check: ([\d.]+) vs target ([\d.]+)/.exec(e.detail)
      return e.kind === "rejected" && m !== null && dfsAccepts(m[1] as string, e.healthBefore as number, Number(m[2]), Number(m[3]))
    })

  it("fixed (b13b): flashWick seed 8001 (no-idle), the Repay mid-wick from health 1.074 to 1.307 (target 1.4) lands, as DeFi Saver's check lets it", () => {
    const events: BacktestEvent[] = []
    run(wick(8001), noIdle, "dfs-style", (e) => events.push(e))
    const landed = events.filter((e) => e.kind === "swap" && Math.abs((e.healthBefore ?? 0) - 1.074) < 5e-4)
    expect(landed).toHaveLength(1)
    expect(landed[0]?.healthAfter).toBeGreaterThan(1.3)
    expect(landed[0]?.healthAfter).toBeLessThan(1.35)
  })

  it("was FAILS TODAY, passes now: the backtester reverts no dfs-style operation DeFi Saver's ratio check lets land", () => {
    const events: BacktestEvent[] = []
    run(wick(8001), noIdle, "dfs-style", (e) => events.push(e))
    expect(rejectedDfsWouldLand(events)).toEqual([])
  })
})

describe("rr13 F4: the like-for-like liquidation loss ignores Aave liquidations", () => {
  const aave = resolveBacktestConfig({ subAccounts: [{ id: "aave", asset: "ETH", lltv: 0.83, equity: 100_000, initialHealth: 1.4, venue: "aave-v3" }] })
  const crash = { timestamps: Float64Array.from([0, 1, 2, 3].map((i) => T0 + 60 * i)), assets: ["ETH"], prices: { ETH: Float64Array.from([3000, 3000, 2100, 2400]) } }

  it("fixed (b13b): one Aave liquidation with a positive penalty books its seizure's missed recovery like for like", () => {
    const r = run(crash, aave, "static")
    expect(r.liquidations).toBe(1)
    expect(r.liquidationPenalty).toBeGreaterThan(1_000)
    expect(r.liquidationLossLikeForLike).toBeGreaterThan(r.liquidationPenalty)
  })

  it("was FAILS TODAY, passes now: like-for-like loss is at least the penalty of each liquidation (README, Metrics), on Aave too", () => {
    const r = run(crash, aave, "static")
    expect(r.liquidationLossLikeForLike).toBeGreaterThanOrEqual(r.liquidationPenalty)
  })
})

describe("rr13 F5: the stop-loss on the -70 % collapse, no idle buffer (the issue-12 trader)", () => {
  const collapse = (seed: number) => generatePath({ ...DEFAULT_PATH, kind: "slowGrind", seed, sigma: 0.3, grind: { minFall: 0.7, maxFall: 0.7, steps: 10, stepSeconds: 1800 } })

  it("observed today: seed 101, the autopilot trips its stop-loss, avoids liquidation and ends with 3,388 against the liquidated static position's 8,095", () => {
    const p = collapse(101)
    const staticRun = run(p, noIdleBandOnly, "static")
    const autopilot = run(p, noIdleBandOnly, "autopilot")
    expect(staticRun.liquidations).toBe(1)
    expect(autopilot.liquidations).toBe(0)
    expect(autopilot.stopLossTrips).toBeGreaterThan(0)
    expect(staticRun.finalEquity).toBeCloseTo(8_095, -1)
    // 3,522 under the sale-minimum default (stop 61): the guard's exits land in the mode (3,388 with the fixed take).
    expect(autopilot.finalEquity).toBeCloseTo(3_522, -1)
  })

  // Still skipped (b13c): the module lets no exit land above the band (rule 3); the owner-set stop-loss exit that would
  // make this pass is designed, not implemented, in docs/stop-loss-exit.md (experiment: a stop at 0.91 x the first
  // price with exits to health 3 ends with 13,730-16,948 against static's 7,277-8,493 on seeds 101-106, sigma 0.3/0.6).
  // Fixed (f13f5): the module's stop-loss (docs/stop-loss-exit.md), stop at 0.91 x the first price, exits to health 3.
  const stopTrader = resolveBacktestConfig({ ...TRADERS["no-idle"], policy: { pools: [], stopPrice: 0.91, exitHealth: 3 } })
  it("fixed (f13f5): with its on-chain stop-loss (0.91 x first price, exit health 3) the autopilot ends richer than the position liquidated early (no-idle trader)", () => {
    const p = collapse(101)
    const autopilot = run(p, stopTrader, "autopilot")
    expect(autopilot.finalEquity).toBeGreaterThan(run(p, stopTrader, "static").finalEquity)
    // and the stop is what does it: without it the same trader ends poorer than static
    expect(run(p, noIdle, "autopilot").finalEquity).toBeLessThan(run(p, noIdle, "static").finalEquity)
  })
})

describe("rr13 F6: no idle buffer, held-out crash45 (suite generator, seed 30202; the scorecard's 100 are seeds 1004 + 9j)", () => {
  const p = () => generatePath({ ...DEFAULT_PATH, asset: "ETH", kind: "crash45", seed: 30202 })

  it("fixed (b13b; stop 56): the guard's first exit sale lands (min health 1.132), re-sized over the delay it really takes before it is sent (engine exitOverDelay); before stop 56 it reverted short at 2384 and the re-plan for that delay (rr13 F6, shortfallReverted) landed at 2385 (1.121). dfs-style min health 1.129", () => {
    const events: BacktestEvent[] = []
    // The mechanism needs a rescue from below the band: the band rule alone (since the shadow-gated in-band rescue
    // starts the no-idle autopilot at its target, it is not taken below the band here, and not liquidated either).
    const autopilot = run(p(), noIdleBandOnly, "autopilot", (e) => events.push(e))
    const dfs = run(p(), noIdle, "dfs-style")
    expect(autopilot.liquidations).toBe(0)
    expect(run(p(), noIdle, "autopilot").liquidations).toBe(0)
    expect(dfs.liquidations).toBe(0)
    // No sale reverts short of its fixed repayment: the first operation that sells is the exit, and it lands. (F6's
    // re-plan after a shortfall stays, engine `shortfallReverted`, for a sale that still reverts short.)
    const short = /RepayWithCallback.*needs \d+ of USDC but the Safe holds \d+ \(ActionFailed\)/
    expect(events.filter((e) => e.kind === "rejected" && short.test(e.detail))).toEqual([])
    const first = events.find((e) => e.kind === "swap" || e.kind === "rejected")
    expect(first?.kind).toBe("swap")
    expect(first?.detail).toMatch(/SellCollateral/)
    expect(autopilot.minHealth).toBeCloseTo(1.1323, 3)
  })

  it("was FAILS TODAY, passes now: the autopilot is not liquidated where dfs-style is not (liquidation loss <= dfs-style's, crash45)", () => {
    expect(run(p(), noIdle, "autopilot").liquidationLoss).toBeLessThanOrEqual(run(p(), noIdle, "dfs-style").liquidationLoss)
  })
})

describe("rr13 F7: CSV timestamps in milliseconds counted from 0 (or in hex) are read as seconds", () => {
  const rows = (f: (i: number) => string) => {
    const out = ["timestamp,ETH"]
    for (let i = 0; i < 400; i++) out.push(`${f(i)},${i === 200 ? 2250 : i > 200 && i < 206 ? 2250 + ((2990 - 2250) * (i - 200)) / 5 : 3000}`)
    return out.join("\n")
  }

  it("fixed (b13b): 0, 60000, 120000, ... read with timeUnit \"ms\" (--time-unit ms) is the seconds file; read as seconds (timeUnit \"s\") it changes the result", () => {
    const seconds = parsePriceCsv(rows((i) => String(60 * i)))
    const millis = parsePriceCsv(rows((i) => String(60_000 * i)), "<input>", { timeUnit: "ms" })
    expect(millis).toEqual(seconds)
    const asSeconds = parsePriceCsv(rows((i) => String(60_000 * i)), "<input>", { timeUnit: "s" })
    expect(asSeconds.timestamps[1]).toBe(60_000)
    expect(run(asSeconds, noIdle, "static").netPnl).not.toBeCloseTo(run(seconds, noIdle, "static").netPnl, 0)
  })

  it("was FAILS TODAY, passes now: a file whose steps are a thousand times its neighbours' scale (relative milliseconds) or a hex timestamp is refused with its line", () => {
    expect(() => parsePriceCsv(rows((i) => String(60_000 * i)))).toThrow(/milliseconds/)
    expect(() => parsePriceCsv(rows((i) => `0x${(T0 + 60 * i).toString(16)}`))).toThrow(/:2:/)
  })
})

describe("rr13 F8: the carry columns do not explain net P&L: pool entry/exit fees are in no column", () => {
  const n = 3 * 1440
  const flat: PricePaths = { timestamps: Float64Array.from({ length: n }, (_, i) => T0 + i * 60), assets: ["ETH"], prices: { ETH: new Float64Array(n).fill(3000) } }
  const unexplained = (s: StrategyName) => {
    const r = run(flat, buffered, s)
    const c = r.carry
    return r.netPnl - (-c.interest + c.poolYield + c.collateralYield - c.swapFees - c.swapImpact - c.serviceFees - c.automationFees - c.poolFees - r.gasCost)
  }

  it("fixed (b13b): on a flat price the buffered threshold's ~3.2 USDC of pool fees (1 bp on the boost parked in the pool) is the poolFees column; static and dfs-style pay none", () => {
    expect(Math.abs(unexplained("static"))).toBeLessThan(0.01)
    expect(Math.abs(unexplained("dfs-style"))).toBeLessThan(0.01)
    expect(Math.abs(unexplained("threshold"))).toBeLessThan(0.01)
    expect(run(flat, buffered, "threshold").carry.poolFees).toBeGreaterThan(3)
    expect(run(flat, buffered, "static").carry.poolFees).toBe(0)
  })

  it("was FAILS TODAY, passes now: every strategy's net P&L is its price move plus the carry columns (a pool fee column)", () => {
    expect(Math.abs(unexplained("autopilot"))).toBeLessThan(0.01)
  })
})
