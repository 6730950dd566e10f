import { parseArgs } from "node:util"
import { type Logger, pino } from "pino"
import { CliUsageError } from "../command"
import type { Command } from "../command"
import { readKeeperConfig } from "../../keeper/config"
import { Keeper } from "../../keeper/keeper"

const HELP = `Usage: levpilot keeper --config <file.json> [--dry-run] [--once]

Watches new blocks (and so oracle updates), solves every configured Safe, sends each plan as a keeper
UserOperation (executeRebalance) through the bundler, sponsored by the ERC-7677 paymaster, and tracks
its inclusion. Logs are JSON lines (pino) on stdout; metrics in the Prometheus text format on
http://<metricsHost>:<metricsPort>/metrics. Stops cleanly on Ctrl-C / SIGTERM.

Options:
  --config <file>   Keeper configuration (JSON), fields below. Errors name the field.
  --dry-run         Print each plan (JSON line) instead of sending it.
  --once            One pass over the Safes at the latest block, then exit.
  -h, --help        Show this help.

Configuration fields:
  rpcUrl, bundlerUrl          required, http(s) URLs
  paymasterUrl                ERC-7677 paymaster service (optional); paymasterContext is passed as is
  keeperPrivateKey            the keeper session key the Safes registered with addKeeper, or
  keeperPrivateKeyEnv         the name of an environment variable holding it
  deployment                  { entryPoint?, leverageModule, morphoBlueAdapter, multicall3? }
  safes                       [ "0xSafe" | { address, risk? } ]
  risk                        { tolerance 0.01, horizon 86400 s, sigma 0.8, mode "autopilot"|"threshold" }
  allowSelfPay                false: when the paymaster refuses, alert instead of letting the Safe pay
                              (never when the Safe requires a paymaster on chain)
  pollIntervalMs 250, resubmitAfterBlocks 4, feeBumpPercent 20, retry { baseMs 250, maxMs 8000 }
  stateFile                   where the in-flight operation per Safe is persisted (restarts)
  metricsPort, metricsHost    Prometheus endpoint (off without metricsPort; 127.0.0.1 by default)
  costs                       { gasPriceGwei 1, nativePrice 3000 } for the solver's cost model
  logLevel                    trace|debug|info|warn|error|fatal|silent (info)
`

/** `levpilot keeper`: the keeper daemon against any RPC, bundler and paymaster. */
export const keeperCommand: Command = {
  name: "keeper",
  summary: "Run the keeper against any RPC, bundler and paymaster (--config <file>)",
  help: HELP,
  async run(argv, io) {
    let values: { config?: string | undefined; "dry-run"?: boolean | undefined; once?: boolean | undefined }
    try {
      ;({ values } = parseArgs({ args: argv, options: { config: { type: "string" }, "dry-run": { type: "boolean" }, once: { type: "boolean" } }, strict: true }))
    } catch (error) {
      throw new CliUsageError("keeper", (error as Error).message)
    }
    if (!values.config) throw new CliUsageError("keeper", "--config <file.json> is required")
    const config = readKeeperConfig(values.config)
    const logger: Logger = pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    const dryRun = values["dry-run"] === true
    const keeper = new Keeper(config, {
      logger,
      dryRun,
      onEvent: (event) => {
        if (event.type === "plan")
          io.out(`${JSON.stringify({ safe: event.safe, block: Number(event.block), plan: event.plan }, (_, v) => (typeof v === "bigint" ? v.toString() : v))}\n`)
      },
    })
    if (values.once) {
      await keeper.init()
      await keeper.runOnce()
      await keeper.stop()
      return 0
    }
    await keeper.start()
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once("SIGINT", stop)
      process.once("SIGTERM", stop)
    })
    await keeper.stop()
    return 0
  },
}
