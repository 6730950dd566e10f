import { type DemoSafe, demoAssets } from "./env.js"
import { type DemoRun, type StepSample, tokenAmount } from "./run.js"
import { positionsOfRun } from "./summary.js"

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + " ".repeat(n - s.length))
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s)
const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "-")

/**
 * The live table of `levpilot start`: health and leverage per sub-account of both Safes, the last keeper action,
 * its gas and who paid, and the counters so far.
 *
 * @returns The table text (no ANSI codes; the caller clears the screen in TTY mode).
 */
export function renderTable(sample: StepSample, run: DemoRun, total: number): string {
  const lines: string[] = []
  lines.push(`levpilot start: ${run.scenario}`)
  lines.push(`${sample.step >= total ? "settling" : `step ${sample.step + 1}/${total}`}  block ${sample.block}  t=${(sample.timeMs / 1000).toFixed(1)}s  ` + demoAssets.map((a) => `${a} ${sample.prices[a].toFixed(0)} (borrow APR ${(sample.markets[a].borrowApr * 100).toFixed(2)}%)`).join("  "))
  lines.push("")
  lines.push(`${pad("Safe", 9)} ${pad("sub-account", 22)} ${pad("venue", 12)} ${lpad("health", 8)} ${lpad("leverage", 9)} ${lpad("collateral", 16)} ${lpad("debt", 17)}  state`)
  for (const label of ["managed", "twin"] as DemoSafe["label"][])
    for (const { key, asset, venue, name } of positionsOfRun(run)) {
      const p = sample.positions[label][key]
      if (!p) continue
      const state = p.liquidated ? "LIQUIDATED" : p.health < 1 ? "UNHEALTHY" : p.health < 1.25 ? "at risk" : "ok"
      lines.push(`${pad(label, 9)} ${pad(name, 22)} ${pad(venue, 12)} ${lpad(fmt(p.health), 8)} ${lpad(fmt(p.leverage, 2), 9)} ${lpad(tokenAmount(p.collateral, asset), 16)} ${lpad(tokenAmount(p.debt, "USDC"), 17)}  ${state}`)
    }
  lines.push("")
  lines.push(`net value (positions + vaults + idle): managed ${tokenAmount(sample.netValue.managed.total, "USDC")}, twin ${tokenAmount(sample.netValue.twin.total, "USDC")}`)
  const last = run.rebalances.at(-1)
  lines.push("")
  lines.push(
    last
      ? `last action: block ${last.block}  ${last.actions.join(", ")}  gas ${last.gasUsed.toLocaleString("en-US")}  paid by ${last.paymaster ? `paymaster ${last.paymaster.slice(0, 10)}…` : "the Safe"}  latency ${last.latencyBlocks} block(s)`
      : "last action: none yet",
  )
  lines.push(`rebalances ${run.rebalances.length}  sent ${run.sent}  liquidations: twin ${run.liquidations.filter((l) => l.label === "twin").length}, managed ${run.liquidations.filter((l) => l.label === "managed").length}  alerts ${run.alerts.length}`)
  const alert = run.alerts.at(-1)
  if (alert) lines.push(`last alert: ${alert.kind}: ${alert.message}`)
  lines.push("Ctrl-C stops everything.")
  return `${lines.join("\n")}\n`
}
