import type { Command } from "../command.js"
import { backtestCommand } from "./backtest.js"
import { keeperCommand } from "./keeper.js"
import { startCommand } from "./start.js"
import { statusCommand } from "./status.js"

/**
 * Every `levpilot` subcommand, in help order. To add one (e.g. `start`, `keeper`, `status`, `bench`),
 * create `src/cli/commands/<name>.ts` exporting a {@link Command} and append it here.
 */
export const commands: readonly Command[] = [backtestCommand, startCommand, keeperCommand, statusCommand]
