import { mkdirSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { type DemoPositionKey, type DemoSafe, demoAssets } from "./env.js"
import type { DemoRun } from "./run.js"
import { tokenAmount } from "./run.js"
import { type DemoSummary, formatNetValue, percent, positionsOfRun } from "./summary.js"

type Line = { name: string; color: string; dash?: string | undefined; points: [number, number | undefined][] }

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * A line chart as inline SVG: undefined values break the line (a liquidated or debt-free position).
 *
 * @returns The `<svg>` element.
 */
export function svgLineChart({ title, lines, yMin, yMax, markers = [], guides = [] }: { title: string; lines: Line[]; yMin: number; yMax: number; markers?: { x: number; label: string; color: string }[]; guides?: { y: number; label: string }[] }): string {
  const W = 860
  const H = 280
  const L = 56
  const R = 150
  const T = 28
  const B = 34
  const xs = lines.flatMap((l) => l.points.map(([x]) => x))
  const x0 = Math.min(...xs)
  const x1 = Math.max(...xs, x0 + 1)
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R)
  const sy = (y: number) => T + (1 - (Math.min(Math.max(y, yMin), yMax) - yMin) / (yMax - yMin)) * (H - T - B)
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`]
  parts.push(`<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`)
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${Number(y.toPrecision(4))}</text>`)
  }
  for (const g of guides) parts.push(`<line x1="${L}" x2="${W - R}" y1="${sy(g.y)}" y2="${sy(g.y)}" stroke="#c00" stroke-dasharray="2 3"/><text x="${W - R + 4}" y="${sy(g.y) + 4}" fill="#c00">${esc(g.label)}</text>`)
  for (const m of markers) parts.push(`<line x1="${sx(m.x)}" x2="${sx(m.x)}" y1="${T}" y2="${H - B}" stroke="${m.color}" stroke-opacity="0.35"><title>${esc(m.label)}</title></line>`)
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">block</text>`)
  for (let i = 0; i <= 5; i++) {
    const x = x0 + ((x1 - x0) * i) / 5
    parts.push(`<text x="${sx(x)}" y="${H - B + 14}" text-anchor="middle">${Math.round(x)}</text>`)
  }
  lines.forEach((line, k) => {
    let d = ""
    let pen = false
    for (const [x, y] of line.points) {
      if (y === undefined || !Number.isFinite(y)) {
        pen = false
        continue
      }
      d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)} `
      pen = true
    }
    parts.push(`<path d="${d}" fill="none" stroke="${line.color}" stroke-width="2"${line.dash ? ` stroke-dasharray="${line.dash}"` : ""}/>`)
    parts.push(`<line x1="${W - R + 8}" x2="${W - R + 28}" y1="${T + 10 + k * 16}" y2="${T + 10 + k * 16}" stroke="${line.color}" stroke-width="2"${line.dash ? ` stroke-dasharray="${line.dash}"` : ""}/><text x="${W - R + 32}" y="${T + 14 + k * 16}">${esc(line.name)}</text>`)
  })
  parts.push("</svg>")
  return parts.join("")
}

const colors: Record<DemoSafe["label"], Record<DemoPositionKey, string>> = {
  managed: { WETH: "#1f77b4", WBTC: "#2ca02c", Aave: "#9467bd" },
  twin: { WETH: "#d62728", WBTC: "#ff7f0e", Aave: "#8c564b" },
}

/**
 * The HTML report of a demo run: the summary, charts of health, leverage and prices over time for both Safes (inline
 * SVG, no scripts), and the list of rebalances and liquidations.
 *
 * @returns The HTML document.
 */
export function renderHtmlReport(run: DemoRun, summary: DemoSummary): string {
  const series = (metric: "health" | "leverage") =>
    (["managed", "twin"] as const).flatMap((label) =>
      positionsOfRun(run).map(({ key, name }) => ({
        name: `${label} ${name}`,
        color: colors[label][key],
        dash: label === "twin" ? "6 3" : undefined,
        points: run.steps.map((s) => {
          const p = s.positions[label][key]
          return [s.block, p === undefined || p.liquidated || p.debt === 0 ? undefined : p[metric]] as [number, number | undefined]
        }),
      })),
    )
  const markers = [
    ...run.rebalances.map((r) => ({ x: r.block, label: `rebalance ${r.userOpHash}`, color: "#1f77b4" })),
    ...run.liquidations.map((l) => ({ x: Number(l.block), label: `liquidation of the ${l.label} Safe`, color: "#d62728" })),
  ]
  const healthMax = Math.max(2, ...series("health").flatMap((l) => l.points.map(([, y]) => (y !== undefined && Number.isFinite(y) ? Math.min(y, 4) : 0))))
  const levMax = Math.max(2, ...series("leverage").flatMap((l) => l.points.map(([, y]) => (y !== undefined && Number.isFinite(y) ? Math.min(y, 20) : 0))))
  const first = run.steps[0]
  const priceLines: Line[] = demoAssets.map((asset) => ({
    name: `${asset} (x start)`,
    color: asset === "WETH" ? "#555" : "#999",
    points: run.steps.map((s) => [s.block, s.prices[asset] / (first?.prices[asset] ?? 1)] as [number, number]),
  }))
  const row = (cells: (string | number)[]) => `<tr>${cells.map((c) => `<td>${esc(String(c))}</td>`).join("")}</tr>`
  const fmtH = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "no debt")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>levpilot start report</title>
<style>body{font-family:sans-serif;max-width:900px;margin:24px auto;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:12px;text-align:right}th{background:#f4f4f4}.ok{color:#080}.bad{color:#c00}</style>
</head><body>
<h1>leverage autopilot: local devnet run</h1>
<p>${esc(summary.scenario)}; ${summary.blocks} blocks in ${(summary.durationMs / 1000).toFixed(1)} s. Real anvil, EntryPoint v0.7, Safe 1.4.1, Morpho Blue with its AdaptiveCurveIrm (debt accrues interest)${positionsOfRun(run).some((p) => p.venue === "aave-v3") ? ", Aave v3 (the Safe's Aave account is a sub-account; its health is Aave's health factor)" : ""}, Alto bundler and a verifying paymaster.</p>
<table><tr><th>sub-account</th><th>venue</th><th>managed: min health</th><th>liquidations</th><th>twin: min health</th><th>liquidations</th></tr>
${Object.entries(summary.managed.positions)
  .map(([name, p]) => {
    const t = summary.twin.positions[name]
    return row([name, p.venue, fmtH(p.minHealth), p.liquidations, t ? fmtH(t.minHealth) : "-", t?.liquidations ?? "-"])
  })
  .join("\n")}
</table>
<p class="${summary.ok ? "ok" : "bad"}"><b>${summary.ok ? "The managed Safe stayed healthy; the unmanaged twin was liquidated." : "Not the expected outcome."}</b></p>
<table><tr><th></th><th>min health</th><th>liquidations</th><th>net value at the start</th><th>net value at the end</th><th>of which positions</th><th>vaults</th><th>idle tokens</th></tr>
${(["managed", "twin"] as const)
  .map((label) => {
    const o = summary[label]
    const vaults = Object.entries(o.netValue.pools).filter(([, p]) => p.amount > 0).map(([symbol, p]) => `${symbol}: ${tokenAmount(p.amount, p.asset)}`).join(", ")
    const idle = Object.entries(o.netValue.idle).filter(([, a]) => a > 0).map(([symbol, a]) => tokenAmount(a, symbol)).join(", ")
    return row([label === "managed" ? "managed Safe" : "unmanaged twin", fmtH(o.minHealth), o.liquidations, tokenAmount(o.startNetValue, "USDC"), tokenAmount(o.netValue.total, "USDC"), tokenAmount(o.netValue.positions, "USDC"), vaults || "none", idle || "none"])
  })
  .join("\n")}
</table>
<p>Whole net value (positions + vaults + idle tokens, at the last oracle prices), managed minus twin: ${esc(`${summary.netValueDifference >= 0 ? "+" : "-"}${tokenAmount(Math.abs(summary.netValueDifference), "USDC")}`)}.</p>
<p>Managed: ${esc(formatNetValue(summary.managed))}<br>Twin: ${esc(formatNetValue(summary.twin))}</p>
<p>Rebalances: ${summary.rebalances.count} (${summary.rebalances.sponsored} paid by the paymaster, ${summary.rebalances.failed} reverted), gas ${summary.rebalances.gasUsed.toLocaleString("en-US")}; reaction latency median ${summary.rebalances.medianLatencyBlocks ?? "-"} blocks (${summary.rebalances.medianLatencyMs ?? "-"} ms), p95 ${summary.rebalances.p95LatencyBlocks ?? "-"} blocks. Alerts: ${summary.alerts}.</p>
<table><tr><th>market</th><th>borrow APR at start</th><th>at the crash low</th><th>at the end</th><th>utilisation at the end</th></tr>
${demoAssets.map((a) => row([`${a}/USDC (AdaptiveCurveIrm)`, percent(summary.markets[a].aprStart), percent(summary.markets[a].aprAtLow), percent(summary.markets[a].aprEnd), percent(summary.markets[a].utilizationEnd)])).join("\n")}
</table>
${svgLineChart({ title: "Health over time (dashed: unmanaged twin; line ends at liquidation)", lines: series("health"), yMin: 0.8, yMax: healthMax, markers, guides: [{ y: 1, label: "liquidation" }] })}
${svgLineChart({ title: "Effective leverage over time", lines: series("leverage"), yMin: 1, yMax: levMax, markers })}
${svgLineChart({ title: "Oracle prices (relative to start)", lines: priceLines, yMin: 0.4, yMax: 1.2 })}
<h2>Rebalances</h2>
<table><tr><th>block</th><th>actions</th><th>gas</th><th>paid by</th><th>latency (blocks)</th><th>outcome</th></tr>
${run.rebalances.map((r) => row([r.block, r.actions.join("; "), r.gasUsed.toLocaleString("en-US"), r.paymaster ?? "Safe", r.latencyBlocks, r.success ? "executed" : `reverted: ${r.revert ?? "unknown"}`])).join("\n")}
</table>
<h2>Liquidations</h2>
<table><tr><th>block</th><th>Safe</th><th>sub-account</th><th>venue</th><th>health before</th><th>seized collateral</th><th>repaid debt</th><th>bad debt</th></tr>
${run.liquidations.map((l) => row([String(l.block), l.label, l.marketName, l.venue ?? "morpho-blue", (Number(l.health) / 1e18).toFixed(3), l.seized, l.repaid, l.badDebtText])).join("\n")}
</table>
</body></html>
`
}

/**
 * Writes the report, creating the directory.
 *
 * @returns The path written.
 */
export function writeHtmlReport(path: string, run: DemoRun, summary: DemoSummary): string {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, renderHtmlReport(run, summary))
  return path
}
