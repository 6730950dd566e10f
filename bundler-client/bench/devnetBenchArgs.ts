import { decimalInteger, nonEmpty, parseBenchOptions } from "./benchArgs.js"

/*
 * The command lines of `npm run bench:latency` and `npm run bench:gas:devnet`, read before the contract build and the
 * devnet (helper nu49: both ran `ensure-contracts` first, then `--help` started the devnet and `--shocks two` ran 0
 * shocks with NaN; bench:gas:devnet crashed on any flag but --out).
 */

/** `bench:latency`'s options, checked. */
export type LatencyArgs = {
  /** Price shocks (>= 1), alternately -20 % and +25 %. */
  shocks: number
  /** Seconds per devnet block (interval mining, integer >= 1). */
  blockTime: number
  /** The JSON report's path (relative: to the current directory, the repository root under npm run). */
  out: string
}

/** `bench:latency`'s `--help` text. */
export const latencyUsage = `Usage: npm run bench:latency -- [options]

Reaction latency of the keeper on the devnet (anvil with interval mining, Alto, the ERC-7677 paymaster): each shock
moves both oracle prices so the managed Safe leaves its band (alternately -20 % and +25 %); blocks and ms from the
oracle update to the keeper's rebalance included. Prints a table, writes the JSON report (figures: bundler-client/README.md).

Options:
  --shocks N       price shocks, an integer >= 1 (default 24)
  --block-time S   seconds per block, an integer >= 1 (default 1)
  --out FILE       the JSON report (default reports/latency.json)
  --help           this text
`

/**
 * Reads `bench:latency`'s command line, before anything is built or started.
 *
 * @param argv - The arguments after the script name (`process.argv.slice(2)`).
 * @returns `{ help: true }` for `--help`, else the checked {@link LatencyArgs}.
 * @throws {BenchUsageError} An unknown option, a positional argument, a missing value, `--shocks` or `--block-time`
 *   not a positive decimal integer (`0`, `two`, `1.5`, `1e2`), an empty `--out`: the message names the option and value.
 */
export function parseLatencyArgs(argv: string[]): { help: true } | ({ help: false } & LatencyArgs) {
  const values = parseBenchOptions(argv, {
    shocks: { type: "string", default: "24" },
    "block-time": { type: "string", default: "1" },
    out: { type: "string", default: "reports/latency.json" },
  })
  if (values.help === true) return { help: true }
  return {
    help: false,
    shocks: decimalInteger("shocks", values.shocks as string),
    blockTime: decimalInteger("block-time", values["block-time"] as string),
    out: nonEmpty("out", values.out as string) as string,
  }
}

/** `bench:gas:devnet`'s options, checked. */
export type SwapGasArgs = {
  /** The JSON report's path (relative: to the current directory, the repository root under npm run). */
  out: string
}

/** `bench:gas:devnet`'s `--help` text. */
export const swapGasUsage = `Usage: npm run bench:gas:devnet -- [options]

What a sponsored swap deleverage is billed on the devnet (anvil, Alto, the verifying paymaster, Uniswap v3): the
no-idle Safe of npm start rescued twice by one keeper UserOperation each; actualGasUsed split into preVerificationGas,
validation, execution, the unused-gas penalty and the EntryPoint's work, and the slots written from zero. Prints a
table, writes the JSON report (README.md, "Measured").

Options:
  --out FILE   the JSON report (default reports/gas-devnet.json)
  --help       this text
`

/**
 * Reads `bench:gas:devnet`'s command line, before anything is built or started.
 *
 * @param argv - The arguments after the script name (`process.argv.slice(2)`).
 * @returns `{ help: true }` for `--help`, else the checked {@link SwapGasArgs}.
 * @throws {BenchUsageError} An unknown option, a positional argument, a missing or empty `--out`.
 */
export function parseSwapGasArgs(argv: string[]): { help: true } | ({ help: false } & SwapGasArgs) {
  const values = parseBenchOptions(argv, { out: { type: "string", default: "reports/gas-devnet.json" } })
  if (values.help === true) return { help: true }
  return { help: false, out: nonEmpty("out", values.out as string) as string }
}
