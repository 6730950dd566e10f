import { parseArgs } from "node:util"
import { resolveBacktestConfig } from "../src/backtest/config"
import { formatStrategyTable } from "../src/backtest/report"
import { runSuite } from "../src/backtest/suite"
import { writeReport } from "./report"

const { values } = parseArgs({ options: { paths: { type: "string", default: "1000" }, seed: { type: "string", default: "1000" } } })
const count = Number(values.paths)
const baseSeed = Number(values.seed)
const config = resolveBacktestConfig()
let lastPrinted = 0
const suite = runSuite({
  count,
  baseSeed,
  config,
  onProgress: (done, total) => {
    if (done - lastPrinted >= Math.max(1, Math.floor(total / 10)) || done === total) {
      lastPrinted = done
      process.stderr.write(`  ${done}/${total} paths\n`)
    }
  },
})
console.log(formatStrategyTable(suite.totals, `backtest suite: ${count} generated paths, seeds ${baseSeed}..${baseSeed + count - 1}, 3 days at 1-minute steps, default scenario (bundler-client/README.md)`))
for (const [kind, rows] of Object.entries(suite.byKind)) console.log(formatStrategyTable(rows, `scenario ${kind}`))
const c = suite.comparison
if (c !== undefined) {
  console.log(`autopilot liquidation loss <= threshold's: ${c.lossAtMostThreshold ? "yes" : "NO"}`)
  console.log(`autopilot time-averaged leverage / threshold's: ${c.leverageRatio.toFixed(3)} (target >= 1.15: ${c.leverageAtLeast15PercentHigher ? "yes" : "NO"})`)
}
console.log(`elapsed ${(suite.elapsedMs / 1000).toFixed(1)} s`)
console.log(`wrote ${writeReport("backtest-suite.json", { benchmark: "backtest-suite", date: new Date().toISOString(), config, suite })}`)
