import type { ScenarioKind } from "../prices/generator.js"
import { MIN_APY_SPAN_SECONDS } from "./engine.js"
import type { StrategyResult } from "./engine.js"
import type { StrategyTotals } from "./suite.js"

type Row = StrategyResult | StrategyTotals
type Column = [string, (r: Row) => string]

function money(x: number): string {
  return Number.isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: 0 }) : String(x)
}

function ratio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "inf"
}

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`
}

const LIQUIDATIONS: Column = ["liq.", (r) => String(r.liquidations)]
const LIQUIDATION_LOSS: Column = ["liq. loss", (r) => money(r.liquidationLoss)]
const LIKE_FOR_LIKE: Column = ["like-for-like", (r) => money(r.liquidationLossLikeForLike)]
const NET_PNL: Column = ["net P&L", (r) => money(r.netPnl)]
/** A span under a day, for the APY cell: "2 min", "5.5 h". */
export function shortSpan(seconds: number): string {
  return seconds < 3_600 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3_600).toFixed(1)} h`
}

// null: the path spans under a day (engine.ts, MIN_APY_SPAN_SECONDS), "n/a" with the span.
const APY: Column = ["APY", (r) => (r.apy !== null ? percent(r.apy) : r.spanSeconds < MIN_APY_SPAN_SECONDS ? `n/a (${shortSpan(r.spanSeconds)})` : "n/a")]
const INTEREST: Column = ["interest", (r) => money(r.carry.interest)]
const YIELD: Column = ["yield", (r) => money(r.carry.poolYield + r.carry.collateralYield)]
const SWAP_COST: Column = ["swap fee+impact", (r) => money(r.carry.swapFees + r.carry.swapImpact)]
const SERVICE: Column = ["svc+auto fees", (r) => money(r.carry.serviceFees + r.carry.automationFees)]
const POOL_FEES: Column = ["pool fees", (r) => money(r.carry.poolFees)]
const GAS: Column = ["gas", (r) => money(r.gasCost)]

const DETAIL: Column[] = [
  ["strategy", (r) => r.strategy],
  LIQUIDATIONS,
  LIQUIDATION_LOSS,
  LIKE_FOR_LIKE,
  ["penalty", (r) => money(r.liquidationPenalty)],
  ["lev. mean", (r) => ratio(r.leverage.mean)],
  ["median", (r) => ratio(r.leverage.median)],
  ["p95", (r) => ratio(r.leverage.p95)],
  ["min health", (r) => (Number.isFinite(r.minHealth) ? r.minHealth.toFixed(3) : "inf")],
  ["rebal.", (r) => String(r.rebalances)],
  ["swaps", (r) => String(r.swaps)],
  ["rejected", (r) => String(r.rejectedRebalances)],
  INTEREST,
  YIELD,
  SWAP_COST,
  SERVICE,
  POOL_FEES,
  GAS,
  ["final equity", (r) => money(r.finalEquity)],
  NET_PNL,
  APY,
]

function table(columns: Column[], rows: ReadonlyArray<Row & { family?: string }>, title?: string): string {
  const cells = rows.map((r) => columns.map(([, f]) => f(r)))
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)))
  const line = (values: string[]): string => values.map((v, i) => (i === 0 || (i === 1 && columns[0]?.[0] === "family") ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join("  ")
  const out = [line(columns.map(([h]) => h)), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)]
  if (title !== undefined) out.unshift(title)
  return `${out.join("\n")}\n`
}

/**
 * Render strategy rows as an aligned text table: liquidations, liquidation loss (against the same strategy replayed without
 * liquidations), the like-for-like loss (the seized collateral's missed recovery) and the penalty,
 * leverage (mean, median, p95), minimum health, rebalances, swaps, rejected operations, carry (interest, yield, swap
 * fee and impact, service and automation fees, pool entry/exit fees, gas), final equity, net P&L and APY ("n/a (2 min)"
 * for a path under a day: `apy` null). Amounts in loan units; for suite totals, counts and costs are sums and equity,
 * P&L and APY means per path.
 *
 * @param rows - One row per strategy (a single path's results or suite totals).
 * @param title - Optional heading.
 * @returns The table, newline-terminated.
 */
export function formatStrategyTable(rows: ReadonlyArray<Row>, title?: string): string {
  return table(DETAIL, rows, title)
}

/**
 * The scorecard: per scenario family and strategy, liquidations, liquidation loss (rerun and like for like), net P&L and APY (means per path),
 * and the carry columns (sums over the family's paths).
 *
 * @param byKind - Totals per family.
 * @param totals - Totals over every family (printed last as "all").
 * @param title - Optional heading.
 * @returns The table, newline-terminated.
 */
export function formatScorecard(byKind: Partial<Record<ScenarioKind, StrategyTotals[]>>, totals: StrategyTotals[], title?: string): string {
  const rows: (StrategyTotals & { family: string })[] = []
  for (const [kind, list] of Object.entries(byKind)) for (const r of list) rows.push({ ...r, family: kind })
  for (const r of totals) rows.push({ ...r, family: "all" })
  const columns: Column[] = [
    ["family", (r) => (r as StrategyTotals & { family: string }).family],
    ["strategy", (r) => r.strategy],
    ["paths", (r) => String((r as StrategyTotals).paths)],
    LIQUIDATIONS,
    LIQUIDATION_LOSS,
    LIKE_FOR_LIKE,
    NET_PNL,
    APY,
    ["lev. median", (r) => ratio(r.leverage.median)],
    INTEREST,
    YIELD,
    SWAP_COST,
    SERVICE,
    POOL_FEES,
    GAS,
  ]
  return table(columns, rows, title)
}
