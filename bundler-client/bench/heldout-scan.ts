/**
 * Held-out stress scan for issue 13's rules (helper hs49): path shapes the scorecard's families do not have, built from
 * the backtester's own generator (`generatePath`'s GBM diffusion, spliced across volatility levels) plus seeded
 * log-price events (wicks, gaps, grinds, rallies), run through every strategy of both traders with `runBacktest`.
 *
 * Per shape and trader it prints: liquidated paths per strategy, autopilot-only liquidations (autopilot liquidated where
 * threshold, or dfs-style, was not), the lowest health, the mean net P&L per path, and the count of non-finite metrics
 * (leverage mean / median / p95, equity, P&L, APY, losses: issue 13's "metrics stable near liquidation").
 *
 * Usage: nice npx tsx --conditions=@levpilot/source bundler-client/bench/heldout-scan.ts [--seeds N] [--shapes a,b]
 *   [--traders buffered,no-idle] [--config <json>]. `--config` takes a JSON object (inline, or a file path) overlaid on
 *   each trader's configuration by `resolveBacktestConfig` (the --policy file's format: objects merge key by key,
 *   unknown keys are refused; read by suiteArgs.ts's `readConfigOverlay`, as `backtest:suite --config`: a refused one
 *   exits 2 naming the key), e.g. `--config '{"policy":{"stopPrice":0.75,"exitHealth":1.71}}'` (an on-chain stop at
 *   75 % of the first price; `strategyPolicy` gives it to the autopilot only). Writes reports/heldout-scan.json.
 */
import { resolveBacktestConfig, TRADERS } from "../src/backtest/config.js"
import type { BacktestConfig, StrategyName, TraderName } from "../src/backtest/config.js"
import { runBacktest } from "../src/backtest/engine.js"
import type { StrategyResult } from "../src/backtest/engine.js"
import { SHAPES } from "./heldoutShapes.js"
import { writeReport } from "./report.js"
import { BenchUsageError, decimalInteger, parseBenchOptions, readBenchCommandLine } from "./benchArgs.js"
import { readConfigOverlay, traderList } from "./suiteArgs.js"


const USAGE = `Usage: nice npx tsx --conditions=@levpilot/source bundler-client/bench/heldout-scan.ts [options]

Options:
  --seeds N        paths per shape (issueShape: twice as many; default 12)
  --base N         first seed (a decimal integer; default 49000)
  --shapes a,b     shapes to run (default every one): ${SHAPES.map((s) => s.name).join(", ")}
  --traders a,b    ${Object.keys(TRADERS).join(", ")}, a comma-separated list, or all (default all)
  --config <json>  a configuration overlay (inline JSON object or a file path), as backtest:suite's --config
  --help           this text
`

type ScanArgs = { seeds: number; base: number; shapes: string[]; traders: TraderName[]; config: Record<string, unknown> }

/** The scan's command line, checked ({@link parseBenchOptions}): a bad value is a {@link BenchUsageError} naming the option. */
function parseScanArgs(argv: string[]): { help: true } | ({ help: false } & ScanArgs) {
  const values = parseBenchOptions(argv, {
    seeds: { type: "string", default: "12" },
    base: { type: "string", default: "49000" },
    shapes: { type: "string" },
    traders: { type: "string" },
    config: { type: "string" },
  })
  if (values.help === true) return { help: true }
  const shapes = values.shapes?.split(",") ?? SHAPES.map((s) => s.name)
  for (const s of shapes) if (!SHAPES.some((x) => x.name === s)) throw new BenchUsageError(`unknown shape "${s}" in --shapes (use ${SHAPES.map((x) => x.name).join(", ")})`)
  const traders = traderList("traders", values.traders)
  const seeds = decimalInteger("seeds", values.seeds)
  const base = decimalInteger("base", values.base, "any")
  return { help: false, seeds, base, shapes, traders, config: readConfigOverlay(values.config, traders) }
}

/** Fields of a result that must be finite numbers (leverage median / p95 may be Infinity only at a step with equity <= 0, which is flagged too). */
function nonFinite(r: StrategyResult): string[] {
  const fields: [string, number][] = [
    ["leverage.mean", r.leverage.mean],
    ["leverage.median", r.leverage.median],
    ["leverage.p95", r.leverage.p95],
    ["minHealth", r.minHealth],
    ["finalEquity", r.finalEquity],
    ["netPnl", r.netPnl],
    ["apy", r.apy ?? 0], // null: a path under a day (no APY), not a fault
    ["liquidationLoss", r.liquidationLoss],
    ["liquidationLossLikeForLike", r.liquidationLossLikeForLike],
    ["exposure", r.exposure],
  ]
  return fields.filter(([, v]) => !Number.isFinite(v)).map(([k]) => k)
}

type Row = { shape: string; trader: TraderName; seed: number; index: number; detail: string; results: StrategyResult[] }

const { seeds, base, shapes, traders, config: override } = readBenchCommandLine("heldout-scan", USAGE, parseScanArgs, process.argv.slice(2), "bundler-client/bench/heldout-scan.ts --help")
const configs = Object.fromEntries(traders.map((t) => [t, resolveBacktestConfig(override, resolveBacktestConfig(TRADERS[t]))])) as Record<TraderName, BacktestConfig>
if (Object.keys(override).length > 0) console.log(`config override: ${JSON.stringify(override)}`)
const rows: Row[] = []
const started = performance.now()
const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
const pad = (s: string, n: number) => s.padStart(n)
for (const shape of SHAPES.filter((s) => shapes.includes(s.name))) {
  const n = shape.paths(seeds)
  console.log(`\n${shape.name}: ${shape.what}; ${n} paths per trader, seeds ${base}..${base + n - 1}`)
  for (const trader of traders) {
    const config = configs[trader]
    const mine: Row[] = []
    for (let i = 0; i < n; i++) {
      const seed = base + i
      const { path, detail } = shape.build(seed, i)
      const results = config.strategies.map((s) => runBacktest(path, config, s))
      mine.push({ shape: shape.name, trader, seed, index: i, detail, results })
    }
    rows.push(...mine)
    const by = (row: Row, s: StrategyName) => row.results.find((r) => r.strategy === s) as StrategyResult
    console.log(`  trader ${trader}`)
    console.log(`    ${"strategy".padEnd(10)}${pad("liq. paths", 11)}${pad("min health", 11)}${pad("mean net P&L", 14)}${pad("lev. mean", 10)}${pad("p95 max", 9)}${pad("non-finite", 11)}`)
    for (const s of config.strategies) {
      const rs = mine.map((row) => by(row, s))
      const bad = rs.reduce((a, r) => a + nonFinite(r).length, 0)
      const finite = (xs: number[]) => xs.filter(Number.isFinite)
      console.log(
        `    ${s.padEnd(10)}${pad(String(rs.filter((r) => r.liquidations > 0).length), 11)}${pad(Math.min(...rs.map((r) => r.minHealth)).toFixed(3), 11)}${pad(fmt(rs.reduce((a, r) => a + r.netPnl, 0) / rs.length), 14)}${pad((finite(rs.map((r) => r.leverage.mean)).reduce((a, b) => a + b, 0) / rs.length).toFixed(2), 10)}${pad(Math.max(...finite(rs.map((r) => r.leverage.p95))).toFixed(2), 9)}${pad(String(bad), 11)}`,
      )
    }
    const onlyVs = (other: StrategyName) => mine.filter((row) => by(row, "autopilot").liquidations > 0 && by(row, other).liquidations === 0)
    const vsThreshold = onlyVs("threshold")
    const vsDfs = onlyVs("dfs-style")
    const thresholdOnly = mine.filter((row) => by(row, "threshold").liquidations > 0 && by(row, "autopilot").liquidations === 0).length
    const pnlBelowDfs = mine.filter((row) => by(row, "autopilot").netPnl < by(row, "dfs-style").netPnl).length
    const meanDiff = mine.reduce((a, row) => a + by(row, "autopilot").netPnl - by(row, "dfs-style").netPnl, 0) / mine.length
    console.log(`    autopilot-only liquidations: vs threshold ${vsThreshold.length}${vsThreshold.length ? ` (seeds ${vsThreshold.map((r) => `${r.seed}: ${r.detail}`).join("; ")})` : ""}, vs dfs-style ${vsDfs.length}${vsDfs.length ? ` (seeds ${vsDfs.map((r) => r.seed).join(", ")})` : ""}; threshold liquidated where autopilot was not: ${thresholdOnly}`)
    console.log(`    autopilot net P&L - dfs-style's: mean ${fmt(meanDiff)} per path; below dfs-style on ${pnlBelowDfs}/${mine.length} paths`)
    const unstable = mine.flatMap((row) => row.results.filter((r) => nonFinite(r).length > 0).map((r) => `${row.seed} ${r.strategy}: ${nonFinite(r).join(",")}`))
    if (unstable.length > 0) console.log(`    NON-FINITE METRICS: ${unstable.join("; ")}`)
    process.stderr.write(`  ${shape.name} ${trader}: ${n} paths, ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
  }
}
const onlyThreshold = rows.filter((row) => {
  const a = row.results.find((r) => r.strategy === "autopilot")
  const t = row.results.find((r) => r.strategy === "threshold")
  return a !== undefined && t !== undefined && a.liquidations > 0 && t.liquidations === 0
})
console.log(`\n${rows.length} (shape, trader, seed) runs x ${Object.values(configs)[0]?.strategies.length ?? 0} strategies in ${((performance.now() - started) / 1000).toFixed(0)} s; autopilot liquidated where threshold was not: ${onlyThreshold.length === 0 ? "none" : onlyThreshold.map((r) => `${r.shape}/${r.trader}/${r.seed}`).join(", ")}`)
console.log(
  `wrote ${writeReport("heldout-scan.json", {
    benchmark: "heldout-scan",
    date: new Date().toISOString(),
    seeds,
    base,
    config: override,
    rows: rows.map((r) => ({ shape: r.shape, trader: r.trader, seed: r.seed, detail: r.detail, results: r.results.map((x) => ({ strategy: x.strategy, liquidations: x.liquidations, minHealth: x.minHealth, netPnl: x.netPnl, leverage: x.leverage, liquidationLoss: x.liquidationLoss })) })),
  })}`,
)
