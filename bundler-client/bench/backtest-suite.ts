import { availableParallelism } from "node:os"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { networkOverride, resolveBacktestConfig, TRADERS } from "../src/backtest/config.js"
import type { BacktestConfig, TraderName } from "../src/backtest/config.js"
import { GAS_MARKETS } from "../src/backtest/carry.js"
import { formatScorecard } from "../src/backtest/report.js"
import { runSuitePaths, summarizeSuite } from "../src/backtest/suite.js"
import type { PathResults, RunSuiteParameters, SuiteResult } from "../src/backtest/suite.js"
import { pathAtStep } from "../src/prices/generator.js"
import type { ScenarioKind } from "../src/prices/generator.js"
import { writeReport } from "./report.js"
import { parseSuiteArgs, pathsPerFamily, stepLabel, suiteUsage } from "./suiteArgs.js"
import { readBenchCommandLine } from "./benchArgs.js"

/** Worker threads do not inherit tsx's loader: each one loads this file through tsx's API. */
const WORKER_BOOT = `import("tsx/esm/api").then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`

type Job = { trader: TraderName; network: keyof typeof GAS_MARKETS; count: number; baseSeed: number; kinds: ScenarioKind[]; config: Record<string, unknown>; stepSeconds: number; worker: number; workers: number }

function parameters(job: Job): RunSuiteParameters {
  // --config's overlay last, on the trader's configuration with the network's gas (parseSuiteArgs checked it the same way).
  const config: BacktestConfig = resolveBacktestConfig(job.config, resolveBacktestConfig({ ...TRADERS[job.trader], ...networkOverride(job.network) }))
  return { count: job.count, baseSeed: job.baseSeed, config, kinds: job.kinds, path: pathAtStep(job.stepSeconds), select: (i) => i % job.workers === job.worker }
}

if (!isMainThread) {
  const job = workerData as Job
  const results = runSuitePaths({ ...parameters(job), onProgress: (done) => parentPort?.postMessage({ type: "progress", done }) })
  parentPort?.postMessage({ type: "done", results })
} else {
  const defaultWorkers = Math.max(1, Math.min(availableParallelism(), 4))
  // A usage error: one line naming the option, no stack (exit 2, as levpilot's CLI); --help: the usage, exit 0.
  const args = readBenchCommandLine("backtest:suite", suiteUsage(defaultWorkers), (argv) => parseSuiteArgs(argv, defaultWorkers))
  const { count, baseSeed, workers, traders, network, kinds, config, stepSeconds } = args
  const overlaid = Object.keys(config).length > 0 ? `, --config ${JSON.stringify(config)}` : ""

  const report: Record<string, { config: BacktestConfig; suite: SuiteResult }> = {}
  for (const trader of traders) {
    const started = performance.now()
    const jobs: Job[] = Array.from({ length: workers }, (_, worker) => ({ trader, network, count, baseSeed, kinds, config, stepSeconds, worker, workers }))
    const done = new Array<number>(workers).fill(0)
    let printed = 0
    const parts = await Promise.all(
      jobs.map(
        (job) =>
          new Promise<PathResults[]>((resolve, reject) => {
            const w = new Worker(WORKER_BOOT, { eval: true, workerData: job })
            w.on("message", (m: { type: "progress"; done: number } | { type: "done"; results: PathResults[] }) => {
              if (m.type === "done") return resolve(m.results)
              done[job.worker] = m.done
              const total = done.reduce((a, b) => a + b, 0)
              if (total - printed >= Math.max(1, Math.floor(count / 10)) || total === count) {
                printed = total
                process.stderr.write(`  ${trader}: ${total}/${count} paths\n`)
              }
            })
            w.on("error", reject)
            w.on("exit", (code) => code !== 0 && reject(new Error(`worker ${job.worker} exited with code ${code}`)))
          }),
      ),
    )
    const params = parameters({ ...(jobs[0] as Job), worker: 0, workers: 1 })
    const suite = summarizeSuite(params, parts.flat(), performance.now() - started)
    report[trader] = { config: params.config, suite }
    console.log(
      formatScorecard(
        suite.byKind,
        suite.totals,
        `backtest scorecard, trader "${trader}", ${network} gas: ${count} paths (${pathsPerFamily(count, kinds)}), seeds ${baseSeed}..${baseSeed + count - 1}, 3 days at ${stepLabel(stepSeconds)}${overlaid}.\n` +
          "liq. loss (against the same strategy replayed without liquidations, no operation below health 1: liquidator first), like-for-like (the seized collateral's missed recovery) and the carry columns (interest .. gas) are sums over the family's paths; net P&L and APY are means per path (bundler-client/README.md, Metrics)",
      ),
    )
    const c = suite.comparison
    if (c !== undefined) {
      const failed = (m: Partial<Record<string, boolean>>) => Object.entries(m).filter(([, ok]) => !ok).map(([k]) => k).join(", ")
      console.log(`autopilot liquidation loss <= dfs-style's on every family: ${c.lossAtMostDfsEveryFamily ? "yes" : `NO (${failed(c.lossAtMostDfs)})`}`)
      console.log(`  like for like (seized collateral's missed recovery): ${c.likeForLikeLossAtMostDfsEveryFamily ? "yes" : `NO (${failed(c.likeForLikeLossAtMostDfs)})`}`)
      console.log(`autopilot net P&L >= dfs-style's overall: ${c.netPnlAtLeastDfs ? "yes" : "NO"}`)
      const only = Object.entries(c.autopilotOnlyLiquidations).filter(([, n]) => (n ?? 0) > 0)
      console.log(`paths where autopilot was liquidated and threshold was not: ${only.length === 0 ? "none" : only.map(([k, n]) => `${k} ${n}`).join(", ")}`)
    }
    console.log(`elapsed ${(suite.elapsedMs / 1000).toFixed(1)} s on ${workers} worker thread(s)\n`)
  }
  console.log(`wrote ${writeReport("backtest-suite.json", { benchmark: "backtest-suite", date: new Date().toISOString(), network, paths: count, baseSeed, stepSeconds, config, traders: report })}`)
}
