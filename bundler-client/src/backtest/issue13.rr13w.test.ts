import { describe, expect, it, test } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import type { BacktestConfig, StrategyName } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, depegHold as depegAt, lcg, minutePath } from "./paths.testing.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Review rr13w of issue 13 (branch f13n at 9241d20: default tail floor = target, rescuePace, no drawdown-guard exit inside
 * a jump). Findings are skipped "FAILS TODAY" tests, each run un-skipped and seen failing with the figures in its name;
 * the other tests record what held. Findings and figures: docs/reviews/issue13-rr13w.md.
 */

const T0 = 1_700_006_400
const buffered = resolveBacktestConfig()
const noIdle = resolveBacktestConfig(TRADERS["no-idle"])
const noStop = resolveBacktestConfig({ policy: { stopLoss: null } })
// Without the autopilot's in-band rescue (issue 13, t50; on by default): W2 and W3 test the drawdown guard's exits, which
// need the position below its band; the in-band rescue now keeps it out of these states (measured in the tests below).
const bufferedBandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } })
const noStopBandOnly = resolveBacktestConfig({ policy: { stopLoss: null, rescueBelowTarget: false } })

/**
 * Seeded (`seed`): 2 h calm at 3,000; `k` gaps of equal ratio making a total fall of `fall`, each over `gapMinutes`
 * minute(s), `every` minutes apart with calm per-minute noise between; 6 h calm. With `gapMinutes` 1 every gap is one
 * oracle update larger than the tail's `minJump` (2 %) between two polls.
 */
function gapStairs(fall: number, k: number, every: number, seed: number, gapMinutes = 1): PricePaths {
  const r = lcg(seed)
  const ps = calm(120, 3000, r)
  const g = (1 - fall) ** (1 / k)
  for (let j = 0; j < k; j++) {
    const p = ps.at(-1) as number
    for (let m = 1; m <= gapMinutes; m++) ps.push(p * g ** (m / gapMinutes))
    ps.push(...calm(every - gapMinutes, ps.at(-1) as number, r).slice(1))
  }
  ps.push(...calm(360, ps.at(-1) as number, r).slice(1))
  return minutePath(ps, T0)
}

describe("rr13w W2: the 'no exit inside a jump' rule switches the drawdown guard off on a crash made of gaps", () => {
  // The wealth rule: on a collapsing asset (-70 % over three days in steps) the autopilot, past the owner's loss,
  // reduces exposure by selling collateral instead of feeding buffers. The suite's collapse is a slowGrind (each step
  // over 30 minutes); here each step is a one-minute gap (-11.4 %, ten of them 7 h apart, -70 % in ~3 days). Every gap
  // is > minJump between two polls, so `jumping` skips the guard's exit and the buffers-first rescue lands the position
  // in band; the exit is only tried below the band, so it never comes: the pool is fed into the position at every gap,
  // exactly threshold's behaviour. Measured on f13n 9241d20 (bufferedBandOnly): autopilot -122,624 = the autopilot without
  // stopLoss -122,624 = threshold -122,664; dfs-style -98,457. With `jumping` forced false (f13n's rule removed) the
  // same run ends -93,925. Over 15 paths (falls 50-70 %, 8-12 gaps, seeds 1-3) the rule costs 4,400-32,800 per path and
  // puts the autopilot below dfs-style on 12 of 15 (above it on all 15 without the rule).
  // Fixed w23 (defer, don't drop): the exit waits inside a jump only when the guard tripped in that jump (f13n's wick);
  // an exit owed from before the jump is tried inside it (`Simulation.exitWaits`). Without the on-chain stop the module
  // refuses a rebalance from inside the band (NoTrigger), so an owed exit is tried at the next trigger, which on this
  // path is the next gap: measured -93,925 (2 exits, the figure without f13n's rule), dfs-style -98,457.
  test("rr13w W2 (was: autopilot -122,624 = no-stop -122,624, dfs-style -98,457; -93,925 without f13n's jump rule; fixed w23: -93,925): expected the drawdown guard to cut exposure on a -70 % collapse made of one-minute gaps and end at least as rich as dfs-style", () => {
    const p = gapStairs(0.7, 10, 420, 7)
    const a = runBacktest(p, bufferedBandOnly, "autopilot")
    const off = runBacktest(p, noStopBandOnly, "autopilot")
    const dfs = runBacktest(p, bufferedBandOnly, "dfs-style")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
    expect(a.finalEquity).toBeGreaterThan(off.finalEquity + 10_000)
    expect(a.netPnl).toBeGreaterThanOrEqual(dfs.netPnl)
  })
  test("rr13w W2-b (was: 0 SellCollateral operations; 4 rebalances: one boost, then pool repayments of 29,279, 24,222 and 16,415 USDC, the guard tripped at 33.8 % between the first and second): expected at least one swap deleverage (the guard's exit) on the gap collapse", () => {
    const events: BacktestEvent[] = []
    runBacktest(gapStairs(0.7, 10, 420, 7), bufferedBandOnly, "autopilot", { trace: (e) => events.push(e) })
    expect(events.filter((e) => e.kind === "swap" && e.detail.includes("SellCollateral")).length).toBeGreaterThan(0)
  })
  it("held: the same collapse with each gap spread over 3 minutes (~4 % a minute): the guard's exit fires and ends richer than the autopilot without it and than threshold", () => {
    const p = gapStairs(0.7, 10, 420, 7, 3)
    const a = runBacktest(p, bufferedBandOnly, "autopilot")
    expect(a.liquidations).toBe(0)
    expect(a.finalEquity).toBeGreaterThan(runBacktest(p, noStopBandOnly, "autopilot").finalEquity + 10_000)
    expect(a.finalEquity).toBeGreaterThan(runBacktest(p, bufferedBandOnly, "threshold").finalEquity + 10_000)
  })
})

const ID = "0x00000000000000000000000000000000000000000000000000000000000000e1"
const depegHold = (drop: number, m: number, seed: number): PricePaths => depegAt(drop, m, seed, T0)
/** rr13u's correlated pair, buffered trader: LLTV 0.945, band [1.02, 1.1] target 1.05; everything else default (stopLoss 0.3, caps 150,000 / 600,000). */
const pairConfig = resolveBacktestConfig(
  { subAccounts: [{ id: ID, asset: "ETH", lltv: 0.945, equity: 100_000, initialHealth: 1.05 }], policy: { minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.1 }, risk: { initialSigma: 0.05, jumps: { intensity: 5, meanLog: -0.01, sigmaLog: 0.01 } } },
  buffered,
)
const pairBandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } }, pairConfig)


describe("rr13w W3: on a correlated pair that depegs and stays, the tripped guard is inert and the pool is fed into the position", () => {
  // Default caps (150,000 per rebalance) against a ~1,000,000 collateral position at 20x: no exit reaches the landing
  // zone, so (rr13u U1's fallback) the buffers-first rescue goes, to the target, after the trip as before it. Measured on
  // f13n 9241d20 (seed 51, -12 % over 30 min): autopilot pool repayments 51,470 (minute 1449) and, after the guard trips
  // at minute 1454 (30.0 %), 48,445 (1463); net P&L -121,425, exactly threshold's (-121,425, three pool repayments);
  // dfs-style sells collateral three times (no module caps) and ends -82,072. Sweep (no recovery; 13 paths: 7 % and 9 %
  // over 10/30/120 min, 12 % over 30 min, seeds 51/52): guard tripped on each, the autopilot within 100 of threshold
  // (but 9 % over 10 min, where threshold alone is liquidated), 7,700-39,400 below dfs-style. Where the depeg recovers:
  // no autopilot-only liquidation (shared liquidations book a larger headline loss for the autopilot at equal net P&L,
  // e.g. 58,308 vs 39,195: the known T3 metric effect, not counted).
  // Fixed w23 (`Simulation.capBoundExit`): when no sale within the caps reaches the landing zone, the tripped guard sends
  // the sale at the cap with, from the pool, only the least loan token that lifts the landing to the zone's floor (folded
  // into the callback's repayment): minute 1463, 77,006 sold, 10,476 from the pool (was 48,445), health 1.011 -> 1.030.
  // Measured: autopilot -119,537, threshold -121,425, dfs-style -82,072. The review's margin (+10,000 over threshold) is
  // not reachable by any step after the trip at the default caps: the guard trips at minute 1454, in the band (a pool
  // rescue at 1449 landed at 1.074), where the module refuses a rebalance without the on-chain stop (NoTrigger); the
  // first trigger after it is minute 1463, with 2.4 % of the fall left, and each operation may sell 8 % of the position.
  // Landing at the cap-bound edge instead (before + 1.5 x MIN_BAND_GAP, 1.026) was tried: liquidated 5 minutes later.
  // Stop 63: in the falling trend the exit's pool part lifts the landing further (issue13.s63.test.ts), here to 1.050 (the
  // zone's middle): 26,808 from the pool at minute 1463 (was 10,476), final equity 80,264 (was 80,461; threshold 78,575).
  test("rr13w W3 (was: autopilot -121,425 = threshold -121,425, dfs-style -82,072; guard tripped, 0 swaps, 48,445 from the pool after the trip; fixed w23: -119,537, a cap-bound sale with 10,476 from the pool): expected the tripped guard to reduce exposure by selling collateral, not add margin from the pool alone, and end richer than threshold", () => {
    const p = depegHold(0.12, 30, 51)
    const events: BacktestEvent[] = []
    const a = runBacktest(p, pairBandOnly, "autopilot", { trace: (e) => events.push(e) })
    const t = runBacktest(p, pairBandOnly, "threshold")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
    const trip = (events.find((e) => e.kind === "stop-loss") as BacktestEvent).time
    expect(events.filter((e) => e.time > trip && e.kind === "rebalance" && e.detail.includes("WithdrawFromPool"))).toEqual([])
    expect(events.filter((e) => e.time > trip && e.kind === "swap" && e.detail.includes("SellCollateral")).length).toBeGreaterThan(0)
    expect(a.finalEquity).toBeGreaterThan(t.finalEquity + 1_000)
  })
  // w3 (rr13w W3 status): the rest of the gap to dfs-style is made before the guard can act. The module takes no
  // rebalance in the band without the on-chain stop (NoTrigger), so the tripped guard's first operation is at the first
  // trigger after the trip (minute 1463 here, the w23 exit). Even a full exit there, of every collateral unit the
  // position ever held (it only sells: no purchase, no supply), at that minute's price and at no cost, ends below
  // dfs-style: measured bound about -94,100 against dfs-style's -82,072 (autopilot -119,537). On the 14 non-recovering
  // paths of the review's sweep the same bound is below dfs-style on 13; on the 14th (7 % over 10 min, seed 51) it is
  // 800 above, but on every 7 % path no operation follows the trip (the position stays in the band, where the module
  // takes none), so that bound is taken at the trip itself and is out of reach too. Figures:
  // docs/reviews/issue13-rr13w.md, W3 status.
  it("held (w3): a full exit at no cost at the tripped guard's first operation, of every unit ever held, still ends below dfs-style on the -12 % depeg that stays: the gap is made before the trip", () => {
    const p = depegHold(0.12, 30, 51)
    const events: BacktestEvent[] = []
    const a = runBacktest(p, pairBandOnly, "autopilot", { trace: (e) => events.push(e) })
    const dfs = runBacktest(p, pairBandOnly, "dfs-style")
    const trip = (events.find((e) => e.kind === "stop-loss") as BacktestEvent).time
    const first = events.find((e) => e.time > trip && (e.kind === "swap" || e.kind === "rebalance")) as BacktestEvent
    expect(first).toBeDefined()
    expect(events.some((e) => /BuyCollateral|SupplyCollateral/.test(e.detail))).toBe(false)
    const sub = pairConfig.subAccounts[0] as (typeof pairConfig.subAccounts)[number]
    const prices = p.prices.ETH as Float64Array
    const h = sub.initialHealth as number
    const units = sub.equity / (1 - sub.lltv / h) / (prices[0] as number)
    const at = (prices[Math.round((first.time - T0) / 60)] as number) - (prices[prices.length - 1] as number)
    expect(at).toBeGreaterThan(0)
    expect(a.netPnl + units * at).toBeLessThan(dfs.netPnl)
  })
})

/** Seeded: 6 h calm at 3,000; `n` wicks of depth `d` (2 min down, 3 back) `m` minutes apart; 4 h calm. */
function wicks(d: number, n: number, m: number, seed: number): PricePaths {
  const r = lcg(seed)
  const ps = calm(360, 3000, r)
  for (let i = 0; i < n; i++) {
    const p = ps.at(-1) as number
    ps.push(p * (1 - d / 2), p * (1 - d), p * (1 - (2 * d) / 3), p * (1 - d / 3), p)
    ps.push(...calm(m, p, r).slice(1))
  }
  ps.push(...calm(240, ps.at(-1) as number, r).slice(1))
  return minutePath(ps, T0)
}

/** Seeded: 6 h calm; a staircase of `n` one-minute falls of `step` each (every one > minJump); 8 h calm. */
function staircase(step: number, n: number, seed: number): PricePaths {
  const r = lcg(seed)
  const ps = calm(360, 3000, r)
  for (let i = 0; i < n; i++) ps.push((ps.at(-1) as number) * (1 - step))
  ps.push(...calm(480, ps.at(-1) as number, r).slice(1))
  return minutePath(ps, T0)
}

/** Seeded: 2 h calm; a geometric grind of `grind` over `hours` with calm noise; then a gap of `gap` that stays, 8 h. */
function grindThenGap(grind: number, hours: number, gap: number, seed: number): PricePaths {
  const r = lcg(seed)
  const ps = calm(120, 3000, r)
  const k = (1 - grind) ** (1 / (hours * 60))
  for (let i = 0; i < hours * 60; i++) ps.push((ps.at(-1) as number) * k * Math.exp(0.0004 * (r() - 0.5)))
  ps.push(...calm(480, (ps.at(-1) as number) * (1 - gap), r))
  return minutePath(ps, T0)
}

describe("rr13w held: rule 1 (no autopilot-only liquidation) on held-out shapes designed for f13n's jump rule and tail floor", () => {
  // The review ran 108 runs (18 shapes x 3 seeds x 2 traders: repeated wicks, jumps that stay, grind + gap, staircases
  // of > 2 % a minute, a gap then a bleed): autopilot-only 0; all three liquidated 12 (grind 30 % / 24 h then a 20 % gap).
  const cases: [string, PricePaths, BacktestConfig][] = [
    ["5 wicks of 15 % 30 min apart, buffered", wicks(0.15, 5, 30, 1), buffered],
    ["3 wicks of 22 % 10 min apart, no-idle", wicks(0.22, 3, 10, 2), noIdle],
    ["staircase 2.5 % x 12 minutes, no-idle", staircase(0.025, 12, 1), noIdle],
    ["staircase 2.1 % x 15 minutes, buffered", staircase(0.021, 15, 3), buffered],
    ["grind 15 % / 6 h then a 25 % gap, buffered", grindThenGap(0.15, 6, 0.25, 1), buffered],
    ["grind 25 % / 8 h then a 12 % gap, no-idle", grindThenGap(0.25, 8, 0.12, 2), noIdle],
  ]
  for (const [name, p, c] of cases)
    it(`held: ${name}: the autopilot is liquidated only where threshold and dfs-style are`, () => {
      const liq = (s: StrategyName) => runBacktest(p, c, s).liquidations
      expect(liq("autopilot") === 0 || (liq("threshold") > 0 && liq("dfs-style") > 0)).toBe(true)
    })
})

/** Seeded: 2 h calm; a geometric grind of `grind` over `hours` (trips the guard); then `n` wicks of `d` (3 min down, 6 back) `m` minutes apart; 4 h calm. */
function grindThenWicks(grind: number, hours: number, d: number, n: number, m: number, seed: number): PricePaths {
  const r = lcg(seed)
  const ps = calm(120, 3000, r)
  const k = (1 - grind) ** (1 / (hours * 60))
  for (let i = 0; i < hours * 60; i++) ps.push((ps.at(-1) as number) * k * Math.exp(0.0004 * (r() - 0.5)))
  for (let i = 0; i < n; i++) {
    const p = ps.at(-1) as number
    ps.push(p * (1 - d / 3), p * (1 - (2 * d) / 3), p * (1 - d), p * (1 - (5 * d) / 6), p * (1 - (4 * d) / 6), p * (1 - d / 2), p * (1 - d / 3), p * (1 - d / 6), p)
    ps.push(...calm(m, p, r).slice(1))
  }
  ps.push(...calm(240, ps.at(-1) as number, r).slice(1))
  return minutePath(ps, T0)
}

describe("w23 held: an exit owed from before a jump is tried inside it (rr13w W2 fix); wicks after the guard tripped", () => {
  // The W2 fix lets a tripped guard's exit run inside a jump when the guard tripped before that jump began, so wicks
  // that come after a trip are the shape it could hurt (f13n: an exit sized at the trend's price reverts inside a wick
  // and the next poll is late). Written after the fix, run once (not tuned): a 35 % grind over 12 h (the guard trips),
  // then wicks of 15-20 %, 3 minutes down and 6 back.
  const cases: [string, PricePaths, BacktestConfig][] = [
    ["35 % / 12 h, then 3 wicks of 15 % 45 min apart, buffered", grindThenWicks(0.35, 12, 0.15, 3, 45, 1), buffered],
    ["35 % / 12 h, then 2 wicks of 20 % 90 min apart, buffered", grindThenWicks(0.35, 12, 0.2, 2, 90, 2), buffered],
    ["35 % / 12 h, then 3 wicks of 15 % 45 min apart, no-idle", grindThenWicks(0.35, 12, 0.15, 3, 45, 3), noIdle],
  ]
  for (const [name, p, c] of cases)
    it(`held: ${name}: the guard trips and the autopilot is liquidated only where threshold and dfs-style are`, () => {
      const a = runBacktest(p, c, "autopilot")
      const liq = (s: StrategyName) => runBacktest(p, c, s).liquidations
      expect(a.stopLossTrips).toBeGreaterThan(0)
      expect(a.liquidations === 0 || (liq("threshold") > 0 && liq("dfs-style") > 0)).toBe(true)
    })
})
