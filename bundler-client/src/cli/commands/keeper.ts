import { parseArgs } from "node:util"
import { type Logger, pino } from "pino"
import { CliUsageError } from "../command.js"
import type { Command } from "../command.js"
import { type KeeperConfig, readKeeperConfig } from "../../keeper/config.js"
import type { KeeperEvent } from "../../keeper/events.js"
import { defaultFleetSettings } from "../../keeper/fleet/config.js"
import { FleetKeeper } from "../../keeper/fleet/fleetKeeper.js"
import { FleetNode } from "../../keeper/fleet/queueNode.js"
import { Keeper } from "../../keeper/keeper.js"

const HELP = `Usage: levpilot keeper --config <file.json> [--dry-run] [--once [--timeout <seconds>]]
       levpilot keeper --config <file.json> --mode fleet [--redis <url>] [--worker-only] [--dry-run]

Watches new blocks (and so oracle updates), solves every configured Safe, sends each plan as a keeper
UserOperation (executeRebalance) through the bundler, sponsored by the ERC-7677 paymaster, and tracks
its inclusion. Logs are JSON lines (pino) on stdout; metrics in the Prometheus text format on
http://<metricsHost>:<metricsPort>/metrics. Stops cleanly on Ctrl-C / SIGTERM.

Options:
  --config <file>   Keeper configuration (JSON), fields below. Errors name the field.
  --dry-run         Print each plan (JSON line {"safe","block","plan"}) instead of sending it; nothing
                    is signed or sent. With --once a Safe without a plan prints "plan": null and the
                    solver's reasons. In fleet mode the node works on its own Redis namespace
                    (<prefix>-dry-run), never on the production fleet's queues.
  --once            One pass over the Safes at the latest block; without --dry-run, wait until every
                    operation sent is included (resubmitting when due), then exit: 0 when every Safe
                    needed nothing or its operation was included and succeeded, 1 otherwise.
  --timeout <s>     With --once, how long to wait for inclusion (default 120 s).
  --mode <m>        embedded (default): everything in this process, nothing to install (the Safes of
                    "safes", or with "discovery" / "fleet" set every Safe found, read in batches).
                    fleet: one node of the BullMQ + Redis fleet (fleet.queue); start as many as needed,
                    on any machines, with the same configuration. Default: fleet when fleet.queue is set.
  --redis <url>     Fleet mode on this Redis (redis:// or rediss://), overriding fleet.queue.redisUrl.
  --worker-only     Fleet mode: run jobs but never lead (never follow the head or run discovery).
  -h, --help        Show this help.

Configuration fields:
  rpcUrl, bundlerUrl          required, http(s) URLs
  paymasterUrl                ERC-7677 paymaster service (optional); paymasterContext is passed as is
  paymasterPriceMarginBps     room over an ERC-20 paymaster's pre-charge for a lower refreshed price, bps (1000)
  keeperPrivateKey            the keeper session key the Safes registered with addKeeper, or
  keeperPrivateKeyEnv         the name of an environment variable holding it
  deployment                  { entryPoint?, leverageModule, morphoBlueAdapter, aaveV3Adapter?, multicall3? }
                              (a sub-account's venue, morpho-blue or aave-v3, is the adapter its policy names;
                              metrics, logs and alerts carry it)
  safes                       [ "0xSafe" | { address, risk? } ]
  risk                        { tolerance 0.01, horizon 86400 s, sigma 0.8, mode "autopilot"|"threshold",
                                volatility { estimator "ewma"|"fixed", lambda 0.94, minSamples 10,
                                             floor 0.05, maxIntervalSeconds 3600 } }
                              sigma is the prior of the live EWMA volatility estimate from the oracle
                              prices the keeper observes (and its floor until minSamples updates);
                              safes[i].risk overrides any of these per Safe
  allowSelfPay                false: when the paymaster refuses, alert instead of letting the Safe pay
                              (never when the Safe requires a paymaster on chain)
  pollIntervalMs 250, resubmitAfterBlocks 4, feeBumpPercent 20, retry { baseMs 250, maxMs 8000 }
  stallAfterBlocks            alert "stalled" when an operation stays in flight this many blocks at the
                              chain's nonce (default 3 x resubmitAfterBlocks)
  logWindowBlocks 2000        widest eth_getLogs range the keeper asks for (hosted RPCs refuse ~10,000)
  stateFile                   where the in-flight operation per Safe is persisted (restarts), bound to
                              the chain, EntryPoint, module and keeper key; a snapshot per block, with
                              <stateFile>.journal.<n>, <stateFile>.tmp and <stateFile>.lock beside it.
                              One keeper per file: a keeper takes <stateFile>.lock (its pid) at start
                              and removes it at exit; a second keeper on the file exits 1 naming the
                              holder's pid (a lock of a process no longer running is taken over).
                              --dry-run reads the file, writes nothing and takes no lock
  metricsPort, metricsHost    Prometheus endpoint (off without metricsPort; 127.0.0.1 by default)
  costs                       { gasPriceGwei 1, nativePrice 3000 } for the solver's cost model
  logLevel                    trace|debug|info|warn|error|fatal|silent (info)
  discovery                   { fromBlock, logWindow 2000, reorgDepth 64 }: serve every Safe that registered
                              the keeper key (module events from fromBlock, logWindow blocks per eth_getLogs);
                              "safes" then only overrides risk settings per Safe
  allowlist                   [ "0xSafe", ... ]: serve only these Safes
  fleet                       { batchSize 200, readConcurrency 4, stepConcurrency 32, sendConcurrency 32, refreshEveryBlocks 50,
                                callGas, headWaitShare 0.8,
                                queue { redisUrl, prefix "levpilot", leaseMs 30000, workerConcurrency 32 } }
  webhook                     { url, events ["alert","included"], maxAttempts 6, backoffMs 500, timeoutMs 5000,
                                secretEnv }: JSON POST per alert and rebalance, retried with backoff,
                              signed (x-levpilot-signature: sha256=<HMAC>) when secretEnv names a secret
  swap                        { quoter, fee 500, fees [fee], repayment "sale-minimum" } (optional): the
                              Uniswap v3 QuoterV2 of the module's swap adapter, the one-pool fee tier and
                              every tier a rescue's sale may be split across; with it, sub-accounts whose
                              policy sets maxSlippageBps are rescued (and boosted) by swaps. Without it the
                              keeper never plans a swap. repayment: "sale-minimum" sends a Morpho rescue's
                              callback in the module's sale-minimum repayment mode (it repays the sale's
                              on-chain minimum at inclusion), "amount" the fixed take; Aave: the fixed take
  aaveDustThresholdBase       100000000 (1 USD in Aave's base currency, 8 decimals): an Aave collateral
                              reserve outside the Safe's markets worth less is dust (alert
                              aave-dust-collateral)
`

/** `levpilot keeper`: the keeper daemon against any RPC, bundler and paymaster. */
export const keeperCommand: Command = {
  name: "keeper",
  summary: "Run the keeper against any RPC, bundler and paymaster (--config <file>)",
  help: HELP,
  async run(argv, io) {
    let values: {
      config?: string | undefined
      "dry-run"?: boolean | undefined
      once?: boolean | undefined
      timeout?: string | undefined
      mode?: string | undefined
      redis?: string | undefined
      "worker-only"?: boolean | undefined
    }
    let positionals: string[]
    try {
      ;({ values, positionals } = parseArgs({
        args: argv,
        options: {
          config: { type: "string" },
          "dry-run": { type: "boolean" },
          once: { type: "boolean" },
          timeout: { type: "string" },
          mode: { type: "string" },
          redis: { type: "string" },
          "worker-only": { type: "boolean" },
        },
        strict: true,
        allowPositionals: true,
      }))
    } catch (error) {
      throw new CliUsageError("keeper", (error as Error).message)
    }
    if (positionals.length > 0) throw new CliUsageError("keeper", `unexpected argument "${positionals[0]}"`)
    if (!values.config) throw new CliUsageError("keeper", "--config <file.json> is required")
    let timeoutMs = 120_000
    if (values.timeout !== undefined) {
      const seconds = Number(values.timeout)
      if (!values.once) throw new CliUsageError("keeper", "--timeout only applies with --once")
      if (!(Number.isFinite(seconds) && seconds > 0)) throw new CliUsageError("keeper", `--timeout must be a positive number of seconds, got "${values.timeout}"`)
      timeoutMs = seconds * 1_000
    }
    if (values.mode !== undefined && values.mode !== "embedded" && values.mode !== "fleet")
      throw new CliUsageError("keeper", `--mode must be embedded or fleet, got "${values.mode}"`)
    if (values.redis !== undefined && !/^rediss?:\/\/\S+$/.test(values.redis)) throw new CliUsageError("keeper", `--redis must be a redis:// or rediss:// URL, got "${values.redis}"`)
    if (values.redis !== undefined && values.mode === "embedded") throw new CliUsageError("keeper", "--redis only applies to --mode fleet")
    let config = readKeeperConfig(values.config)
    if (values.redis !== undefined) {
      const queue = config.fleet.queue ?? { redisUrl: values.redis, prefix: "levpilot", leaseMs: 30_000, workerConcurrency: 32 }
      config = { ...config, fleet: { ...config.fleet, queue: { ...queue, redisUrl: values.redis } } }
    }
    const mode = values.mode ?? (config.fleet.queue ? "fleet" : "embedded")
    if (mode === "fleet") {
      if (!config.fleet.queue) throw new CliUsageError("keeper", "--mode fleet needs fleet.queue in the configuration or --redis <url>")
      if (values.once) throw new CliUsageError("keeper", "--once only applies to --mode embedded")
    } else if (values["worker-only"]) throw new CliUsageError("keeper", "--worker-only only applies to --mode fleet")
    const logger: Logger = pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    const dryRun = values["dry-run"] === true
    const once = values.once === true
    const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))
    const outcome = new Map<string, { alerts: string[]; included: boolean | undefined }>()
    const of = (safe: string) => {
      let o = outcome.get(safe)
      if (!o) {
        o = { alerts: [], included: undefined }
        outcome.set(safe, o)
      }
      return o
    }
    const onEvent = (event: KeeperEvent) => {
      if (event.type === "plan") io.out(`${json({ safe: event.safe, block: Number(event.block), plan: event.plan })}\n`)
      else if (event.type === "observed" && dryRun && once && !event.result?.plan)
        io.out(`${json({ safe: event.safe, block: Number(event.block), plan: null, reasons: event.result?.outcomes.map((o) => o.reason) ?? [] })}\n`)
      else if (event.type === "alert") of(event.safe).alerts.push(`${event.kind}: ${event.message}`)
      else if (event.type === "included") of(event.safe).included = event.success && (of(event.safe).included ?? true)
    }
    if (mode === "fleet") {
      const node = new FleetNode(config, { logger, dryRun, onEvent, lead: values["worker-only"] !== true })
      await node.start()
      await untilSignal()
      await node.stop()
      return 0
    }
    const keeper = usesFleetRuntime(config) ? new FleetKeeperRun(config, { logger, dryRun, onEvent }) : new Keeper(config, { logger, dryRun, onEvent })
    if (once) {
      await keeper.init()
      let left: string[] = []
      try {
        await keeper.runOnce()
        if (!dryRun) left = await keeper.settle(timeoutMs)
      } finally {
        await keeper.stop()
      }
      let code = 0
      for (const safe of left) {
        io.err(`levpilot keeper: the operation of Safe ${safe} was not included within ${timeoutMs / 1_000} s (still tracked in the stateFile)\n`)
        code = 1
      }
      for (const [safe, o] of outcome) {
        if (o.included === false) {
          io.err(`levpilot keeper: the operation of Safe ${safe} was included but reverted\n`)
          code = 1
        } else if (o.included === undefined && o.alerts.length > 0 && !left.includes(safe)) {
          io.err(`levpilot keeper: Safe ${safe}: ${o.alerts.join("; ")}\n`)
          code = 1
        }
      }
      return code
    }
    await keeper.start()
    await untilSignal()
    await keeper.stop()
    return 0
  },
}

const untilSignal = () =>
  new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once("SIGINT", stop)
    process.once("SIGTERM", stop)
  })

/** Whether the embedded mode runs the fleet runtime ({@link FleetKeeper}): `discovery` or `fleet` configured. */
const usesFleetRuntime = (config: KeeperConfig) => config.discovery !== undefined || config.fleet !== defaultFleetSettings

/** The embedded {@link FleetKeeper} with the classic keeper's `--once` surface. */
class FleetKeeperRun extends FleetKeeper {
  private lastBlock: bigint | undefined

  async runOnce(): Promise<void> {
    const pass = await this.runBlock()
    this.lastBlock = pass.block
    await this.idle()
  }

  /** Runs a pass on each new block while operations are in flight, at most `timeoutMs`. @returns The Safes still pending. */
  async settle(timeoutMs: number): Promise<string[]> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const pending = await this.pendingSafes()
      if (pending.length === 0 || Date.now() >= until) return pending
      await new Promise((r) => setTimeout(r, this.config.pollIntervalMs))
      const pass = await this.runBlock().catch(() => undefined)
      if (!pass || pass.block === this.lastBlock) continue
      this.lastBlock = pass.block
      await this.idle()
    }
  }
}
