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
