import type { Command } from "../command"
import { backtestCommand } from "./backtest"
import { keeperCommand } from "./keeper"
import { startCommand } from "./start"
import { statusCommand } from "./status"

/**
 * Every `levpilot` subcommand, in help order. To add one (e.g. `start`, `keeper`, `status`, `bench`),
 * create `src/cli/commands/<name>.ts` exporting a {@link Command} and append it here.
 */
export const commands: readonly Command[] = [backtestCommand, startCommand, keeperCommand, statusCommand]
