import { parseArgs } from "node:util"
import type { ParseArgsConfig } from "node:util"
import { ensureRepositoryContracts, readDecimalInteger } from "../src/cli/command.js"

/*
 * What the repository's bench scripts share about their command lines (backtest:suite, bench:fleet, bench:latency,
 * bench:gas:devnet): a usage error that names the option and the value, decimal integers, and the run-time contract
 * of every one of them: options read and checked BEFORE any contract build, devnet or server, `--help` prints the usage
 * and exits 0, a bad command line is one line on stderr and exit 2 (as levpilot's CLI).
 */

/** A command line a bench cannot run; `message` names the option and the value given. The script exits 2. */
export class BenchUsageError extends Error {
  override name = "BenchUsageError"
}

/**
 * A safe integer written in decimal digits: `positive` (>= 1, digits only) or `any` (an optional minus sign).
 * `1e3`, `0x10`, `1.5`, `""` and integers beyond 2^53 are refused (Number() would read the first two as 1000 and 16).
 *
 * @throws {BenchUsageError} naming `--name` and the value.
 */
export function decimalInteger(name: string, value: string, rule: "positive" | "any" = "positive"): number {
  const read = readDecimalInteger(value, rule)
  if ("problem" in read) throw new BenchUsageError(`--${name} must be ${read.problem}`)
  return read.value
}

/**
 * A non-empty value (a file name), or undefined when the option is absent.
 *
 * @throws {BenchUsageError} for an empty or blank value.
 */
export function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && value.trim() === "") throw new BenchUsageError(`--${name} needs a value, got ""`)
  return value
}

/**
 * Node's `parseArgs`, strict and without positionals, with `help: { type: "boolean" }` added.
 *
 * @returns The option values (defaults filled in) and `help`.
 * @throws {BenchUsageError} An unknown option, a positional argument, a missing value (Node's own message:
 *   "Unknown option '--x'", "Unexpected argument 'y'", "Option '--n <value>' argument missing").
 */
export function parseBenchOptions<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options: { ...options, help: { type: "boolean" } } }).values
  } catch (error) {
    throw new BenchUsageError(error instanceof Error ? error.message : String(error))
  }
}

/**
 * A bench script's first step: reads its command line with `parse`. On `--help` prints `usage` to stdout and exits 0;
 * on a {@link BenchUsageError} prints `<script>: <message>` and a pointer to `--help` to stderr and exits 2 (no stack).
 * Other errors propagate.
 *
 * @param script - The npm script's name (`bench:latency`), for the messages.
 * @param helpCommand - The command the error's second line points to (default `npm run <script> -- --help`).
 * @returns The checked arguments.
 */
export function readBenchCommandLine<T>(
  script: string,
  usage: string,
  parse: (argv: string[]) => { help: true } | ({ help: false } & T),
  argv: string[] = process.argv.slice(2),
  helpCommand = `npm run ${script} -- --help`,
): T {
  let parsed: { help: true } | ({ help: false } & T)
  try {
    parsed = parse(argv)
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error
    process.stderr.write(`${script}: ${error.message}\nSee ${helpCommand}.\n`)
    process.exit(2)
  }
  if (parsed.help) {
    process.stdout.write(usage)
    process.exit(0)
  }
  return parsed
}

/**
 * Builds forge's out/ when missing or changed (scripts/ensure-contracts.mjs; nothing with `FORGE_OUT` set), once the
 * command line is known good. On failure prints `<script>: <message>` and exits 1.
 */
export async function ensureContractsOrExit(script: string): Promise<void> {
  try {
    // The benches run only in the repository, where the script exists.
    await ensureRepositoryContracts()
  } catch (error) {
    process.stderr.write(`${script}: ${(error as Error).message}\n`)
    process.exit(1)
  }
}
