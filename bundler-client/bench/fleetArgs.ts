import { BenchUsageError, decimalInteger, nonEmpty, parseBenchOptions } from "./benchArgs.js"

/** `npm run bench:fleet`'s options, checked: every field a value the bench can run (bundler-client/README.md, fleet mode). */
export type FleetArgs = {
  /** Fleet sizes, one run each per worker count (each >= 1, with at least one Safe at the edge). */
  sizes: number[]
  /** Worker node counts (each >= 1). */
  workerCounts: number[]
  /** Seconds per block of anvil's interval mining (integer >= 1). */
  blockTime: number
  /** Safes per lens `eth_call`. */
  batchSize: number
  /** Gas of each lens `eth_call`, decimal digits. */
  callGas: string
  /** Blocks without progress before a wait fails. */
  stallBlocks: number
  /** Blocks after the shock to wait for the last rebalance's inclusion. */
  inclusionBlocks: number
  /** The keeper's head polling interval, ms. */
  pollIntervalMs: number
  /** Share of the block time before the head poller polls (0 to 0.95, as `fleet.headWaitShare`). */
  headWaitShare: number
  /** The fleet's log level (pino). */
  logLevel: (typeof LOG_LEVELS)[number]
  /** Share of each fleet's Safes created at the edge, in (0, 1). */
  edgeShare: number
  /** Alto's executor keys (>= 1). */
  executors: number
  /** Alto's `--max-gas-per-bundle`, decimal digits; undefined: Alto's default. */
  maxBundleGas: string | undefined
  /** Alto's whole output to this file. */
  altoLog: string | undefined
  /** Keep Alto simulating the VerifyingPaymaster's pending operations (its default). */
  altoQueuePaymaster: boolean
  /** Worker nodes beyond the leader as OS processes of the CLI, or all in the bench's process. */
  workerMode: "processes" | "in-process"
  /** How worker processes' requests are counted. */
  workerCount: "in-worker" | "proxy"
  /** Worker processes' whole output to this file. */
  workerLog: string | undefined
  /** Report file name under reports/. */
  out: string
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const

/** The `--help` text. */
export const fleetUsage = `Usage: npm run bench:fleet -- [options]

The keeper fleet at scale on the devnet (anvil with interval mining, Alto, the paymaster, a redis-server on PATH): for
each fleet size and worker count, a steady block (scan time, JSON-RPC requests per block) and a price shock that puts
the edge Safes out of band (shock to last inclusion). Prints a table, writes reports/<out> (bundler-client/README.md,
"Fleet mode"). Minutes per run.

Options:
  --safes N,...             fleet sizes (default 1000,5000)
  --workers N,...           worker node counts (default 1,4)
  --block-time S            seconds per block, an integer (default 12)
  --batch-size N            Safes per lens eth_call (default 250)
  --call-gas G              gas of each lens eth_call (default 50000000)
  --poll-interval-ms MS     the keeper's head polling interval (default 250)
  --head-wait-share X       share of the block time before polling, 0 to 0.95 (default 0.8)
  --inclusion-blocks N      blocks after the shock to wait for the last inclusion (default 60)
  --stall-blocks N          blocks without progress before a wait fails (default 10)
  --edge-share X            share of Safes at the edge, above 0 and below 1 (default 0.1)
  --executors N             Alto's executor keys (default 16)
  --max-bundle-gas G        Alto's --max-gas-per-bundle (default Alto's)
  --alto-queue-paymaster    keep Alto simulating the paymaster's pending operations (its default; the bench ignores them)
  --alto-log FILE           Alto's whole output to FILE
  --log-level L             ${LOG_LEVELS.join(", ")} (default warn)
  --worker-mode M           processes (default: workers beyond the leader are levpilot keeper --worker-only
                            processes) or in-process
  --worker-count C          in-worker (default) or proxy: how worker processes' requests are counted
  --worker-log FILE         worker processes' whole output to FILE
  --out NAME                report file under reports/ (default fleet.json)
  --help                    this text
`

/** A comma-separated list of positive integers. */
function integerList(name: string, value: string): number[] {
  const items = value.split(",")
  return items.map((item) => {
    try {
      return decimalInteger(name, item.trim())
    } catch {
      throw new BenchUsageError(`--${name} must be a comma-separated list of positive integers, got "${value}"`)
    }
  })
}

/** A decimal number in the range `test` accepts. */
function fraction(name: string, value: string, test: (n: number) => boolean, range: string): number {
  const n = Number(value)
  if (!/^[0-9]*\.?[0-9]+$/.test(value) || !test(n)) throw new BenchUsageError(`--${name} must be a number ${range}, got "${value}"`)
  return n
}

/**
 * Reads `bench:fleet`'s command line, before anything is built or started.
 *
 * @param argv - The arguments after the script name (`process.argv.slice(2)`).
 * @returns `{ help: true }` for `--help`, else the checked {@link FleetArgs}.
 * @throws {BenchUsageError} An unknown option, a positional argument, a missing value, a count that is not a
 *   positive decimal integer (`--safes 0`, `--workers two`), a share out of range, an unknown log level, worker mode or
 *   count mode, or a fleet too small to have a Safe at the edge: the message names the option and the value.
 */
export function parseFleetArgs(argv: string[]): { help: true } | ({ help: false } & FleetArgs) {
  const values: Record<string, string | boolean | undefined> = parseBenchOptions(argv, {
    safes: { type: "string", default: "1000,5000" },
    workers: { type: "string", default: "1,4" },
    "block-time": { type: "string", default: "12" },
    "batch-size": { type: "string", default: "250" },
    "call-gas": { type: "string", default: "50000000" },
    "stall-blocks": { type: "string", default: "10" },
    "inclusion-blocks": { type: "string", default: "60" },
    "poll-interval-ms": { type: "string", default: "250" },
    "head-wait-share": { type: "string", default: "0.8" },
    "log-level": { type: "string", default: "warn" },
    "edge-share": { type: "string", default: "0.1" },
    executors: { type: "string", default: "16" },
    "max-bundle-gas": { type: "string" },
    "alto-log": { type: "string" },
    "alto-queue-paymaster": { type: "boolean" },
    "worker-mode": { type: "string", default: "processes" },
    "worker-log": { type: "string" },
    "worker-count": { type: "string", default: "in-worker" },
    out: { type: "string", default: "fleet.json" },
  })
  if (values.help === true) return { help: true }
  const s = (name: string) => values[name] as string
  const sizes = integerList("safes", s("safes"))
  const workerCounts = integerList("workers", s("workers"))
  const edgeShare = fraction("edge-share", s("edge-share"), (n) => n > 0 && n < 1, "above 0 and below 1")
  for (const size of sizes)
    if (Math.round(size * edgeShare) < 1) throw new BenchUsageError(`--safes ${size} with --edge-share ${edgeShare} puts no Safe at the edge: the shock would have nothing to rebalance`)
  const logLevel = s("log-level")
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new BenchUsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`)
  const workerMode = s("worker-mode")
  if (workerMode !== "processes" && workerMode !== "in-process") throw new BenchUsageError(`--worker-mode must be processes or in-process, got "${workerMode}"`)
  const workerCount = s("worker-count")
  if (workerCount !== "in-worker" && workerCount !== "proxy") throw new BenchUsageError(`--worker-count must be in-worker or proxy, got "${workerCount}"`)
  const maxBundleGas = values["max-bundle-gas"] === undefined ? undefined : String(decimalInteger("max-bundle-gas", s("max-bundle-gas")))
  return {
    help: false,
    sizes,
    workerCounts,
    blockTime: decimalInteger("block-time", s("block-time")),
    batchSize: decimalInteger("batch-size", s("batch-size")),
    callGas: String(decimalInteger("call-gas", s("call-gas"))),
    stallBlocks: decimalInteger("stall-blocks", s("stall-blocks")),
    inclusionBlocks: decimalInteger("inclusion-blocks", s("inclusion-blocks")),
    pollIntervalMs: decimalInteger("poll-interval-ms", s("poll-interval-ms")),
    headWaitShare: fraction("head-wait-share", s("head-wait-share"), (n) => n >= 0 && n <= 0.95, "from 0 to 0.95"),
    logLevel: logLevel as FleetArgs["logLevel"],
    edgeShare,
    executors: decimalInteger("executors", s("executors")),
    maxBundleGas,
    altoLog: nonEmpty("alto-log", values["alto-log"] as string | undefined),
    altoQueuePaymaster: values["alto-queue-paymaster"] === true,
    workerMode,
    workerCount,
    workerLog: nonEmpty("worker-log", values["worker-log"] as string | undefined),
    out: nonEmpty("out", s("out")) as string,
  }
}
