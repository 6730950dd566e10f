import { parseArgs } from "node:util"
import { resolveBacktestConfig } from "../src/backtest/config.js"
import { runBacktest } from "../src/backtest/engine.js"
import type { BacktestEvent } from "../src/backtest/engine.js"
import { depegHold } from "../src/backtest/paths.testing.js"

/*
 * Review rr13w W3's sweep of correlated-pair depegs that do not recover (docs/reviews/issue13-rr13w.md, "W3 status"):
 * 7 % and 9 % over 10 / 30 / 120 min and 12 % over 30 min, seeds 51 and 52, on rr13u's pair with the buffered trader
 * (LLTV 0.945, band 1.02 / 1.05 / 1.1, default caps 150,000 / 600,000, stopLoss 0.3). Per path: net P&L of the autopilot
 * (liquidations; its sales and pool loan token after the guard's trip), threshold and dfs-style, and the full-exit
 * bound: the autopilot's net P&L plus every collateral unit the position ever held times the fall from the first
 * operation after the trip (or the trip, when none follows) to the path's end, at no cost.
 *
 *   npx tsx --conditions=@levpilot/source bundler-client/bench/rr13w-depegs.ts [--caps 1000000,4000000]
 *     [--stop-price 0.97 --exit-health 1.3] [--verbose]
 *
 * --caps: maxAmountPerRebalance,maxAmountPerEpoch (loan units); --stop-price (a fraction of the first price) and
 * --exit-health: the on-chain stop; --verbose: every trace event of the autopilot (minute, kind, health, detail).
 */

const T0 = 1_700_006_400
const { values } = parseArgs({
  options: { caps: { type: "string" }, "stop-price": { type: "string" }, "exit-health": { type: "string" }, verbose: { type: "boolean", default: false } },
})
const policy: Record<string, number> = { minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.1 }
if (values.caps !== undefined) {
  const [perRebalance, perEpoch] = values.caps.split(",").map(Number)
  if (!(Number(perRebalance) > 0 && Number(perEpoch) > 0)) throw new Error(`--caps must be two positive numbers "perRebalance,perEpoch", got "${values.caps}"`)
  Object.assign(policy, { maxAmountPerRebalance: perRebalance, maxAmountPerEpoch: perEpoch })
}
if (values["stop-price"] !== undefined) policy.stopPrice = Number(values["stop-price"])
if (values["exit-health"] !== undefined) policy.exitHealth = Number(values["exit-health"])
const sub = { id: "0x00000000000000000000000000000000000000000000000000000000000000e1", asset: "ETH", lltv: 0.945, equity: 100_000, initialHealth: 1.05 }
const config = resolveBacktestConfig({ subAccounts: [sub], policy, risk: { initialSigma: 0.05, jumps: { intensity: 5, meanLog: -0.01, sigmaLog: 0.01 } } }, resolveBacktestConfig())
const f = (x: number) => Math.round(x).toLocaleString("en-US")

console.log("path | autopilot net P&L (liquidations; sales / pool after the trip) | threshold (liq.) | dfs-style (liq.) | autopilot - dfs | full-exit bound (minute)")
for (const [drop, minutes] of [[0.07, 10], [0.07, 30], [0.07, 120], [0.09, 10], [0.09, 30], [0.09, 120], [0.12, 30]] as const)
  for (const seed of [51, 52]) {
    const p = depegHold(drop, minutes, seed, T0)
    const events: BacktestEvent[] = []
    const a = runBacktest(p, config, "autopilot", { trace: (e) => events.push(e) })
    const t = runBacktest(p, config, "threshold")
    const d = runBacktest(p, config, "dfs-style")
    const trip = events.find((e) => e.kind === "stop-loss")?.time
    const after = trip === undefined ? [] : events.filter((e) => e.time > trip && (e.kind === "swap" || e.kind === "rebalance"))
    const sales = after.filter((e) => e.detail.includes("SellCollateral")).length
    const pool = after.reduce((sum, e) => sum + [...e.detail.matchAll(/WithdrawFromPool ([\d.]+)/g)].reduce((u, m) => u + Number(m[1]), 0), 0)
    const prices = p.prices.ETH as Float64Array
    const units = sub.equity / (1 - sub.lltv / sub.initialHealth) / (prices[0] as number)
    const first = after[0]?.time ?? trip
    const bound = first === undefined ? Number.NaN : a.netPnl + units * ((prices[Math.round((first - T0) / 60)] as number) - (prices[prices.length - 1] as number))
    console.log(
      `${(drop * 100).toFixed(0)} % / ${minutes} min, seed ${seed} | ${f(a.netPnl)} (${a.liquidations}; ${sales} / ${f(pool)}), trips ${a.stopLossTrips} | ${f(t.netPnl)} (${t.liquidations}) | ${f(d.netPnl)} (${d.liquidations}) | ${f(a.netPnl - d.netPnl)} | ${f(bound)} (${first === undefined ? "-" : (first - T0) / 60})`,
    )
    if (values.verbose) for (const e of events) console.log(`  ${(e.time - T0) / 60} ${e.kind} ${e.healthBefore?.toFixed(4) ?? ""} -> ${e.healthAfter?.toFixed(4) ?? ""} ${e.detail}`)
  }
