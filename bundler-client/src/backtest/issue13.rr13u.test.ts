import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it, test } from "vitest"
import { runCli } from "../cli/run.js"
import { solve, validatePolicy } from "../solver/solver.js"
import { stopExitResult } from "../solver/stopExit.js"
import type { SolverInput } from "../solver/types.js"
import { resolveBacktestConfig, strategyPolicy, TRADERS } from "./config.js"
import type { BacktestConfig, StrategyName } from "./config.js"
import { runBacktest } from "./engine.js"
import { calm, lcg, lin, minutePath } from "./paths.testing.js"
import { parsePriceCsv } from "../prices/csv.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Review rr13u of issue 13 (main at e3a77bb, after f13h/f13i/f13j): hand-made inputs no earlier test uses. Each finding
 * is a skipped "FAILS TODAY" test stating the issue's promise, run un-skipped and seen failing; the other tests record
 * what held. Findings and figures: docs/reviews/issue13-rr13u.md.
 */

const T0 = 1_700_006_400
const ID = "0x00000000000000000000000000000000000000000000000000000000000000e1"
const minutes = (ps: number[]): PricePaths => minutePath(ps, T0)
const buffered = resolveBacktestConfig()
// Without the autopilot's in-band rescue (issue 13, t50; on by default), as these cases were measured.
const bufferedBandOnly = resolveBacktestConfig({ policy: { rescueBelowTarget: false } })
const noIdle = resolveBacktestConfig(TRADERS["no-idle"])
const trader = (name: "buffered" | "no-idle", override: Record<string, unknown> = {}): BacktestConfig => resolveBacktestConfig(override, name === "buffered" ? buffered : noIdle)
const liquidations = (p: PricePaths, c: BacktestConfig, s: StrategyName) => runBacktest(p, c, s).liquidations

/**
 * Deterministic: 2 h flat at 3,000; a geometric bleed of `bleed` over 24 h; at minute `at` of the bleed a wick of `wick`
 * in 2 minutes, back in 5; then 4 h flat.
 */
function bleedWick(bleed: number, wick: number, at: number): PricePaths {
  const ps: number[] = Array(120).fill(3000)
  const n = 24 * 60
  const g = (1 - bleed) ** (1 / n)
  for (let i = 1; i <= n; i++) {
    const k = i - at
    const f = k >= 1 && k <= 2 ? 1 - (wick * k) / 2 : k >= 3 && k <= 7 ? 1 - wick + (wick * (k - 2)) / 5 : 1
    ps.push(3000 * g ** i * f)
  }
  const last = ps.at(-1) as number
  for (let i = 0; i < 240; i++) ps.push(last)
  return minutes(ps)
}

/**
 * Seeded (`seed`): 2 h calm at 3,000; a geometric bleed of `bleed` over `n` minutes with calm per-minute noise; at
 * minute `at` of the bleed a wick of `wick` (3 minutes down, 6 back); then 4 h calm.
 */
function noisyBleedWick(bleed: number, n: number, wick: number, at: number, seed: number): PricePaths {
  const r = lcg(seed)
  const ps = calm(120, 3000, r)
  const g = (1 - bleed) ** (1 / n)
  let base = ps.at(-1) as number
  for (let i = 1; i <= n; i++) {
    base *= g * Math.exp(0.0004 * (r() - 0.5))
    const k = i - at
    const f = k >= 1 && k <= 3 ? 1 - (wick * k) / 3 : k >= 4 && k <= 9 ? 1 - wick + (wick * (k - 3)) / 6 : 1
    ps.push(base * f)
  }
  return minutes([...ps, ...calm(240, base, r)])
}

/** 2 h calm at 3,000, a linear bleed of `bleed` over 12 h, a 10 % wick (2 min down, 5 back), 4 h calm (seed 13). */
function bleedThenWick(bleed: number): PricePaths {
  const r = lcg(13)
  const a = calm(120, 3000, r)
  const b = lin(3000, 3000 * (1 - bleed), 12 * 60)
  const low = b.at(-1) as number
  return minutes([...a, ...b, ...lin(low, low * 0.9, 2), ...lin(low * 0.9, low, 5), ...calm(240, low, r)])
}

/** A correlated pair (LST/ETH-like): 24 h at 1.0 (tiny noise), a depeg of `drop` over `minutes_` minutes, 1 h choppy, 4 h back to 0.995. */
function depeg(drop: number, minutes_: number): PricePaths {
  const r = lcg(51)
  const pre = calm(24 * 60, 1.0, r, 0.00002)
  const last = pre.at(-1) as number
  return minutes([...pre, ...lin(last, last * (1 - drop), minutes_), ...calm(60, last * (1 - drop), r, 0.001), ...lin(last * (1 - drop), last * 0.995, 240), ...calm(300, last * 0.995, r, 0.00002)])
}
/** The buffered trader on a correlated market: LLTV 0.945, band [1.02, 1.1] target 1.05; everything else default (stopLoss 0.3, caps). */
const pairConfig = trader("buffered", {
  subAccounts: [{ id: ID, asset: "ETH", lltv: 0.945, equity: 100_000, initialHealth: 1.05 }],
  policy: { minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.1 },
  risk: { initialSigma: 0.05, jumps: { intensity: 5, meanLog: -0.01, sigmaLog: 0.01 } },
})

describe("rr13u U1: a tripped stop-loss whose exit cannot be sized leaves the autopilot with no rescue at all (buffers untouched)", () => {
  // Measured on e3a77bb. Buffered trader, maxAmountPerRebalance 30,000, default stopLoss 0.3, bleed -40 % then a 10 %
  // wick: threshold withdraws 19,227 and 15,628 USDC from the pool (min health 1.145); the autopilot's guard trips at
  // minute 734 (drawdown 30.0 %), its stop exit (a sale toward the top of the landing zone) cannot reach the zone's
  // bottom within 30,000, decideSolver returns nothing (`if (reverted.size === 0) return undefined`), and it is
  // liquidated at minute 841 (health 0.957) with about 110,000 USDC still in the pool (100,000 + 30,000 parked by the
  // first boost - 20,266 withdrawn by its one pool rescue). Loss 13,603, net P&L -83,861
  // against threshold's -70,263 and dfs-style's -80,185.
  const capped = trader("buffered", { policy: { maxAmountPerRebalance: 30_000 } })
  test("rr13u U1a (was: autopilot liquidated at health 0.957, threshold min 1.145; fixed f13l: buffers-first rescue under a tripped guard): expected autopilot not liquidated where threshold is not (bleed -40 %, cap 30,000, default stopLoss)", () => {
    const p = bleedThenWick(0.4)
    expect(liquidations(p, capped, "threshold")).toBe(0)
    const a = runBacktest(p, capped, "autopilot")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
    expect(a.liquidationLoss).toBeLessThanOrEqual(runBacktest(p, capped, "dfs-style").liquidationLoss)
  })
  // Same mechanism with the default caps and stopLoss on a correlated pair: the guard trips at minute 1454 (drawdown
  // 30 %) after one pool rescue; threshold rescues three more times from the pool (min 1.012); the autopilot is
  // liquidated at minute 1466 (health 0.993), loss 108,362 (more than the 100,000 equity put in the position).
  test("rr13u U1b (was: autopilot liquidated at health 0.993, loss 108,362; threshold min 1.012; fixed f13l): expected autopilot not liquidated on a 12 % depeg over 30 min where threshold is not", () => {
    const p = depeg(0.12, 30)
    expect(liquidations(p, pairConfig, "threshold")).toBe(0)
    const a = runBacktest(p, pairConfig, "autopilot")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
  })
  // A buffers-only owner (swap lane off, `input.swap` undefined: no exit can ever be sized), every other setting default:
  // bleed -50 % then the 10 % wick: threshold min 1.144 (4 pool rescues); the autopilot, tripped, liquidated at 0.968,
  // loss 11,196, net P&L -98,946 against -87,790. With stopLoss off it is not liquidated (min 1.145).
  test("rr13u U1c (was: autopilot liquidated at 0.968, threshold min 1.144; fixed f13l): expected autopilot not liquidated with the swap lane off (buffers only), default stopLoss and caps", () => {
    const p = bleedThenWick(0.5)
    const buffersOnly = trader("buffered", { swap: { enabled: false } })
    expect(liquidations(p, buffersOnly, "threshold")).toBe(0)
    const a = runBacktest(p, buffersOnly, "autopilot")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
  })
  // Held out (f13l, a path of its own): 2 h calm, 14 hourly steps of -5 % (each within 3 minutes, seed 77), 4 h calm;
  // buffered trader, maxAmountPerRebalance 20,000, default stopLoss. Measured before the fix: threshold min 1.125, the
  // autopilot tripped and liquidated at 0.985 (loss 3,375); after: not liquidated, min 1.129.
  test("f13l U1 held-out: a staircase fall with a 20,000 cap, guard tripped: the autopilot rescues from its buffers where threshold survives", () => {
    const r = lcg(77)
    let ps = calm(120, 3000, r)
    for (let k = 0; k < 14; k++) {
      const last = ps.at(-1) as number
      ps = [...ps, ...lin(last, last * 0.95, 3), ...calm(57, last * 0.95, r)]
    }
    const p = minutes([...ps, ...calm(240, ps.at(-1) as number, r)])
    const c = trader("buffered", { policy: { maxAmountPerRebalance: 20_000 } })
    expect(liquidations(p, c, "threshold")).toBe(0)
    const a = runBacktest(p, c, "autopilot")
    expect(a.stopLossTrips).toBeGreaterThan(0)
    expect(a.liquidations).toBe(0)
    expect(a.minHealth).toBeGreaterThan(1.05)
  })
  // The live keeper (keeper/safeStep.ts) plans the solver's rescue first and asks `stopExitResult` only for a loan asset
  // the solver plans nothing for, and `stopExitResult` stands aside below the band: with its stop engaged and no exit
  // that can be sized (no swap curve), a sub-account below its band still gets the buffers-first rescue. (The drawdown
  // guard, U1's cause, is the backtester's alone.)
  it("f13l U1, the live keeper's order: stop engaged below the band with no swap curve: no stop exit, the solver's rescue from the pool", () => {
    const policy = { ...buffered.policy, stopPrice: 2_900, exitHealth: 3, boostAllowed: false }
    // 10 ETH at 2,800, debt 22,000, LLTV 0.86: health 1.095, under minHealth.
    const state = { id: ID, loanAsset: "USDC", collateralAsset: "ETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 22_000, lltv: 0.86, price: 2_800 }
    const input: SolverInput = {
      now: T0,
      subAccounts: [{ state, policy, epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }, risk: { sigma: 0.6 } }],
      pools: buffered.pools.map((x) => ({ ...x })),
      idle: {},
      costs: buffered.costs,
      mode: "threshold",
    }
    expect(stopExitResult(input)).toBeUndefined()
    const plan = solve(input).plan
    expect(plan).toBeDefined()
    expect(plan?.actions.some((a) => a.kind === "WithdrawFromPool" || a.kind === "Repay")).toBe(true)
  })
  it("held: without the stop-loss the autopilot is not liquidated on the three paths (the guard is the cause)", () => {
    const p = bleedThenWick(0.4)
    const noStop = trader("buffered", { policy: { maxAmountPerRebalance: 30_000, stopLoss: null } })
    expect(liquidations(p, noStop, "autopilot")).toBe(0)
    const pairNoStop = resolveBacktestConfig({ policy: { stopLoss: null } }, pairConfig)
    const d = depeg(0.12, 30)
    expect(liquidations(d, pairNoStop, "threshold")).toBe(0)
    expect(runBacktest(d, pairNoStop, "autopilot").liquidations).toBe(0)
    expect(liquidations(bleedThenWick(0.5), trader("buffered", { swap: { enabled: false }, policy: { stopLoss: null } }), "autopilot")).toBe(0)
  })
})

describe("rr13u U2: slow bleed with a late wick: the autopilot's health lags threshold's by one trigger and the wick catches it", () => {
  // Measured on e3a77bb, default buffered trader (every setting default), the deterministic path bleedWick(0.45, 0.16,
  // 980) (also through `levpilot backtest --prices` as a CRLF CSV: same rows): threshold and dfs-style min health 1.146,
  // static 1.100, none liquidated. Both rescue from the pool at minute 602 (health 1.15); threshold lands at 1.400, the
  // autopilot a little higher, 1.416. So at minute 1083 threshold reaches 1.147 and re-lands at 1.4, while the autopilot
  // is at 1.160, still in the band; the 16 % wick at minute 1100 takes it to 0.967, liquidated: loss 10,616 against
  // dfs-style's 0, like for like 3,824. The same with stopLoss off and with a 14 % wick (0.990). The tail floor (survive
  // 28.6 %) sets where the autopilot lands, not where it rests: in the band both strategies drift to minHealth 1.15
  // (survives 13 %), and whichever is nearer to it when the wick comes is caught. A sweep of the wick's minute
  // (600-1420, step 20): autopilot only 1, threshold only 4, both 5, neither 32.
  // Fixed f13n (root cause: the landing, not the trigger). Two lifts put the autopilot's rescue landing above threshold's
  // 1.400: the default tail floor's reaction term (x 1.0049 at sigma 0.6: 1.404, its first boost lands there too) and
  // the epoch pacing (2 of 24 rebalances: 8.6 % of the way up, 1.416). Under the same band trigger a landing above
  // threshold's makes its next trigger come an oracle step or more later (a 0.5 % oracle step is 12 min of this bleed),
  // and a wick in that lag catches it at the band's floor while threshold has just re-landed. Now the default floor is
  // the target unless the risk model asks for more (`policyTailFloorHealth`), and pacing starts only when the epoch's
  // pace projects more than half its rebalances (`rescuePace`): both rescue at minutes 482 and 963 to 1.400 here.
  test("rr13u U2 (was: autopilot liquidated at 0.967, threshold 1.146, static 1.100; fixed f13n: lands where threshold does unless its risk asks more): expected autopilot not liquidated on a slow bleed with a late 16 % wick where threshold is not", () => {
    const p = bleedWick(0.45, 0.16, 980)
    expect(liquidations(p, buffered, "threshold")).toBe(0)
    const a = runBacktest(p, buffered, "autopilot")
    expect(a.liquidations).toBe(0)
    expect(a.minHealth).toBeGreaterThan(1.14)
  })
  test("rr13u U2-b (was: autopilot liquidation loss 10,616 against dfs-style 0; fixed f13n): expected autopilot liquidation loss <= dfs-style on the same path", () => {
    const p = bleedWick(0.45, 0.16, 980)
    expect(runBacktest(p, buffered, "autopilot").liquidationLoss).toBeLessThanOrEqual(runBacktest(p, buffered, "dfs-style").liquidationLoss)
  })
  /** A wick at every `every`-th minute of a noisy bleed: the wick minutes that liquidate autopilot only, and how many
   * runs threshold survived. */
  const wickSweep = (drop: number, minutes: number, wick: number, every: number, seed: number) => {
    const only: number[] = []
    let survived = 0
    for (let at = every; at < minutes - 10; at += every) {
      const p = noisyBleedWick(drop, minutes, wick, at, seed)
      if (liquidations(p, buffered, "threshold") > 0) continue
      survived++
      if (liquidations(p, buffered, "autopilot") > 0) only.push(at)
    }
    return { only, survived }
  }
  // Variant (f13n): a noisy bleed of another slope and length (seed 29: 2 h calm, -40 % over 20 h with per-minute
  // noise, a 15 % wick of 3 min down and 6 back, 4 h calm), the wick at every 37th minute of the bleed. Chosen blind, it
  // failed after the landing fix ([888, 925] autopilot-only) by a second mechanism: the wick itself trips the drawdown
  // guard, the guard's exit (a sale sized for the trend's fall) reverts inside the wick, and the next poll is too late
  // (liquidated at 0.992 / 0.975 where threshold's pool rescue at the same poll landed at 1.326). Fixed in the engine
  // (`jumping`: no exit inside a jump, the buffers-first rescue goes); so this variant is no longer held out.
  test("f13n U2 variant: a noisy -40 % / 20 h bleed, a 15 % wick at every 37th minute: no autopilot-only liquidation", () => {
    const { only, survived } = wickSweep(0.4, 20 * 60, 0.15, 37, 29)
    expect(survived).toBeGreaterThan(10)
    expect(only).toEqual([])
  })
  // Held out (f13n, written after both fixes and run once, not tuned on): seed 61, -30 % over 16 h, an 18 % wick at
  // every 41st minute of the bleed.
  test("f13n U2 held-out: a noisy -30 % / 16 h bleed, an 18 % wick at every 41st minute (seed 61): no autopilot-only liquidation", () => {
    const { only, survived } = wickSweep(0.3, 16 * 60, 0.18, 41, 61)
    expect(survived).toBeGreaterThan(5)
    expect(only).toEqual([])
  })
  // Measured: the wick at minute 900-960 liquidates threshold, dfs-style and the autopilot alike (static, resting at
  // 2.0, survives); at 1000 none. Only 980 separates them: the rule breaks on the phase, not on the depth.
  it("held: the same wick at minute 1000 liquidates neither, at 960 both; the CRLF CSV of the path parses to the same rows", () => {
    const later = bleedWick(0.45, 0.16, 1000)
    expect(liquidations(later, bufferedBandOnly, "threshold")).toBe(0)
    expect(liquidations(later, bufferedBandOnly, "autopilot")).toBe(0)
    const earlier = bleedWick(0.45, 0.16, 960)
    expect(liquidations(earlier, bufferedBandOnly, "threshold")).toBe(1)
    expect(liquidations(earlier, bufferedBandOnly, "autopilot")).toBe(1)
    const q = bleedWick(0.45, 0.16, 980)
    const csv = `timestamp,ETH\r\n${Array.from(q.timestamps, (t, i) => `${t},${(q.prices.ETH as Float64Array)[i]}`).join("\r\n")}\r\n`
    const parsed = parsePriceCsv(csv)
    expect(Array.from(parsed.prices.ETH as Float64Array)).toEqual(Array.from(q.prices.ETH as Float64Array))
  })
})

describe("rr13u U3: the documented --policy stopPrice / exitHealth crashes every threshold run", () => {
  // Measured on e3a77bb: `levpilot backtest --generate 1 --days 1 --policy stop.json` with {"policy":{"stopPrice":0.91,
  // "exitHealth":3}} (the README's own example) exits with "SolverInputError: ... stopPrice must be > 0 with exitHealth,
  // got undefined". The engine deletes stopPrice for every strategy but the autopilot and keeps exitHealth, which
  // validatePolicy refuses alone. The README says the other strategies "run without it".
  const stop = trader("buffered", { policy: { stopPrice: 0.91, exitHealth: 3 } })
  test("rr13u U3 (was: SolverInputError stopPrice must be > 0 with exitHealth; fixed f13l: strategyPolicy): expected threshold to run without the stop", () => {
    const r = lcg(3)
    const p = minutes(calm(240, 3000, r, 0.01))
    expect(() => runBacktest(p, stop, "threshold")).not.toThrow()
  })
  // The README's example through the CLI (bundler-client/README.md, "--policy"): every strategy runs.
  test("f13l U3: `levpilot backtest --generate 1 --days 1 --policy` with {\"policy\":{\"stopPrice\":0.91,\"exitHealth\":3}} runs all four strategies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "f13l-u3-"))
    const file = join(dir, "stop.json")
    writeFileSync(file, JSON.stringify({ policy: { stopPrice: 0.91, exitHealth: 3 } }))
    const out: string[] = []
    const err: string[] = []
    const code = await runCli(["backtest", "--generate", "1", "--days", "1", "--policy", file, "--json", join(dir, "out.json")], { out: (t) => void out.push(t), err: (t) => void err.push(t) })
    expect(err.join("")).toBe("")
    expect(code).toBe(0)
    const report = JSON.parse(readFileSync(join(dir, "out.json"), "utf8"))
    expect(report.config.policy).toMatchObject({ stopPrice: 0.91, exitHealth: 3 })
    expect(report.suite.totals.map((t: { strategy: string }) => t.strategy)).toEqual(["static", "threshold", "dfs-style", "autopilot"])
  }, 300_000)
  // Held out (f13l): the stop set on the sub-account's own policy, not the shared one, and the drawdown guard with it.
  test("f13l U3 held-out: a sub-account-level stop (stopPrice 0.95, exitHealth 2.5) with stopLoss: threshold and dfs-style run without it, the autopilot with it in price units", () => {
    const c = trader("buffered", { subAccounts: [{ ...buffered.subAccounts[0], policy: { stopPrice: 0.95, exitHealth: 2.5 } }], policy: { stopLoss: 0.2 } })
    const p = minutes(calm(240, 3000, lcg(4), 0.01))
    for (const s of ["threshold", "dfs-style", "static", "autopilot"] as const) expect(() => runBacktest(p, c, s), s).not.toThrow()
    const policy = { ...c.policy, stopPrice: 0.95, exitHealth: 2.5 }
    const other = strategyPolicy(policy, "threshold", 3000)
    expect([other.stopPrice, other.exitHealth, other.stopLoss]).toEqual([undefined, undefined, undefined])
    expect(() => validatePolicy(other)).not.toThrow()
    expect(validatePolicy(other)).toEqual([])
    const auto = strategyPolicy(policy, "autopilot", 3000)
    expect([auto.stopPrice, auto.exitHealth, auto.stopLoss]).toEqual([2850, 2.5, 0.2])
    expect(policy.stopPrice).toBe(0.95)
  })
  it("held: the autopilot, static and dfs-style run with it", () => {
    const p = minutes(calm(240, 3000, lcg(3), 0.01))
    for (const s of ["static", "dfs-style", "autopilot"] as const) expect(() => runBacktest(p, stop, s)).not.toThrow()
  })
})

describe("rr13u U4: the default stop-loss (0.3) on a 40 % crash that recovers: net P&L was below dfs-style (no-idle)", () => {
  // Measured on e3a77bb, no-idle trader, 4 paths (down over 6 or 24 h, back to +5 % over 36 h, seeds 72, 73): sum of net
  // P&L autopilot -91,436, dfs-style -84,402, threshold -80,012; with stopLoss off the autopilot is -81,584. The guard
  // trips at a 30 % equity drawdown (an 11.5 % price drop at health 1.4), sells to the band's top and does not boost
  // until a 15 % rebound from its trough, so it misses the recovery.
  const vs = () =>
    [6, 24].flatMap((downH) =>
      [1, 2].map((seed) => {
        const r = lcg(71 + seed)
        const pre = calm(360, 3000, r, 0.001)
        const last = pre.at(-1) as number
        const down = lin(last, last * 0.6, downH * 60).map((x) => x * Math.exp(0.002 * (r() - 0.5)))
        const up = lin(last * 0.6, last * 1.05, 36 * 60).map((x) => x * Math.exp(0.002 * (r() - 0.5)))
        return minutes([...pre, ...down, ...up, ...calm(600, last * 1.05, r, 0.001)])
      }),
    )
  // Found passing in stop 62 (main 4b0c03e, while re-running the skipped pins under the sale-minimum default): autopilot
  // -26,308 against dfs-style -84,402 over the 4 paths (the autopilot now opens with a deleverage to about 1.53, its
  // tail floor; it passes with the fixed take too, review rv62).
  test("rr13u U4 (was FAILS TODAY: autopilot -91,436 against dfs-style -84,402 over 4 paths): autopilot net P&L >= dfs-style on a recovering 40 % crash family (no-idle)", () => {
    let a = 0
    let d = 0
    for (const p of vs()) {
      a += runBacktest(p, noIdle, "autopilot").netPnl
      d += runBacktest(p, noIdle, "dfs-style").netPnl
    }
    expect(a).toBeGreaterThanOrEqual(d)
  })
})

describe("rr13u U5: CSV input hygiene", () => {
  test("rr13u U5a (was: 'needs at least two price rows, got 0'; fixed f13l): expected a CR-only file (classic Mac / some exports) read, or refused naming its line endings", () => {
    let rows = -1
    try {
      rows = parsePriceCsv("timestamp,ETH\r1700000000,3000\r1700000060,3010\r").timestamps.length
    } catch (error) {
      expect((error as Error).message).toMatch(/line ending|\\r|carriage/i)
      return
    }
    expect(rows).toBe(2)
  })
  // A row in base units (3,000 x 1e18, a decimals mix-up) is read as a price; the autopilot then throws
  // RiskInputError "tailDrop": must be in [0, 1), got 1 (the tail calibrator's drop rounds to 1), naming no line, and
  // the whole backtest command fails; threshold runs.
  test("rr13u U5b (was: RiskInputError tailDrop got 1, no line named; fixed f13l): expected the reader to refuse a price 1e18 times its neighbours with its line, or the backtest to run", () => {
    const text = "timestamp,ETH\n1700000000,3000\n1700000060,3000000000000000000000\n1700000120,3000\n1700000180,3000\n"
    let paths: PricePaths
    try {
      paths = parsePriceCsv(text)
    } catch (error) {
      expect((error as Error).message).toMatch(/:3:/)
      return
    }
    expect(() => runBacktest(paths, buffered, "autopilot")).not.toThrow()
  })
  // Held out (f13l): CR-only and mixed endings keep their line numbers; a base-units row first (the jump down is named
  // with both lines), and in a second asset's column; a path given in code with such a row runs (the tail's largest
  // drop stays below 1).
  test("f13l U5 held-out: mixed CR / CRLF / LF lines numbered right; a base-units first row or second column refused with its line; a programmatic path with one runs", () => {
    expect(() => parsePriceCsv("timestamp,ETH\r1700000000,3000\r\n1700000060,3010\n1700000030,3020\r")).toThrow(/:4:.*backwards/)
    expect(Array.from(parsePriceCsv("timestamp,ETH\r\r1700000000,3000\n\r1700000060,3010").prices.ETH as Float64Array)).toEqual([3000, 3010])
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000000000000000000000\n1700000060,3000\n1700000120,3000\n")).toThrow(/:3:.*line 2/)
    expect(() => parsePriceCsv("timestamp,ETH,BTC\n1700000000,3000,60000\n1700000060,3001,60000000000000000000000\n")).toThrow(/:3:.*BTC/)
    // A 1,000-fold move (a real redenomination or a thin token) is still read.
    expect(parsePriceCsv("timestamp,X\n1700000000,1\n1700000060,1000\n").prices.X?.[1]).toBe(1000)
    const ps = [...calm(120, 3000, lcg(8)), 3e21, ...calm(120, 3000, lcg(9))]
    expect(() => runBacktest(minutes(ps), buffered, "autopilot")).not.toThrow()
  })
  it("held: mixed seconds then milliseconds, float-equal timestamps, a quoted header are refused with their line; NBSP, a BOM mid-file, negative and fractional seconds are read", () => {
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000\n1700000060,3000\n1700000120000,3000\n")).toThrow(/:4:.*milliseconds/)
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000.00000001,3000\n1700000000.00000002,3000\n")).toThrow(/:3:.*repeats/)
    expect(() => parsePriceCsv('"timestamp","ETH"\n"1700000000","3000"\n')).toThrow(/:1:/)
    expect(parsePriceCsv("timestamp,ETH\n1700000000,\u00a03000\n\uFEFF1700000060,3010\n").prices.ETH?.[0]).toBe(3000)
    expect(Array.from(parsePriceCsv("timestamp,ETH\n-120,3000\n-59.5,3000\n").timestamps)).toEqual([-120, -59.5])
  })
})

describe("rr13u, what held: threshold not liquidated => autopilot not liquidated", () => {
  // Flash wicks of 14 / 18 / 22 % lasting 1, 3 and 15 minutes each way after 1 h and 24 h of calm, both traders (36
  // paths); measured on e3a77bb: no path liquidates anyone (min health 1.09-1.21). Run here: the 24 h calm, 1 and
  // 15 minute subset (12 paths).
  it("flash wicks after 24 h calm: no autopilot-only liquidation, both traders", () => {
    for (const depth of [0.14, 0.22]) {
      for (const dur of [1, 15]) {
        const r = lcg(24 * 100 + depth * 1000 + dur)
        const a = calm(24 * 60, 3000, r)
        const last = a.at(-1) as number
        const p = minutes([...a, ...lin(last, last * (1 - depth), dur), ...lin(last * (1 - depth), last, dur), ...calm(240, last, r)])
        for (const c of [buffered, noIdle]) {
          if (liquidations(p, c, "threshold") === 0) expect(liquidations(p, c, "autopilot"), `depth ${depth} dur ${dur}`).toBe(0)
        }
      }
    }
  })
  it("a 20 % gap just before the epoch boundary (23:54 UTC) and at 06:00: no autopilot-only liquidation", () => {
    const day = T0 - (T0 % 86_400)
    for (const hour of [6, 23.9]) {
      const r = lcg(31)
      const pre = calm(Math.round((24 + hour) * 60), 3000, r)
      const last = pre.at(-1) as number
      const ps = [...pre, last * 0.8, ...lin(last * 0.8, last * 0.9, 60), ...calm(240, last * 0.9, r)]
      const p: PricePaths = { timestamps: Float64Array.from(ps.map((_, i) => day + 60 * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(ps) } }
      for (const c of [buffered, noIdle]) if (liquidations(p, c, "threshold") === 0) expect(liquidations(p, c, "autopilot"), `hour ${hour}`).toBe(0)
    }
  })
})
