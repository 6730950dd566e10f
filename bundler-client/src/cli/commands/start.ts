import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { parseArgs } from "node:util"
import { pino } from "pino"
import { CliUsageError } from "../command.js"
import type { Command } from "../command.js"
import type { DemoEnv } from "../../devnet/env.js"
import type { DemoRun } from "../../devnet/run.js"
import type { DemoScenario } from "../../devnet/scenario.js"
import { DemoUnavailableError } from "../../keeper/errors.js"

const HELP = `Usage: levpilot start [--blocks <n>] [--prices <file.csv>] [--crash <fraction>] [--fast] [--no-aave]
                      [--buffers] [--block-time <s>] [--no-tty] [--report <file.html>] [--json <file.json>]
                      [--keeper-log <file>]

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
  --crash <fraction>    Depth of the default scenario's crash. Default 0.4 (the twin is liquidated
                        below about -31%).
  --prices <file.csv>   Replay this price CSV instead (header "timestamp,WETH,WBTC", or any single
                        column used as a relative path for both), one row per block; --blocks caps it.
  --fast                Shorthand for --blocks 30.
  --no-aave             Leave Aave v3 out: the Morpho Blue sub-accounts only, with no idle funds and no
                        pool (swap deleverages only). --swap is the same.
  --buffers             The buffer-funded demo instead: all the borrowed USDC in the yUSDC vault, every
                        policy allows it, no Uniswap, no swaps (the keeper moves buffers only).
  --block-time <s>      Seconds per block. Default 1.
  --no-tty              Print one line per block instead of redrawing the table (CI, logs).
  --report <file>       HTML report path. Default reports/start-report.html.
  --json <file>         Also write the summary and time series as JSON.
  --keeper-log <file>   The keeper's JSON logs. Default reports/start-keeper.log.
  -h, --help            Show this help.
`

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new CliUsageError("start", `--${name} must be a positive ${integer ? "integer" : "number"}, got "${value}"`)
  return n
}

/**
 * The demo and the devnet it runs on, loaded only when `start` runs: they need the repository's `@levpilot/devnet`
 * workspace (anvil, Alto, the forge-built module), which the published `levpilot` package does not ship.
 */
async function loadDemo(): Promise<typeof import("../../devnet/demo.js")> {
  try {
    return await import("../../devnet/demo.js")
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") throw new DemoUnavailableError({ cause: error as Error })
    throw error
  }
}

const jsonReplacer = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v === Number.POSITIVE_INFINITY ? "Infinity" : v)

/** `levpilot start`: the one-command local devnet demo. */
export const startCommand: Command = {
  name: "start",
  summary: "One-command local devnet: deploy everything, replay a crash, keeper vs unmanaged twin, HTML report",
  help: HELP,
  async run(argv, io) {
    let values: Record<string, string | boolean | undefined>
    try {
      ;({ values } = parseArgs({
        args: argv,
        options: {
          blocks: { type: "string" },
          crash: { type: "string" },
          prices: { type: "string" },
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
    const blocks = positive("blocks", values.blocks as string | undefined, values.fast ? 30 : 60)
    const crash = positive("crash", values.crash as string | undefined, 0.4, false)
    if (crash >= 0.95) throw new CliUsageError("start", "--crash must be below 0.95")
    const blockTime = positive("block-time", values["block-time"] as string | undefined, 1)
    if (values.buffers === true && values.swap === true) throw new CliUsageError("start", "--buffers and --swap exclude each other")
    const tty = values["no-tty"] !== true && process.stdout.isTTY === true
    const reportPath = resolve((values.report as string | undefined) ?? "reports/start-report.html")
    const keeperLog = resolve((values["keeper-log"] as string | undefined) ?? "reports/start-keeper.log")
    const { startDemoEnv, demoKeeperConfigJson, writeHtmlReport, runDemo, defaultScenario, scenarioFromCsv, formatSummary, summarizeDemo, renderTable } = await loadDemo()
    const scenario: DemoScenario = values.prices ? scenarioFromCsv(values.prices as string, values.blocks ? blocks : undefined) : defaultScenario(blocks, crash)
    if (scenario.steps.length === 0) throw new CliUsageError("start", "the price scenario has no rows")

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
      env = await startDemoEnv({ blockTime, settings: { swapProtection: values.buffers !== true, aave: values.swap !== true && values["no-aave"] !== true } })
      io.out(
        `Ready in ${((Date.now() - started) / 1000).toFixed(1)} s: anvil ${env.devnet.rpcUrl}, Alto ${env.devnet.bundlerUrl}, paymaster ${env.paymaster.url}\n` +
          `  managed Safe ${env.managed.address}, unmanaged twin ${env.twin.address}, module ${env.deployment.leverageModule}${env.aave ? ` (Morpho Blue and Aave v3 adapters), Aave pool ${env.aave.pool}` : ""}\n`,
      )
      mkdirSync(dirname(keeperLog), { recursive: true })
      const keeperConfigPath = resolve(dirname(reportPath), "devnet-keeper.json")
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
      io.out(formatSummary(summary))
      writeHtmlReport(reportPath, run, summary)
      io.out(`HTML report: ${reportPath}\n`)
      if (values.json) {
        const jsonPath = resolve(values.json as string)
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
