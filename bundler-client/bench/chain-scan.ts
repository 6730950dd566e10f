/**
 * Random-chain scan for issue 13's rule (on any path where `threshold` is not liquidated, `autopilot` is not either):
 * helper bk58's random one-minute chains (`chainPath` in src/backtest/paths.testing.ts: six calm hours around 3,000,
 * then 1-4 segments of noisy falls, flats and spread gaps, then a gap), a seed range, run through `threshold` and
 * `autopilot` of each trader with `runBacktest`.
 *
 * Per trader it prints: liquidated paths per strategy, the autopilot-only seeds (autopilot liquidated, threshold not),
 * the autopilot's rejected operations and the sum of its final equity (USDC). Writes reports/<--out> (default
 * chain-scan.json) with one row per (trader, seed): each strategy's liquidations, min health, rejected operations and
 * final equity, so two runs (e.g. with and without a `--config` overlay) can be compared seed by seed.
 *
 * Usage: nice npx tsx --conditions=@levpilot/source bundler-client/bench/chain-scan.ts [--from N] [--to N]
 *   [--traders buffered,no-idle] [--config <json>] [--out name.json]. Seeds 1-2,600 take about 10 minutes a trader
 *   on one core; run two ranges in two processes to use two.
 */
import { resolveBacktestConfig, TRADERS } from "../src/backtest/config.js"
import type { BacktestConfig, StrategyName, TraderName } from "../src/backtest/config.js"
import { runBacktest } from "../src/backtest/engine.js"
import { chainPath } from "../src/backtest/paths.testing.js"
import { writeReport } from "./report.js"
import { BenchUsageError, decimalInteger, parseBenchOptions, readBenchCommandLine } from "./benchArgs.js"
import { readConfigOverlay, traderList } from "./suiteArgs.js"

const USAGE = `Usage: nice npx tsx --conditions=@levpilot/source bundler-client/bench/chain-scan.ts [options]

Options:
  --from N         first seed (a decimal integer >= 1; default 1)
  --to N           last seed (default 2600)
  --traders a,b    ${Object.keys(TRADERS).join(", ")}, a comma-separated list, or all (default all)
  --config <json>  a configuration overlay (inline JSON object or a file path), as backtest:suite's --config
  --out name.json  report file under reports/ (default chain-scan.json)
  --help           this text
`
/** The path's start (any fixed time: the chains are relative). */
const T0 = 1_700_000_000
const STRATEGIES: StrategyName[] = ["threshold", "autopilot"]

type ScanArgs = { from: number; to: number; traders: TraderName[]; config: Record<string, unknown>; out: string }

/** The scan's command line, checked: a bad value is a {@link BenchUsageError} naming the option. */
function parseScanArgs(argv: string[]): { help: true } | ({ help: false } & ScanArgs) {
  const values = parseBenchOptions(argv, {
    from: { type: "string", default: "1" },
    to: { type: "string", default: "2600" },
    traders: { type: "string" },
    config: { type: "string" },
    out: { type: "string", default: "chain-scan.json" },
  })
  if (values.help === true) return { help: true }
  const from = decimalInteger("from", values.from)
  const to = decimalInteger("to", values.to)
  if (to < from) throw new BenchUsageError(`--to (${to}) must be at least --from (${from})`)
  const out = values.out as string
  if (!/^[\w.-]+\.json$/.test(out)) throw new BenchUsageError(`--out must be a file name ending in .json (no folders), got "${out}"`)
  const traders = traderList("traders", values.traders)
  return { help: false, from, to, traders, config: readConfigOverlay(values.config, traders), out }
}

type Result = { liquidations: number; minHealth: number; rejected: number; finalEquity: number }
type Row = { trader: TraderName; seed: number; threshold: Result; autopilot: Result }

const { from, to, traders, config: override, out } = readBenchCommandLine("chain-scan", USAGE, parseScanArgs, process.argv.slice(2), "bundler-client/bench/chain-scan.ts --help")
const configs = Object.fromEntries(traders.map((t) => [t, resolveBacktestConfig(override, resolveBacktestConfig(TRADERS[t]))])) as Record<TraderName, BacktestConfig>
if (Object.keys(override).length > 0) console.log(`config override: ${JSON.stringify(override)}`)
const started = performance.now()
const fmt = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 })
const rows: Row[] = []
for (const trader of traders) {
  const config = configs[trader]
  const mine: Row[] = []
  for (let seed = from; seed <= to; seed++) {
    const path = chainPath(seed, T0)
    const [threshold, autopilot] = STRATEGIES.map((s) => {
      const r = runBacktest(path, config, s)
      return { liquidations: r.liquidations, minHealth: r.minHealth, rejected: r.rejectedRebalances, finalEquity: r.finalEquity }
    }) as [Result, Result]
    mine.push({ trader, seed, threshold, autopilot })
    if ((seed - from + 1) % 200 === 0) process.stderr.write(`  ${trader}: seed ${seed}, ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
  }
  rows.push(...mine)
  const only = mine.filter((r) => r.autopilot.liquidations > 0 && r.threshold.liquidations === 0).map((r) => r.seed)
  const liquidated = (s: "threshold" | "autopilot") => mine.filter((r) => r[s].liquidations > 0).length
  const sum = (f: (r: Row) => number) => mine.reduce((a, r) => a + f(r), 0)
  console.log(`trader ${trader}, seeds ${from}-${to} (${mine.length} chains)`)
  console.log(`  liquidated paths: autopilot ${liquidated("autopilot")}, threshold ${liquidated("threshold")}`)
  console.log(`  autopilot-only liquidations: ${only.length}${only.length > 0 ? ` (${only.join(", ")})` : ""}`)
  console.log(`  autopilot rejected operations: ${sum((r) => r.autopilot.rejected)}; final equity, sum: autopilot ${fmt(sum((r) => r.autopilot.finalEquity))}, threshold ${fmt(sum((r) => r.threshold.finalEquity))}`)
}
console.log(`${rows.length} (trader, seed) runs x ${STRATEGIES.length} strategies in ${((performance.now() - started) / 1000).toFixed(0)} s`)
console.log(`wrote ${writeReport(out, { benchmark: "chain-scan", date: new Date().toISOString(), from, to, config: override, rows })}`)
