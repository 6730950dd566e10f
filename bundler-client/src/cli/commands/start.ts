import { accessSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { pino } from "pino"
import { CliUsageError, ensureRepositoryContracts } from "../command.js"
import type { Command } from "../command.js"
import type { DemoEnv } from "../../devnet/env.js"
import type { DemoRun } from "../../devnet/run.js"
import type { DemoScenario } from "../../devnet/scenario.js"
import { DemoUnavailableError } from "../../keeper/errors.js"
import { type PricePaths, PriceFileError, readPriceCsv } from "../../prices/csv.js"

const HELP = `Usage: levpilot start [--blocks <n> | --fast] [--crash <fraction>] [--no-aave | --swap] [--buffers]
                      [--block-time <s>] [--no-tty] [--report <file.html>] [--json <file.json>] [--keeper-log <file>]
       levpilot start --prices <file.csv> [--time-unit <s|ms>] [--blocks <n> | --fast] [other options as above]

The whole system on an embedded local chain, with no set-up: anvil (1 s blocks) and the Alto bundler
on 127.0.0.1, the canonical EntryPoint v0.7, Safe 1.4.1, the LeverageModule, Morpho Blue with
WETH/USDC and WBTC/USDC markets (LLTV 86%), Aave v3 (the real protocol from @aave/core-v3) with the
module deployed over both venues, ERC-4626 yield vaults, SimOracles, a verifying paymaster with an
ERC-7677 service, Uniswap v3 pools (0.05% and 0.3%) that an arbitrageur keeps on the oracle prices;
a demo Safe with three leveraged sub-accounts (two Morpho Blue markets and its Aave v3 account: WETH
collateral, USDC debt) and an identical unmanaged twin; the keeper registered on the demo Safe. The
USDC borrowed on Morpho is spent (no idle funds, no pool for the Morpho markets: the keeper can only
protect them by selling collateral inside Morpho's repay callback, a swap deleverage bounded on chain
by maxSlippageBps 50); the USDC borrowed on Aave sits in a yUSDC vault, the Aave account's buffer (this
demo gives Aave no swap lane; the keeper's flash-funded Aave swap deleverage is shown by
test/keeper.aave.test.ts). Then a price scenario is replayed, one oracle update per block (Morpho and
Aave read the same price sources), while the keeper rebalances the managed Safe on both venues and a
liquidator calls Morpho.liquidate on any Morpho position below health 1 and Aave's liquidationCall on
any Aave account below health factor 1. A live table shows health and leverage per
sub-account, the last action, its gas and the paymaster; at the end a summary and an HTML report with
charts of health and leverage over time for both Safes. Ctrl-C stops everything cleanly.

Options:
  --blocks <n>          Length of the default scenario in blocks (calm, crash, recovery). Default 60.
                        With --prices: the most rows replayed (default: every row).
  --crash <fraction>    Depth of the default scenario's crash, above 0 and below 0.95. Default 0.4
                        (the twin is liquidated below about -31%). Not with --prices.
  --prices <file.csv>   Replay this price CSV instead, one row per block: header "timestamp,WETH,WBTC"
                        (each column sets that price), or a single column of any name used as a
                        relative path (price / first price) for both. Other columns are refused. The
                        file is checked as levpilot backtest checks it (errors name the line and field).
  --time-unit <s|ms>    Unit of the --prices file's timestamps (see levpilot backtest --help); they only
                        order the rows, one per block.
  --fast                Shorthand for --blocks 30 (not with --blocks).
  --no-aave             Leave Aave v3 out: the Morpho Blue sub-accounts only. Without --buffers they have
                        no idle funds and no pool (swap deleverages only); with --buffers they draw on
                        the vault.
  --swap                --no-aave without --buffers (refused with --buffers).
  --buffers             The buffer-funded demo instead: all the borrowed USDC in the yUSDC vault, every
                        policy allows it, no Uniswap, no swaps (the keeper moves buffers only).
  --block-time <s>      Seconds per block. Default 1.
  --no-tty              Print one line per block instead of redrawing the table (CI, logs).
  --report <file>       HTML report path. Default reports/start-report.html.
  --json <file>         Also write the summary and time series as JSON.
  --keeper-log <file>   The keeper's JSON logs. Default reports/start-keeper.log.
  -h, --help            Show this help.

Every flag, the --prices file and the output paths are checked before anything is built or started;
in the repository the contracts are then built when missing or changed (forge build: about 2 s, a
few minutes on a fresh clone).
`

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new CliUsageError("start", `--${name} must be a positive ${integer ? "integer" : "number"}, got "${value}"`)
  return n
}

/** The demo's collateral assets, the columns a two-column `--prices` file must name (`demoAssets` of the devnet demo). */
const DEMO_ASSETS = ["WETH", "WBTC"] as const

/** `levpilot start`'s command line, every flag checked ({@link parseStartArgs}). */
export type StartArgs = {
  /** Blocks of the default scenario, or the cap on a `--prices` file's rows (undefined: every row). */
  blocks: number | undefined
  /** Depth of the default scenario's crash, a fraction in (0, 0.95). */
  crash: number
  /** The `--prices` file and its timestamp unit, undefined for the default scenario. */
  prices: { path: string; timeUnit: "s" | "ms" | undefined } | undefined
  /** Seconds per block (positive integer). */
  blockTime: number
  /** Uniswap pools and swap deleverages (false with `--buffers`). */
  swapProtection: boolean
  /** Aave v3 as a third sub-account (false with `--no-aave` / `--swap`). */
  aave: boolean
  /** `--no-tty`: one line per block. */
  noTty: boolean
  /** Absolute paths of the HTML report, the keeper's log and the optional JSON. */
  reportPath: string
  keeperLog: string
  jsonPath: string | undefined
}

/**
 * Parses and checks every flag of `levpilot start` without touching the chain, the contracts or the price file.
 *
 * @param argv - Arguments after `start`.
 * @returns The checked arguments.
 * @throws {CliUsageError} An unknown flag, a stray argument, a value that is not what its flag takes (`--blocks 0`,
 *   `--crash 1`, `--time-unit h`), or flags that exclude each other (`--buffers` and `--swap`, `--fast` and `--blocks`,
 *   `--crash` or `--time-unit` without the scenario they apply to).
 */
export function parseStartArgs(argv: string[]): StartArgs {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        blocks: { type: "string" },
        crash: { type: "string" },
        prices: { type: "string" },
        "time-unit": { type: "string" },
        fast: { type: "boolean" },
        swap: { type: "boolean" },
        "no-aave": { type: "boolean" },
        buffers: { type: "boolean" },
        "block-time": { type: "string" },
        "no-tty": { type: "boolean" },
        report: { type: "string" },
        json: { type: "string" },
        "keeper-log": { type: "string" },
      },
      strict: true,
    }))
  } catch (error) {
    throw new CliUsageError("start", (error as Error).message)
  }
  const text = (name: string) => {
    const v = values[name] as string | undefined
    if (v !== undefined && v.trim() === "") throw new CliUsageError("start", `--${name} needs a value, got ""`)
    return v
  }
  if (values.fast === true && values.blocks !== undefined) throw new CliUsageError("start", "--fast is --blocks 30: pass one of --fast or --blocks")
  const prices = text("prices")
  const blocks = values.blocks !== undefined ? positive("blocks", values.blocks as string, 0) : values.fast === true ? 30 : prices === undefined ? 60 : undefined
  if (prices !== undefined && values.crash !== undefined) throw new CliUsageError("start", "--crash sets the default scenario's crash; it does not apply to --prices")
  const crash = positive("crash", values.crash as string | undefined, 0.4, false)
  if (crash >= 0.95) throw new CliUsageError("start", `--crash must be below 0.95, got "${values.crash as string}"`)
  const timeUnit = values["time-unit"] as string | undefined
  if (timeUnit !== undefined && prices === undefined) throw new CliUsageError("start", "--time-unit is the unit of a --prices file's timestamps; pass it with --prices")
  if (timeUnit !== undefined && timeUnit !== "s" && timeUnit !== "ms") throw new CliUsageError("start", `--time-unit must be s or ms, got "${timeUnit}"`)
  const blockTime = positive("block-time", values["block-time"] as string | undefined, 1)
  if (values.buffers === true && values.swap === true) throw new CliUsageError("start", "--buffers and --swap exclude each other")
  const report = text("report")
  const keeperLog = text("keeper-log")
  const json = text("json")
  return {
      blocks,
      crash,
      prices: prices === undefined ? undefined : { path: prices, timeUnit: timeUnit as "s" | "ms" | undefined },
      blockTime,
      swapProtection: values.buffers !== true,
      aave: values.swap !== true && values["no-aave"] !== true,
      noTty: values["no-tty"] === true,
      reportPath: resolve(report ?? "reports/start-report.html"),
      keeperLog: resolve(keeperLog ?? "reports/start-keeper.log"),
      jsonPath: json === undefined ? undefined : resolve(json),
  }
}

/**
 * Reads a `--prices` file for the demo and checks its columns: WETH and WBTC (each sets that price), or a single column
 * of any name (a relative path for both). Timestamps are checked as `levpilot backtest` checks them, then ignored: one
 * row per block.
 *
 * @returns The price paths.
 * @throws {PriceFileError} A malformed file (the line and field named), or columns the demo cannot use (line of the
 *   header): two or more columns that are not WETH and WBTC, or further columns beside them.
 */
export function readStartPrices(path: string, timeUnit: "s" | "ms" | undefined): PricePaths {
  const paths = readPriceCsv(path, { timeUnit })
  if (paths.assets.length === 1) return paths
  const header = paths.headerLine ?? 1
  const missing = DEMO_ASSETS.filter((a) => paths.prices[a] === undefined)
  if (missing.length > 0)
    throw new PriceFileError(path, header, `columns ${paths.assets.join(", ")}: the demo reads a WETH and a WBTC column (no ${missing.join(" or ")} column), or a single column as a relative path for both`)
  const extra = paths.assets.filter((a) => !(DEMO_ASSETS as readonly string[]).includes(a))
  if (extra.length > 0) throw new PriceFileError(path, header, `column(s) ${extra.join(", ")} are not demo assets: the demo reads WETH and WBTC only; remove them`)
  return paths
}

/**
 * Makes sure forge's `out/` holds current artifacts before the demo deploys from it: in the repository,
 * `scripts/ensure-contracts.mjs` (a `forge build` of what changed; minutes on a fresh clone). An installed package has
 * no such script and no demo: {@link loadDemo} then says so.
 */
async function ensureDemoContracts(): Promise<void> {
  await ensureRepositoryContracts()
}

/**
 * Checks that an output file can be written (it is not a directory, and it or the nearest existing directory above it is
 * writable), before minutes of building and running; creates nothing (the directories are made when it is written).
 */
function writableOutput(flag: string, path: string): void {
  try {
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) throw new Error("it is a directory")
      accessSync(path, constants.W_OK)
      return
    }
    let dir = dirname(path)
    while (!existsSync(dir)) dir = dirname(dir)
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`)
    accessSync(dir, constants.W_OK)
  } catch (error) {
    throw new CliUsageError("start", `${flag} ${path}: cannot write there (${(error as Error).message})`)
  }
}

type Demo = typeof import("../../devnet/demo.js")

/** What `levpilot start` needs beyond its flags; injectable so tests can see the order without building or deploying. */
export type StartDependencies = {
  /** Brings forge's `out/` up to date (the repository's ensure-contracts); runs only once every flag and file checked. */
  ensureContracts: () => void | Promise<void>
  /** Loads the demo and the devnet it runs on. */
  loadDemo: () => Promise<Demo>
}

/**
 * The demo and the devnet it runs on, loaded only when `start` runs: they need the repository's `@levpilot/devnet`
 * workspace (anvil, Alto, the forge-built module), which the published `levpilot` package does not ship.
 */
async function loadDemo(): Promise<Demo> {
  try {
    return await import("../../devnet/demo.js")
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") throw new DemoUnavailableError({ cause: error as Error })
    throw error
  }
}

const jsonReplacer = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v === Number.POSITIVE_INFINITY ? "Infinity" : v)

/**
 * `levpilot start` over the given dependencies. Order: every flag ({@link parseStartArgs}), the `--prices` file
 * ({@link readStartPrices}) and the output paths are checked first, then the contracts are built, then the demo runs;
 * so a wrong command line is refused in a second, never after a fresh clone's minutes of `forge build`.
 *
 * @param deps - How to build the contracts and load the demo.
 * @returns The command.
 */
export function makeStartCommand(deps: StartDependencies): Command {
  return {
    name: "start",
    summary: "One-command local devnet: deploy everything, replay a crash, keeper vs unmanaged twin, HTML report",
    help: HELP,
    async run(argv, io) {
      const args = parseStartArgs(argv)
      const paths = args.prices === undefined ? undefined : readStartPrices(args.prices.path, args.prices.timeUnit)
      const { reportPath, keeperLog } = args
      const keeperConfigPath = resolve(dirname(reportPath), "devnet-keeper.json")
      writableOutput("--report", reportPath)
      writableOutput("--keeper-log", keeperLog)
      if (args.jsonPath !== undefined) writableOutput("--json", args.jsonPath)
      writableOutput("--report (its directory holds devnet-keeper.json)", keeperConfigPath)
      await deps.ensureContracts()
      const { startDemoEnv, demoKeeperConfigJson, writeHtmlReport, runDemo, defaultScenario, scenarioFromPaths, formatSummary, summarizeDemo, renderTable } = await deps.loadDemo()
      const scenario: DemoScenario = paths !== undefined ? scenarioFromPaths(paths, (args.prices as { path: string }).path, args.blocks) : defaultScenario(args.blocks, args.crash)
      const tty = !args.noTty && process.stdout.isTTY === true

      const abort = new AbortController()
      const onSignal = () => {
        io.err("\nStopping (Ctrl-C)...\n")
        abort.abort()
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      let env: DemoEnv | undefined
      try {
        io.out("Starting anvil, Alto and the paymaster; deploying EntryPoint v0.7, Safe 1.4.1, Morpho Blue, Aave v3, Uniswap v3, the module, vaults and oracles...\n")
        const started = Date.now()
        env = await startDemoEnv({ blockTime: args.blockTime, settings: { swapProtection: args.swapProtection, aave: args.aave } })
        io.out(
          `Ready in ${((Date.now() - started) / 1000).toFixed(1)} s: anvil ${env.devnet.rpcUrl}, Alto ${env.devnet.bundlerUrl}, paymaster ${env.paymaster.url}\n` +
            `  managed Safe ${env.managed.address}, unmanaged twin ${env.twin.address}, module ${env.deployment.leverageModule}${env.aave ? ` (Morpho Blue and Aave v3 adapters), Aave pool ${env.aave.pool}` : ""}\n`,
        )
        mkdirSync(dirname(keeperLog), { recursive: true })
        mkdirSync(dirname(keeperConfigPath), { recursive: true })
        writeFileSync(keeperConfigPath, `${JSON.stringify(demoKeeperConfigJson(env, { logLevel: "info" }), null, 2)}\n`)
        io.out(`  keeper logs: ${keeperLog}; the same keeper as a daemon: levpilot keeper --config ${keeperConfigPath}\n\n`)
        const logger = pino({ level: "info", base: { service: "levpilot-keeper" } }, pino.destination({ dest: keeperLog, sync: true }))
        const run: DemoRun = await runDemo({
          env,
          scenario,
          signal: abort.signal,
          keeperOptions: { logger },
          keeperConfig: { logLevel: "info" },
          onStep: (sample, current) => {
            if (tty) io.out(`\x1b[2J\x1b[H${renderTable(sample, current, scenario.steps.length)}`)
            else {
              const h = (label: "managed" | "twin") =>
                Object.entries(sample.positions[label])
                  .map(([a, p]) => `${a} ${p.liquidated ? "liquidated" : Number.isFinite(p.health) ? p.health.toFixed(3) : "-"}`)
                  .join(" ")
              io.out(`block ${sample.block} ${sample.step >= scenario.steps.length ? "settling" : `step ${sample.step + 1}/${scenario.steps.length}`} WETH ${sample.prices.WETH.toFixed(0)} | managed ${h("managed")} | twin ${h("twin")} | rebalances ${current.rebalances.length}\n`)
            }
          },
        })
        const summary = summarizeDemo(run)
        // After Ctrl-C the run is cut short: no verdict on a crash it may not have reached (helper nu49: it printed "not
        // the expected outcome: the unmanaged twin was never liquidated" for a run stopped in its calm phase).
        const text = formatSummary(summary)
        io.out(abort.signal.aborted ? text.replace(/^ {2}RESULT: .*$/m, "  RESULT: none, the run was stopped by Ctrl-C before the scenario's end.") : text)
        writeHtmlReport(reportPath, run, summary)
        io.out(`HTML report: ${reportPath}\n`)
        if (args.jsonPath !== undefined) {
          const jsonPath = args.jsonPath
          mkdirSync(dirname(jsonPath), { recursive: true })
          writeFileSync(jsonPath, `${JSON.stringify({ summary, steps: run.steps, rebalances: run.rebalances, liquidations: run.liquidations, alerts: run.alerts }, jsonReplacer, 2)}\n`)
          io.out(`JSON: ${jsonPath}\n`)
        }
        return abort.signal.aborted ? 130 : summary.ok ? 0 : 1
      } finally {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
        await env?.stop()
        // After Ctrl-C the chain and bundler are already gone; requests still retrying against them must not hold the exit.
        if (abort.signal.aborted) setTimeout(() => process.exit(130), 1_500).unref()
      }
    },
  }
}

/** `levpilot start`: the one-command local devnet demo. */
export const startCommand: Command = makeStartCommand({ ensureContracts: ensureDemoContracts, loadDemo })
