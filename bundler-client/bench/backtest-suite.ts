import { parseArgs } from "node:util"
import { networkOverride, resolveBacktestConfig, TRADERS } from "../src/backtest/config"
import type { TraderName } from "../src/backtest/config"
import { formatScorecard } from "../src/backtest/report"
import { runSuite } from "../src/backtest/suite"
import type { SuiteResult } from "../src/backtest/suite"
import { GAS_MARKETS } from "../src/backtest/carry"
import { SCENARIO_KINDS } from "../src/prices/generator"
import type { ScenarioKind } from "../src/prices/generator"
import { writeReport } from "./report"

const { values } = parseArgs({
  options: {
    paths: { type: "string", default: "900" },
    seed: { type: "string", default: "1000" },
    trader: { type: "string", default: "all" },
    network: { type: "string", default: "mainnet" },
    kinds: { type: "string" },
  },
})
const count = Number(values.paths)
const baseSeed = Number(values.seed)
if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(baseSeed)) throw new Error("--paths must be a positive integer and --seed an integer")
const traders = (values.trader === "all" ? Object.keys(TRADERS) : (values.trader as string).split(",")) as TraderName[]
for (const t of traders) if (!(t in TRADERS)) throw new Error(`unknown --trader "${t}" (use ${Object.keys(TRADERS).join(", ")} or all)`)
const network = values.network as keyof typeof GAS_MARKETS
if (!(network in GAS_MARKETS)) throw new Error(`unknown --network "${network}" (use ${Object.keys(GAS_MARKETS).join(", ")})`)
const kinds = (values.kinds?.split(",") ?? SCENARIO_KINDS) as ScenarioKind[]
for (const k of kinds) if (!SCENARIO_KINDS.includes(k)) throw new Error(`unknown kind "${k}" in --kinds (use ${SCENARIO_KINDS.join(", ")})`)

const report: Record<string, { config: ReturnType<typeof resolveBacktestConfig>; suite: SuiteResult }> = {}
for (const trader of traders) {
  const config = resolveBacktestConfig({ ...TRADERS[trader], ...networkOverride(network) })
  let lastPrinted = 0
  const suite = runSuite({
    count,
    baseSeed,
    config,
    kinds,
    onProgress: (done, total) => {
      if (done - lastPrinted >= Math.max(1, Math.floor(total / 10)) || done === total) {
        lastPrinted = done
        process.stderr.write(`  ${trader}: ${done}/${total} paths\n`)
      }
    },
  })
  report[trader] = { config, suite }
  const perFamily = Math.floor(count / kinds.length)
  console.log(
    formatScorecard(
      suite.byKind,
      suite.totals,
      `backtest scorecard, trader "${trader}", ${network} gas: ${count} paths (about ${perFamily} per family), seeds ${baseSeed}..${baseSeed + count - 1}, 3 days at 1-minute steps. ` +
        "liq. loss and carry columns: sums over the family's paths; net P&L, APY: means per path (bundler-client/README.md, Metrics)",
    ),
  )
  const c = suite.comparison
  if (c !== undefined) {
    const failed = Object.entries(c.lossAtMostDfs).filter(([, ok]) => !ok).map(([k]) => k)
    console.log(`autopilot liquidation loss <= dfs-style's on every family: ${c.lossAtMostDfsEveryFamily ? "yes" : `NO (${failed.join(", ")})`}`)
    console.log(`autopilot net P&L >= dfs-style's overall: ${c.netPnlAtLeastDfs ? "yes" : "NO"}`)
    const only = Object.entries(c.autopilotOnlyLiquidations).filter(([, n]) => (n ?? 0) > 0)
    console.log(`paths where autopilot was liquidated and threshold was not: ${only.length === 0 ? "none" : only.map(([k, n]) => `${k} ${n}`).join(", ")}`)
  }
  console.log(`elapsed ${(suite.elapsedMs / 1000).toFixed(1)} s\n`)
}
console.log(`wrote ${writeReport("backtest-suite.json", { benchmark: "backtest-suite", date: new Date().toISOString(), network, paths: count, baseSeed, traders: report })}`)
