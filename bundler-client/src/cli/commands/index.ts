import type { Command } from "../command.js"
import { backtestCommand } from "./backtest.js"
import { keeperCommand } from "./keeper.js"
import { startCommand } from "./start.js"
import { statusCommand } from "./status.js"

/**
 * Every `levpilot` subcommand, in help order. To add one, create `src/cli/commands/<name>.ts` exporting a
 * {@link Command} and append it here (its help's Usage lines must name every option its Options list: cli.test.ts).
 */
export const commands: readonly Command[] = [backtestCommand, startCommand, keeperCommand, statusCommand]
