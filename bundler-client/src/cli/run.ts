import { CliUsageError } from "./command.js"
import type { CliIo, Command } from "./command.js"
import { commands as registered } from "./commands/index.js"

/**
 * Top-level help text listing every registered command.
 *
 * @param commands - The command registry.
 * @returns Help text.
 */
export function topLevelHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    "levpilot: leverage autopilot keeper, solver and backtester",
    "",
    "Usage: levpilot <command> [options]",
    "       levpilot <command> --help",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Options:",
    "  -h, --help     Show this help.",
    "",
  ].join("\n")
}

/**
 * Dispatch a command line to the registered command and turn errors into exit codes: 2 for usage
 * errors, 1 for any other error (its message printed, no stack trace unless LEVPILOT_DEBUG is set).
 *
 * @param argv - Arguments after `levpilot`.
 * @param io - Output sinks.
 * @param commands - Registry (defaults to `commands/index.ts`).
 * @returns Process exit code.
 * @example await runCli(["backtest", "--generate", "10"], { out: process.stdout.write.bind(process.stdout), err: console.error })
 */
export async function runCli(argv: string[], io: CliIo, commands: readonly Command[] = registered): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    io.out(topLevelHelp(commands))
    return name === undefined ? 2 : 0
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    io.err(`levpilot: unknown command "${name}". Commands: ${commands.map((c) => c.name).join(", ")}. See levpilot --help.\n`)
    return 2
  }
  if (rest.includes("-h") || rest.includes("--help")) {
    io.out(command.help)
    return 0
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    if (error instanceof CliUsageError) {
      io.err(`levpilot ${command.name}: ${error.message}\nSee levpilot ${command.name} --help.\n`)
      return 2
    }
    if (error instanceof Error) {
      // viem's BaseError (which the keeper's own errors extend) ends every message with "Version: viem@x": noise
      // under a configuration or connection error, misread as a version problem; LEVPILOT_DEBUG's stack keeps it.
      const message = process.env.LEVPILOT_DEBUG ? error.message : error.message.replace(/\n+Version: viem@\S+\s*$/, "")
      io.err(`levpilot ${command.name}: ${error.name}: ${message}\n`)
      if (process.env.LEVPILOT_DEBUG) io.err(`${error.stack}\n`)
      return 1
    }
    throw error
  }
}
