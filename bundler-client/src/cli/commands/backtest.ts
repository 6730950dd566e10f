import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { parseArgs } from "node:util"
import { CliUsageError, readDecimalInteger } from "../command.js"
import type { Command } from "../command.js"
import { readPriceCsv } from "../../prices/csv.js"
import { DEFAULT_PATH } from "../../prices/generator.js"
import { BacktestConfigError, networkOverride, resolveBacktestConfig, STRATEGIES, TRADERS } from "../../backtest/config.js"
import type { BacktestConfig, StrategyName, TraderName } from "../../backtest/config.js"
import { GAS_MARKETS } from "../../backtest/carry.js"
import { MIN_APY_SPAN_SECONDS, runBacktest } from "../../backtest/engine.js"
import { runSuite } from "../../backtest/suite.js"
import { formatScorecard, formatStrategyTable, shortSpan } from "../../backtest/report.js"

const HELP = `Usage: levpilot backtest --prices <file.csv> [--time-unit <s|ms>] [--policy <file.json>] [--trader <name>] [--network <name>] [--strategies <list>] [--json <out.json>]
       levpilot backtest --generate <N> [--seed <n>] [--days <d>] [--policy <file.json>] [--trader <name>] [--network <name>] [--strategies <list>] [--json <out.json>]
       levpilot backtest --print-config [--policy <file.json>] [--trader <name>] [--network <name>] [--strategies <list>]

Replays price paths through the static, threshold, dfs-style and autopilot strategies with the same
solver and policy rules as the on-chain module (oracle heartbeat/deviation, keeper latency, borrow
interest from Morpho's AdaptiveCurveIrm, pool yield, gas at a fee distribution, swaps against a
liquidity-depth model, Morpho liquidation) and prints one row per strategy: liquidations, liquidation
loss (against the same run without liquidations) and penalty, leverage (mean, median, p95), minimum
health, rebalances, swaps, rejected operations, interest, yield, swap fees and impact, service and
automation fees, pool fees, gas, final equity, net P&L and APY (n/a for prices spanning under a day: the
return over the path is printed instead). The metrics are defined in bundler-client/README.md.

Options:
  --prices <file.csv>   Price paths. Header "timestamp,<ASSET>[,<ASSET>...]", one row per time,
                        unix seconds (milliseconds are refused), prices in the loan asset. Errors name
                        the offending line. Lines may end in LF, CRLF or CR alone. A price more than
                        1e6 times (or under 1/1e6 of) the previous row's (base units among token
                        prices) is refused with both lines. A single-asset file drives every sub-account
                        whatever its asset name.
  --time-unit <s|ms>    Unit of the timestamp column. Without it, absolute milliseconds and a relative
                        clock stepping in multiples of 1,000 (0, 60000, ...) are refused as ambiguous.
  --generate <N>        Instead of a file, run N generated paths and print the scorecard per scenario
                        family (path i: family gbm, jumps, regime, crash30, crash45, flashWick,
                        slowGrind, whipsaw, depeg, gapRecover, gapHold in turn, seed <seed>+i).
  --seed <n>            Base seed for --generate. Default 1000.
  --days <d>            Length of each generated path in days, one-minute steps. Default 3.
  --policy <file.json>  JSON object overlaid on the default scenario: "policy" (band, caps, cooldown,
                        tolerance, horizon, tailDrop, stopLoss, stopLossConfirmSeconds, pools...), "subAccounts", "pools", "idle",
                        "oracle", "keeper", "costs", "gas", "swap", "carry", "dfs", "risk",
                        "strategies". Unknown keys are errors. Print the full default with --print-config.
  --trader <name>       buffered (default: a pool to repay from, boosts park in the pool) or no-idle
                        (a looped position with nothing idle: deleverage and boost by swaps).
  --network <name>      Gas fee distribution: mainnet (default, 1-100 gwei) or l2.
  --strategies <list>   Comma-separated subset of ${STRATEGIES.join(",")}. Default: all.
  --json <out.json>     Also write the configuration and results as JSON.
  --print-config        Print the effective configuration (defaults + --trader + --network + --policy)
                        as JSON and exit.
  -h, --help            Show this help.
`

function loadConfig(path: string | undefined, strategies: string | undefined, trader: string | undefined, network: string | undefined): BacktestConfig {
  let override: unknown = {}
  if (path !== undefined) {
    let text: string
    try {
      text = readFileSync(path, "utf8")
    } catch (error) {
      throw new BacktestConfigError(`cannot read ${path} (${(error as Error).message})`)
    }
    try {
      override = JSON.parse(text)
    } catch (error) {
      throw new BacktestConfigError(`${path} is not valid JSON (${(error as Error).message})`)
    }
  }
  if (strategies !== undefined) {
    const list = strategies.split(",").map((s) => s.trim()).filter((s) => s !== "")
    for (const s of list) if (!STRATEGIES.includes(s as StrategyName)) throw new CliUsageError("backtest", `unknown strategy "${s}" in --strategies (use ${STRATEGIES.join(", ")})`)
    override = { ...(override as object), strategies: list }
  }
  if (trader !== undefined && !(trader in TRADERS)) throw new CliUsageError("backtest", `unknown --trader "${trader}" (use ${Object.keys(TRADERS).join(", ")})`)
  if (network !== undefined && !(network in GAS_MARKETS)) throw new CliUsageError("backtest", `unknown --network "${network}" (use ${Object.keys(GAS_MARKETS).join(", ")})`)
  const base = resolveBacktestConfig({ ...TRADERS[(trader ?? "buffered") as TraderName], ...networkOverride((network ?? "mainnet") as keyof typeof GAS_MARKETS) })
  return resolveBacktestConfig(override, base)
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const read = readDecimalInteger(value)
  if ("problem" in read) throw new CliUsageError("backtest", `--${name} must be ${read.problem}`)
  return read.value
}

function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(data, (_, v) => (typeof v === "bigint" ? v.toString() : v === Number.POSITIVE_INFINITY ? "Infinity" : v), 2)}\n`)
}

/** `levpilot backtest`: replay a price file or a generated scenario set through every strategy. */
export const backtestCommand: Command = {
  name: "backtest",
  summary: "Replay price paths (CSV or generated) through static, threshold, dfs-style and autopilot strategies",
  help: HELP,
  async run(argv, io) {
    let parsed: ReturnType<typeof parse>
    const parse = () =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          prices: { type: "string" },
          generate: { type: "string" },
          seed: { type: "string" },
          days: { type: "string" },
          policy: { type: "string" },
          strategies: { type: "string" },
          trader: { type: "string" },
          network: { type: "string" },
          "time-unit": { type: "string" },
          json: { type: "string" },
          "print-config": { type: "boolean" },
        },
      })
    try {
      parsed = parse()
    } catch (error) {
      throw new CliUsageError("backtest", (error as Error).message)
    }
    const v = parsed.values
    const config = loadConfig(v.policy, v.strategies, v.trader, v.network)
    if (v["print-config"]) {
      io.out(`${JSON.stringify(config, null, 2)}\n`)
      return 0
    }
    if ((v.prices === undefined) === (v.generate === undefined)) throw new CliUsageError("backtest", "pass exactly one of --prices <file.csv> or --generate <N>")

    if (v.prices !== undefined) {
      const timeUnit = v["time-unit"]
      if (timeUnit !== undefined && timeUnit !== "s" && timeUnit !== "ms") throw new CliUsageError("backtest", `--time-unit must be s or ms, got "${timeUnit}"`)
      const paths = readPriceCsv(v.prices, { timeUnit })
      const assets = [...new Set(config.subAccounts.map((s) => s.asset))]
      const missing = assets.filter((a) => paths.prices[a] === undefined)
      let effective = config
      if (missing.length > 0) {
        if (paths.assets.length === 1 && assets.length === 1) {
          const column = paths.assets[0] as string
          effective = { ...config, subAccounts: config.subAccounts.map((s) => ({ ...s, asset: column })) }
          io.err(`note: sub-accounts use asset "${assets[0]}", driving them with the file's only column "${column}"\n`)
        } else {
          throw new BacktestConfigError(`asset(s) ${missing.join(", ")} are not columns of ${v.prices} (columns: ${paths.assets.join(", ")})`)
        }
      }
      const rows = effective.strategies.map((s) => runBacktest(paths, effective, s))
      const spanSeconds = (paths.timestamps[paths.timestamps.length - 1] as number) - (paths.timestamps[0] as number)
      io.out(formatStrategyTable(rows, `${v.prices}: ${paths.timestamps.length} prices over ${(spanSeconds / 86_400).toFixed(2)} days`))
      // Under a day no APY (engine.ts, MIN_APY_SPAN_SECONDS): say why, and give the return over the path instead.
      if (spanSeconds < MIN_APY_SPAN_SECONDS)
        io.out(
          `APY n/a: the prices span ${shortSpan(spanSeconds)}, under the 1 day an annualised figure needs (JSON "apy": null); return over the path (net P&L / initial equity): ${rows.map((r) => `${r.strategy} ${r.initialEquity > 0 ? `${((r.netPnl / r.initialEquity) * 100).toFixed(3)}%` : "n/a"}`).join(", ")}\n`,
        )
      if (v.json !== undefined) {
        writeJson(v.json, { command: "backtest", source: v.prices, config: effective, results: rows })
        io.out(`wrote ${v.json}\n`)
      }
      return 0
    }

    const count = positiveInteger("generate", v.generate, 0)
    const seed = v.seed === undefined ? 1000 : Number(v.seed)
    if (v.seed !== undefined && (!/^-?[0-9]+$/.test(v.seed) || !Number.isSafeInteger(seed))) throw new CliUsageError("backtest", `--seed must be an integer written in decimal digits, got "${v.seed}"`)
    const days = positiveInteger("days", v.days, 3)
    const suite = runSuite({ count, baseSeed: seed, config, path: { points: Math.round((days * 86_400) / DEFAULT_PATH.stepSeconds) + 1 } })
    io.out(formatStrategyTable(suite.totals, `${count} generated paths (seeds ${seed}..${seed + count - 1}, ${days} days at 1-minute steps): totals; equity, P&L and APY are means per path`))
    io.out(`\n${formatScorecard(suite.byKind, suite.totals, "scorecard per family (liq. loss and carry: sums; net P&L and APY: means per path)")}`)
    if (suite.comparison !== undefined) {
      const c = suite.comparison
      const failed = Object.entries(c.lossAtMostDfs).filter(([, ok]) => !ok).map(([k]) => k)
      io.out(
        `\nautopilot liquidation loss <= dfs-style's on every family: ${c.lossAtMostDfsEveryFamily ? "yes" : `no (${failed.join(", ")})`} (like for like: ${c.likeForLikeLossAtMostDfsEveryFamily ? "yes" : "no"}); net P&L >= dfs-style's overall: ${c.netPnlAtLeastDfs ? "yes" : "no"}\n`,
      )
    }
    io.out(`(${(suite.elapsedMs / 1000).toFixed(1)} s)\n`)
    if (v.json !== undefined) {
      writeJson(v.json, { command: "backtest", config, suite })
      io.out(`wrote ${v.json}\n`)
    }
    return 0
  },
}
