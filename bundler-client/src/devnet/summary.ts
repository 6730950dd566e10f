import { type DemoAsset, type DemoPosition, type DemoSafe, demoAssets, demoPositionsOf } from "./env.js"
import { type DemoRun, type NetValueSample, type PositionSample, type StepSample, tokenAmount } from "./run.js"

/**
 * One Safe at the end of a run: its whole net value (positions + vaults + idle tokens, USDC at the last oracle prices)
 * and at the start, and its positions in token units.
 */
export type SafeOutcome = {
  /** Lowest health (human) over the sampled steps of its positions not yet liquidated and the health each liquidation happened at. */
  minHealth: number
  liquidations: number
  /** Whole net value at the end and at the start, USDC. */
  netValue: NetValueSample
  startNetValue: number
  /** Position equity alone (collateral value - debt), USDC: not comparable between the Safes on its own. */
  positionEquity: number
  /** Per sub-account by name ("Morpho Blue WETH/USDC", "Aave v3 WETH/USDC"): its venue, collateral and debt in token units with symbols. */
  positions: Record<string, { venue: DemoPosition["venue"]; collateral: string; debt: string; minHealth: number; liquidations: number }>
}

/** The outcome of a demo run, as printed at the end of `levpilot start` and written to `--json`. */
export type DemoSummary = {
  scenario: string
  blocks: number
  durationMs: number
  managed: SafeOutcome & { healthyAtEnd: boolean }
  twin: SafeOutcome & { liquidated: boolean }
  /** Managed minus twin whole net value at the end, USDC. */
  netValueDifference: number
  rebalances: { count: number; failed: number; reverts: Record<string, number>; sponsored: number; gasUsed: number; medianLatencyBlocks: number | undefined; p95LatencyBlocks: number | undefined; medianLatencyMs: number | undefined }
  alerts: number
  /**
   * Per market, the AdaptiveCurveIrm's borrow APR (0.04 = 4%) at the first step, at the step with the lowest price (the
   * bottom of the crash) and at the end, and the utilisation (0..1) at the end.
   */
  markets: Record<DemoAsset, { aprStart: number; aprAtLow: number; aprEnd: number; utilizationEnd: number }>
  /** Managed Safe healthy all along and the twin liquidated: what the demo is meant to show. */
  ok: boolean
}

export const quantile = (values: readonly number[], q: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
}

const positions = (s: StepSample, label: DemoSafe["label"]) => Object.values(s.positions[label]) as PositionSample[]

/** The run's sub-accounts (the Morpho markets alone for a run recorded without them). */
export const positionsOfRun = (run: Pick<DemoRun, "positions">): DemoPosition[] => run.positions ?? demoPositionsOf(false)

/**
 * Position equity of one Safe at a step in USDC: collateral value minus debt over its positions (Morpho markets and the
 * Aave account) only. The Safes' comparison uses their whole net value ({@link NetValueSample}), since the keeper
 * moves funds between vaults and positions.
 *
 * @returns Equity in USDC.
 */
export function positionEquity(s: StepSample, label: DemoSafe["label"], list: readonly DemoPosition[] = demoPositionsOf(false)): number {
  let equity = 0
  for (const { key, asset } of list) {
    const p = s.positions[label][key]
    if (p) equity += p.collateral * s.prices[asset] - p.debt
  }
  return equity
}

/**
 * Summarises a run.
 *
 * @returns {@link DemoSummary}
 */
export function summarizeDemo(run: DemoRun): DemoSummary {
  // The minimum includes each liquidation's health just before it (the liquidator's record, WAD): the liquidator acts
  // between two samples, so the sampled healths alone stop above 1 (review rr13u U6). One source: the same readings for
  // the Safe and for each position.
  const liquidatedAt = (label: DemoSafe["label"], name?: string) =>
    run.liquidations.filter((l) => l.label === label && (name === undefined || l.marketName === name) && typeof l.health === "bigint").map((l) => Number(l.health) / 1e18)
  const minHealth = (label: DemoSafe["label"]) => Math.min(...run.steps.flatMap((s) => positions(s, label).filter((p) => !p.liquidated).map((p) => p.health)), ...liquidatedAt(label))
  const last = run.steps.at(-1)
  const managedLiq = run.liquidations.filter((l) => l.label === "managed").length
  const twinLiq = run.liquidations.filter((l) => l.label === "twin").length
  const latencies = run.rebalances.filter((r) => r.success).map((r) => r.latencyBlocks)
  const latencyMs = run.rebalances.filter((r) => r.success).map((r) => r.latencyMs)
  const healthyAtEnd = last ? positions(last, "managed").every((p) => p.health >= 1) : false
  const list = positionsOfRun(run)
  const outcome = (label: DemoSafe["label"], liquidations: number): SafeOutcome => {
    const held: SafeOutcome["positions"] = {}
    if (last)
      for (const { key, asset, venue, name } of list) {
        const p = last.positions[label][key]
        if (!p) continue
        const min = Math.min(...run.steps.map((s) => s.positions[label][key]).filter((q) => q !== undefined && !q.liquidated).map((q) => (q as PositionSample).health), ...liquidatedAt(label, name))
        const liquidations = run.liquidations.filter((l) => l.label === label && l.marketName === name).length
        held[name] = { venue, collateral: tokenAmount(p.collateral, asset), debt: tokenAmount(p.debt, "USDC"), minHealth: min, liquidations }
      }
    return {
      minHealth: minHealth(label),
      liquidations,
      netValue: last?.netValue[label] ?? { positions: 0, pools: {}, idle: {}, total: 0 },
      startNetValue: run.steps[0]?.netValue[label].total ?? 0,
      positionEquity: last ? positionEquity(last, label, list) : 0,
      positions: held,
    }
  }
  const managed = outcome("managed", managedLiq)
  const twin = outcome("twin", twinLiq)
  return {
    scenario: run.scenario,
    blocks: run.steps.length > 0 ? (run.steps.at(-1)?.block ?? 0) - (run.steps[0]?.block ?? 0) + 1 : 0,
    durationMs: run.durationMs,
    managed: { ...managed, healthyAtEnd },
    twin: { ...twin, liquidated: twinLiq > 0 },
    netValueDifference: managed.netValue.total - twin.netValue.total,
    rebalances: {
      count: run.rebalances.length,
      failed: run.rebalances.filter((r) => !r.success).length,
      reverts: run.rebalances.filter((r) => !r.success).reduce<Record<string, number>>((a, r) => {
        const key = r.revert ?? "unknown"
        a[key] = (a[key] ?? 0) + 1
        return a
      }, {}),
      sponsored: run.rebalances.filter((r) => r.paymaster !== undefined).length,
      gasUsed: run.rebalances.reduce((a, r) => a + r.gasUsed, 0),
      medianLatencyBlocks: quantile(latencies, 0.5),
      p95LatencyBlocks: quantile(latencies, 0.95),
      medianLatencyMs: quantile(latencyMs, 0.5),
    },
    alerts: run.alerts.length,
    markets: marketRates(run),
    ok: managedLiq === 0 && healthyAtEnd && twinLiq > 0,
  }
}

function marketRates(run: DemoRun): DemoSummary["markets"] {
  const out = {} as DemoSummary["markets"]
  for (const asset of demoAssets) {
    const first = run.steps[0]
    const last = run.steps.at(-1)
    const low = run.steps.reduce<StepSample | undefined>((a, s) => (a === undefined || s.prices[asset] < a.prices[asset] ? s : a), undefined)
    out[asset] = {
      aprStart: first?.markets[asset].borrowApr ?? 0,
      aprAtLow: low?.markets[asset].borrowApr ?? 0,
      aprEnd: last?.markets[asset].borrowApr ?? 0,
      utilizationEnd: last?.markets[asset].utilization ?? 0,
    }
  }
  return out
}

/** A fraction as a percentage with two decimals. */
export const percent = (x: number) => `${(x * 100).toFixed(2)}%`

const money = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 })

/**
 * A Safe's net value as one line: total, then positions per market, vaults and idle tokens, in token units.
 *
 * @returns e.g. "net value 52,300.12 USDC (start 52,400.00 USDC) = positions 27,661.20 USDC [Morpho Blue WETH/USDC
 * (morpho-blue) 5.9000 WETH collateral, 10,234.56 USDC debt; Aave v3 WETH/USDC (aave-v3) ...] + yUSDC vault 24,638.92 USDC + idle 0.50 USDC".
 */
export function formatNetValue(o: SafeOutcome): string {
  const held = Object.entries(o.positions).map(([name, p]) => `${name} (${p.venue}) ${p.collateral} collateral, ${p.debt} debt`)
  const vaults = Object.entries(o.netValue.pools).filter(([, p]) => p.amount > 0).map(([symbol, p]) => `${symbol} vault ${tokenAmount(p.amount, p.asset)}`)
  const idle = Object.entries(o.netValue.idle).filter(([, amount]) => amount > 0).map(([symbol, amount]) => tokenAmount(amount, symbol))
  return (
    `net value ${tokenAmount(o.netValue.total, "USDC")} (start ${tokenAmount(o.startNetValue, "USDC")}) = positions ${tokenAmount(o.netValue.positions, "USDC")} [${held.join("; ")}]` +
    `${vaults.length > 0 ? ` + ${vaults.join(" + ")}` : ""} + idle ${idle.length > 0 ? idle.join(", ") : "none"}`
  )
}

/**
 * The summary as text.
 *
 * @returns Lines for the terminal.
 */
export function formatSummary(s: DemoSummary): string {
  const h = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "no debt")
  return [
    "",
    `Summary: ${s.scenario}, ${s.blocks} blocks in ${(s.durationMs / 1000).toFixed(1)} s`,
    `  managed Safe: min health ${h(s.managed.minHealth)}, liquidations ${s.managed.liquidations}, ${formatNetValue(s.managed)}`,
    `  unmanaged twin: min health ${h(s.twin.minHealth)}, liquidations ${s.twin.liquidations}, ${formatNetValue(s.twin)}`,
    ...Object.entries(s.managed.positions).map(([name, p]) => {
      const twin = s.twin.positions[name]
      return `  ${name} [venue ${p.venue}]: managed min health ${h(p.minHealth)}${p.liquidations > 0 ? `, liquidated ${p.liquidations} time(s)` : ""}; twin ${twin ? `min health ${h(twin.minHealth)}${twin.liquidations > 0 ? `, liquidated ${twin.liquidations} time(s)` : ", not liquidated"}` : "-"}`
    }),
    `  whole net value, managed - twin: ${s.netValueDifference >= 0 ? "+" : "-"}${tokenAmount(Math.abs(s.netValueDifference), "USDC")}`,
    `  rebalances: ${s.rebalances.count} (${s.rebalances.failed} reverted${revertText(s.rebalances.reverts)}, ${s.rebalances.sponsored} paid by the paymaster), gas ${money(s.rebalances.gasUsed)}, ` +
      `latency median ${s.rebalances.medianLatencyBlocks ?? "-"} blocks / ${s.rebalances.medianLatencyMs ?? "-"} ms, p95 ${s.rebalances.p95LatencyBlocks ?? "-"} blocks`,
    `  alerts: ${s.alerts}`,
    `  borrow APR (AdaptiveCurveIrm) at start / crash low / end: ` +
      demoAssets.map((a) => `${a} ${percent(s.markets[a].aprStart)} / ${percent(s.markets[a].aprAtLow)} / ${percent(s.markets[a].aprEnd)} (utilisation ${percent(s.markets[a].utilizationEnd)})`).join(", "),
    s.ok ? "  RESULT: the managed Safe stayed healthy; the unmanaged twin was liquidated." : `  RESULT: not the expected outcome: ${missed(s).join("; ")}.`,
    "",
  ].join("\n")
}

/** Reverts by reason, e.g. ": NoTrigger() x1 (the price recovered before inclusion)". */
function revertText(reverts: Record<string, number>): string {
  const entries = Object.entries(reverts)
  if (entries.length === 0) return ""
  const why: Record<string, string> = {
    "NoTrigger()": "the price recovered before inclusion; the module refuses a rebalance that is no longer needed",
  }
  return `: ${entries.map(([reason, n]) => `${reason} x${n}${why[reason] ? ` (${why[reason]})` : ""}`).join(", ")}`
}

/** Which expectations of the demo were not met. */
function missed(s: DemoSummary): string[] {
  const out: string[] = []
  if (s.managed.liquidations > 0) out.push(`the managed Safe was liquidated ${s.managed.liquidations} time(s)`)
  if (!s.managed.healthyAtEnd) out.push("the managed Safe ended below health 1")
  if (!s.twin.liquidated) out.push("the unmanaged twin was never liquidated (the prices may not fall far enough)")
  return out
}
