import { readFileSync } from "node:fs"
import { BenchUsageError, decimalInteger, parseBenchOptions } from "./benchArgs.js"
import { BacktestConfigError, networkOverride, resolveBacktestConfig, TRADERS } from "../src/backtest/config.js"
import type { TraderName } from "../src/backtest/config.js"
import { GAS_MARKETS } from "../src/backtest/carry.js"
import { SCENARIO_KINDS } from "../src/prices/generator.js"
import type { ScenarioKind } from "../src/prices/generator.js"

/** `npm run backtest:suite`'s options, checked: every field a value the suite can run. */
export type SuiteArgs = {
  /** Paths in all (>= 1), spread over `kinds` in turn (path i is family `kinds[i % kinds.length]`). */
  count: number
  /** Seed of the first path (a safe integer); path i uses `baseSeed + i`. */
  baseSeed: number
  /** Worker threads (>= 1). */
  workers: number
  /** Traders to run, each a key of {@link TRADERS}, in the order given. */
  traders: TraderName[]
  /** Gas market, a key of {@link GAS_MARKETS}. */
  network: keyof typeof GAS_MARKETS
  /** Families to cycle through, each one of {@link SCENARIO_KINDS}. */
  kinds: ScenarioKind[]
  /** `--config`'s overlay ({@link readConfigOverlay}), `{}` without one: laid on every trader's configuration. */
  config: Record<string, unknown>
  /**
   * Seconds between generated prices (1 ..{@link MAX_STEP_SECONDS}; default 60), over the same three days: each path
   * has the prices of `pathAtStep` (the generator's three days at that step); an operation fills at the next price (price data sampled
   * coarser than the keeper's poll, e.g. 5-minute or hourly candles).
   */
  stepSeconds: number
}

/** The coarsest `--step-seconds`: six hours (13 prices over the three days). */
export const MAX_STEP_SECONDS = 6 * 3600

/** "1-minute steps", "90-second steps", "1-hour steps": the sampling in the scorecard's title. */
export function stepLabel(stepSeconds: number): string {
  if (stepSeconds % 3600 === 0) return `${stepSeconds / 3600}-hour steps`
  if (stepSeconds % 60 === 0) return `${stepSeconds / 60}-minute steps`
  return `${stepSeconds}-second steps`
}

/** The `--help` text; `defaultWorkers` is the `--workers` default shown. */
export function suiteUsage(defaultWorkers: number): string {
  return `Usage: npm run backtest:suite -- [options]

The scorecard: generated price paths per scenario family, static vs threshold vs dfs-style vs autopilot, for each trader;
prints one table per trader and writes reports/backtest-suite.json (bundler-client/README.md, "Scorecard").

Options:
  --paths N      paths in all, the families taken in turn: path i is family i mod the family count (default 1100)
  --seed N       seed of the first path (a decimal integer); path i uses seed + i (default 1000)
  --trader T     ${Object.keys(TRADERS).join(", ")}, a comma-separated list, or all (default all)
  --network N    gas market: ${Object.keys(GAS_MARKETS).join(", ")} (default mainnet)
  --kinds K,...  families to run (default every one): ${SCENARIO_KINDS.join(", ")}
  --workers N    worker threads (default ${defaultWorkers}: the machine's cores, at most 4)
  --step-seconds N
                 seconds between generated prices, 1..${MAX_STEP_SECONDS} (default 60), over the same 3 days: price data
                 sampled coarser than the keeper's one-minute poll (e.g. 300 for 5-minute candles, 3600 hourly);
                 each operation fills at the next price
  --config C     a JSON object, inline or a file's path, overlaid on every trader's configuration (the --policy
                 file's format: objects merge key by key, arrays replace; unknown keys and bad policies are refused),
                 e.g. --config '{"policy":{"tailDrop":0.2}}'
  --help         this text
`
}

/**
 * `--config`'s value, for `backtest:suite` and `bench/heldout-scan.ts` alike: a JSON object given inline (text that
 * starts with `{` or `[`) or as a file's path, checked by overlaying it with `resolveBacktestConfig` on each trader's
 * configuration (with `network`'s gas when given), as the scripts will.
 *
 * @param raw - The option's value; `undefined` (no `--config`) gives `{}`.
 * @param traders - Traders the overlay must be valid for, keys of {@link TRADERS}.
 * @param network - Gas market the scripts run with (a key of {@link GAS_MARKETS}), if any.
 * @returns The parsed overlay, unchanged (the scripts resolve it per trader).
 * @throws {BenchUsageError} A file that cannot be read, text that is not JSON, JSON that is not an object, or an overlay
 *   `resolveBacktestConfig` refuses (an unknown key, an invalid policy, ...): the message starts with `--config` and,
 *   for a refused overlay, names the trader and repeats the refusal (`unknown key "policy.foo"`, `tailDrop must be in
 *   [0, 1), got 1`).
 */
export function readConfigOverlay(raw: string | undefined, traders: readonly TraderName[], network?: keyof typeof GAS_MARKETS): Record<string, unknown> {
  if (raw === undefined) return {}
  let text = raw
  if (!/^\s*[[{]/.test(raw)) {
    try {
      text = readFileSync(raw, "utf8")
    } catch (error) {
      throw new BenchUsageError(`--config: "${raw}" is neither a JSON object nor a readable file (${error instanceof Error ? error.message : String(error)})`)
    }
  }
  let overlay: unknown
  try {
    overlay = JSON.parse(text)
  } catch (error) {
    throw new BenchUsageError(`--config: not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (typeof overlay !== "object" || overlay === null || Array.isArray(overlay)) throw new BenchUsageError("--config: expected a JSON object")
  for (const t of traders) {
    try {
      resolveBacktestConfig(overlay, resolveBacktestConfig({ ...TRADERS[t], ...(network === undefined ? {} : networkOverride(network)) }))
    } catch (error) {
      if (!(error instanceof BacktestConfigError)) throw error
      throw new BenchUsageError(`--config, trader "${t}": ${error.message}`)
    }
  }
  return overlay as Record<string, unknown>
}

/**
 * A `--<option>` list of traders (`backtest:suite --trader`, the held-out scan's `--traders`): comma-separated keys of
 * {@link TRADERS}, or `all` (also when absent).
 *
 * @throws {BenchUsageError} naming the option and the unknown trader.
 */
export function traderList(option: string, value: string | undefined): TraderName[] {
  const traders = (value === undefined || value === "all" ? Object.keys(TRADERS) : value.split(",")) as TraderName[]
  for (const t of traders) if (!Object.hasOwn(TRADERS, t)) throw new BenchUsageError(`unknown --${option} "${t}" (use ${Object.keys(TRADERS).join(", ")}, a comma-separated list, or all)`)
  return traders
}

/**
 * Reads `backtest:suite`'s command line.
 *
 * @param argv - The arguments after the script name (`process.argv.slice(2)`).
 * @param defaultWorkers - `--workers` when absent (the script passes the machine's cores, at most 4).
 * @returns `{ help: true }` for `--help`, else the checked {@link SuiteArgs}.
 * @throws {BenchUsageError} An unknown option, a positional argument, a missing value, a count, seed or worker number
 *   that is not a decimal integer in range (`--paths 0`, `--paths abc`, `--seed 1e3`), an unknown trader, network or
 *   family, a `--config` {@link readConfigOverlay} refuses, a `--step-seconds` outside 1..{@link MAX_STEP_SECONDS}: the
 *   message names the option and the value.
 */
export function parseSuiteArgs(argv: string[], defaultWorkers: number): { help: true } | ({ help: false } & SuiteArgs) {
  const values = parseBenchOptions(argv, {
    paths: { type: "string", default: "1100" },
    seed: { type: "string", default: "1000" },
    trader: { type: "string", default: "all" },
    network: { type: "string", default: "mainnet" },
    kinds: { type: "string" },
    workers: { type: "string" },
    config: { type: "string" },
    "step-seconds": { type: "string", default: "60" },
  })
  if (values.help === true) return { help: true }
  const count = decimalInteger("paths", values.paths)
  const baseSeed = decimalInteger("seed", values.seed, "any")
  const workers = values.workers === undefined ? defaultWorkers : decimalInteger("workers", values.workers)
  const traders = traderList("trader", values.trader)
  const network = values.network as keyof typeof GAS_MARKETS
  if (!Object.hasOwn(GAS_MARKETS, network)) throw new BenchUsageError(`unknown --network "${network}" (use ${Object.keys(GAS_MARKETS).join(", ")})`)
  const kinds = (values.kinds?.split(",") ?? [...SCENARIO_KINDS]) as ScenarioKind[]
  for (const k of kinds) if (!SCENARIO_KINDS.includes(k)) throw new BenchUsageError(`unknown family "${k}" in --kinds (use ${SCENARIO_KINDS.join(", ")})`)
  const config = readConfigOverlay(values.config, traders, network)
  const raw = values["step-seconds"] as string
  const stepSeconds = decimalInteger("step-seconds", raw)
  if (stepSeconds > MAX_STEP_SECONDS) throw new BenchUsageError(`--step-seconds must be at most ${MAX_STEP_SECONDS} (6 hours), got "${raw}"`)
  return { help: false, count, baseSeed, workers, traders, network, kinds, config, stepSeconds }
}

/**
 * How `count` paths fall on `kinds` families taken in turn, for the scorecard's title: "100 per family",
 * "1-2 per family", or "1 per family in 2 of 11 families: gbm, jumps" when there are fewer paths than families.
 */
export function pathsPerFamily(count: number, kinds: readonly ScenarioKind[]): string {
  if (count < kinds.length) return `1 per family in ${count} of ${kinds.length} families: ${kinds.slice(0, count).join(", ")}`
  const low = Math.floor(count / kinds.length)
  return count % kinds.length === 0 ? `${low} per family` : `${low}-${low + 1} per family`
}
