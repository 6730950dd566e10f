import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** Where a command writes its output (injectable for tests). */
export type CliIo = {
  /** Normal output. */
  out: (text: string) => void
  /** Diagnostics and errors. */
  err: (text: string) => void
}

/** One `levpilot` subcommand. Add a file under `src/cli/commands/` and list it in `commands/index.ts`. */
export type Command = {
  /** Name typed after `levpilot`. */
  name: string
  /** One-line summary for `levpilot --help`. */
  summary: string
  /** Full help text for `levpilot <name> --help`, documenting every flag. */
  help: string
  /**
   * Run the command.
   *
   * @param argv - Arguments after the command name.
   * @param io - Output sinks.
   * @returns Process exit code.
   */
  run: (argv: string[], io: CliIo) => Promise<number>
}

/** Raised for a wrong command line; the CLI prints it with a pointer to --help and exits with code 2. */
export class CliUsageError extends Error {
  override name = "CliUsageError"
  /**
   * @param command - Command name ("" for the top level).
   * @param detail - What is wrong.
   */
  constructor(
    readonly command: string,
    detail: string,
  ) {
    super(detail)
  }
}

/**
 * `value` as a safe integer written in decimal digits, or the reason it is not one (the message after "--name must be").
 * `positive`: >= 1, digits only; `any`: an optional minus sign. `1e3`, `0x10`, `1.5`, `""` and integers beyond 2^53 are
 * refused (Number() would read the first two as 1000 and 16; helper nu49). One reader for the CLI and the bench scripts,
 * each wrapping the reason in its own usage error.
 */
export function readDecimalInteger(value: string, rule: "positive" | "any" = "positive"): { value: number } | { problem: string } {
  const n = Number(value)
  const form = rule === "positive" ? /^[0-9]+$/ : /^-?[0-9]+$/
  if (!form.test(value) || !Number.isSafeInteger(n) || (rule === "positive" && n <= 0))
    return { problem: `${rule === "positive" ? "a positive" : "an"} integer written in decimal digits, got "${value}"` }
  return { value: n }
}

/**
 * Builds the repository's contracts if their artifacts are missing or stale (scripts/ensure-contracts.mjs, loaded by
 * URL as bin/levpilot.mjs does). Returns false, doing nothing, where the script is absent (an installed package, which
 * ships its artifacts). One loader for `levpilot start` and the bench scripts.
 *
 * @throws whatever the build throws (forge missing, a compile error).
 */
export async function ensureRepositoryContracts(): Promise<boolean> {
  const script = new URL("../../../scripts/ensure-contracts.mjs", import.meta.url)
  if (!existsSync(fileURLToPath(script))) return false
  const { ensureContracts } = (await import(script.href)) as { ensureContracts: () => void }
  ensureContracts()
  return true
}
