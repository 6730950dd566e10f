import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { networkOverride, resolveBacktestConfig, TRADERS } from "../src/backtest/config.js"
import type { BacktestConfig, TraderName } from "../src/backtest/config.js"
import { GAS_MARKETS } from "../src/backtest/carry.js"
import { formatScorecard } from "../src/backtest/report.js"
import { runSuitePaths, summarizeSuite } from "../src/backtest/suite.js"
import type { PathResults, RunSuiteParameters, SuiteResult } from "../src/backtest/suite.js"
import { SCENARIO_KINDS } from "../src/prices/generator.js"
import type { ScenarioKind } from "../src/prices/generator.js"
import { writeReport } from "./report.js"

/** Worker threads do not inherit tsx's loader: each one loads this file through tsx's API. */
const WORKER_BOOT = `import("tsx/esm/api").then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`

type Job = { trader: TraderName; network: keyof typeof GAS_MARKETS; count: number; baseSeed: number; kinds: ScenarioKind[]; worker: number; workers: number }

function parameters(job: Job): RunSuiteParameters {
  const config: BacktestConfig = resolveBacktestConfig({ ...TRADERS[job.trader], ...networkOverride(job.network) })
  return { count: job.count, baseSeed: job.baseSeed, config, kinds: job.kinds, select: (i) => i % job.workers === job.worker }
}

if (!isMainThread) {
  const job = workerData as Job
  const results = runSuitePaths({ ...parameters(job), onProgress: (done) => parentPort?.postMessage({ type: "progress", done }) })
  parentPort?.postMessage({ type: "done", results })
} else {
  const defaultWorkers = String(Math.max(1, Math.min(availableParallelism(), 4)))
  const usage = `Usage: npm run backtest:suite -- [options]

The scorecard: generated price paths per scenario family, static vs threshold vs dfs-style vs autopilot, for each trader;
prints one table per trader and writes reports/backtest-suite.json (bundler-client/README.md, "Scorecard").

Options:
  --paths N      paths in all, spread evenly over the families (default 1100)
  --seed N       seed of the first path; path i uses seed + i (default 1000)
  --trader T     ${Object.keys(TRADERS).join(", ")}, a comma-separated list, or all (default all)
  --network N    gas market: ${Object.keys(GAS_MARKETS).join(", ")} (default mainnet)
  --kinds K,...  families to run (default every one): ${SCENARIO_KINDS.join(", ")}
  --workers N    worker threads (default ${defaultWorkers}: the machine's cores, at most 4)
  --help         this text
`
  let values: { paths: string; seed: string; trader: string; network: string; kinds?: string | undefined; workers: string; help?: boolean | undefined }
  try {
    ;({ values } = parseArgs({
      options: {
        paths: { type: "string", default: "1100" },
        seed: { type: "string", default: "1000" },
        trader: { type: "string", default: "all" },
        network: { type: "string", default: "mainnet" },
        kinds: { type: "string" },
        workers: { type: "string", default: defaultWorkers },
        help: { type: "boolean" },
      },
    }))
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(usage)
    process.exit(0)
  }
  const count = Number(values.paths)
  const baseSeed = Number(values.seed)
  const workers = Number(values.workers)
  if (!Number.isInteger(count) || count <= 0) throw new Error(`--paths must be a positive integer (got "${values.paths}")`)
  if (!Number.isInteger(baseSeed)) throw new Error(`--seed must be an integer (got "${values.seed}")`)
  if (!Number.isInteger(workers) || workers <= 0) throw new Error(`--workers must be a positive integer (got "${values.workers}")`)
  const traders = (values.trader === "all" ? Object.keys(TRADERS) : (values.trader as string).split(",")) as TraderName[]
  for (const t of traders) if (!(t in TRADERS)) throw new Error(`unknown --trader "${t}" (use ${Object.keys(TRADERS).join(", ")} or all)`)
  const network = values.network as keyof typeof GAS_MARKETS
  if (!(network in GAS_MARKETS)) throw new Error(`unknown --network "${network}" (use ${Object.keys(GAS_MARKETS).join(", ")})`)
  const kinds = (values.kinds?.split(",") ?? [...SCENARIO_KINDS]) as ScenarioKind[]
  for (const k of kinds) if (!SCENARIO_KINDS.includes(k)) throw new Error(`unknown kind "${k}" in --kinds (use ${SCENARIO_KINDS.join(", ")})`)

  const report: Record<string, { config: BacktestConfig; suite: SuiteResult }> = {}
  for (const trader of traders) {
    const started = performance.now()
    const jobs: Job[] = Array.from({ length: workers }, (_, worker) => ({ trader, network, count, baseSeed, kinds, worker, workers }))
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
        `backtest scorecard, trader "${trader}", ${network} gas: ${count} paths (${Math.floor(count / kinds.length)} per family), seeds ${baseSeed}..${baseSeed + count - 1}, 3 days at 1-minute steps.\n` +
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
  console.log(`wrote ${writeReport("backtest-suite.json", { benchmark: "backtest-suite", date: new Date().toISOString(), network, paths: count, baseSeed, traders: report })}`)
}
