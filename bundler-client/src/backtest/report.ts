import type { StrategyResult } from "./engine.js"
import type { StrategyTotals } from "./suite.js"

type Row = Pick<StrategyResult, "strategy" | "liquidations" | "liquidationLoss" | "timeAveragedLeverage" | "minHealth" | "rebalances" | "rejectedRebalances" | "gasUsed" | "gasCost" | "finalEquity">

const COLUMNS: Array<[string, (r: Row) => string]> = [
  ["strategy", (r) => r.strategy],
  ["liquidations", (r) => String(r.liquidations)],
  ["liq. loss", (r) => money(r.liquidationLoss)],
  ["avg leverage", (r) => r.timeAveragedLeverage.toFixed(3)],
  ["min health", (r) => (Number.isFinite(r.minHealth) ? r.minHealth.toFixed(3) : "inf")],
  ["rebalances", (r) => String(r.rebalances)],
  ["rejected", (r) => String(r.rejectedRebalances)],
  ["gas (units)", (r) => Math.round(r.gasUsed).toLocaleString("en-US")],
  ["gas cost", (r) => money(r.gasCost)],
  ["final equity", (r) => money(r.finalEquity)],
]

function money(x: number): string {
  return x.toLocaleString("en-US", { maximumFractionDigits: 0 })
}

/**
 * Render strategy rows as an aligned text table.
 *
 * @param rows - One row per strategy (a single path's results or suite totals).
 * @param title - Optional heading.
 * @returns The table, newline-terminated.
 */
export function formatStrategyTable(rows: ReadonlyArray<Row | StrategyTotals>, title?: string): string {
  const cells = rows.map((r) => COLUMNS.map(([, f]) => f(r)))
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)))
  const line = (values: string[]): string => values.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join("  ")
  const out = [line(COLUMNS.map(([h]) => h)), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)]
  if (title !== undefined) out.unshift(title)
  return `${out.join("\n")}\n`
}
