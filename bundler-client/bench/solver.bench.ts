import { cpus } from "node:os"
import { firstPassageProbability, liquidationProbability } from "../src/risk/firstPassage.js"
import { simulateFirstPassage } from "../src/risk/jumpDiffusion.js"
import { solve } from "../src/solver/solver.js"
import { randomSolverInput } from "../src/solver/testing.js"
import { quantiles, writeReport } from "./report.js"

type Row = { name: string; value: number; unit: string; target: string; pass: boolean; detail: string }

function benchPlan(): Row {
  const inputs = Array.from({ length: 20 }, (_, k) => randomSolverInput(100 + k, 50, 20))
  for (let w = 0; w < 3; w++) for (const i of inputs) solve(i)
  const times: number[] = []
  let actions = 0
  let plans = 0
  for (let r = 0; r < 10; r++) {
    for (const i of inputs) {
      const t = performance.now()
      const result = solve(i)
      times.push(performance.now() - t)
      if (result.plan !== undefined) {
        plans++
        actions += result.plan.actions.length
      }
    }
  }
  const q = quantiles(times)
  return {
    name: "plan, 50 sub-accounts x 20 pools (median)",
    value: q.median,
    unit: "ms",
    target: "<= 5 ms",
    pass: q.median <= 5,
    detail: `p95 ${q.p95.toFixed(2)} ms over ${times.length} solves of 20 seeded portfolios; ${plans} plans, ${(actions / Math.max(plans, 1)).toFixed(1)} actions each`,
  }
}

function benchClosedForm(): Row[] {
  const n = 5_000_000
  let sink = 0
  for (let i = 0; i < 200_000; i++) sink += firstPassageProbability(0.001 + (i % 997) * 1e-4, 0.8, 0.05, 1 / 365)
  let t = performance.now()
  for (let i = 0; i < n; i++) sink += firstPassageProbability(0.001 + (i % 997) * 1e-4, 0.3 + (i % 13) * 0.1, (i % 7) * 0.1 - 0.3, 1 / 365)
  const gbm = n / ((performance.now() - t) / 1000)
  const jumps = { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 }
  t = performance.now()
  for (let i = 0; i < n; i++) sink += liquidationProbability(1.001 + (i % 997) * 1e-3, { sigma: 0.3 + (i % 13) * 0.1, jumps }, 1 / 365)
  const withJumps = n / ((performance.now() - t) / 1000)
  if (sink === 42) console.log("")
  return [
    { name: "closed-form first passage (GBM)", value: gbm, unit: "evals/s", target: ">= 1,000,000", pass: gbm >= 1_000_000, detail: `${n.toLocaleString("en-US")} evaluations over a grid of distance, sigma, drift` },
    { name: "closed-form with jump term", value: withJumps, unit: "evals/s", target: "(info)", pass: true, detail: "liquidationProbability with a Merton jump prior" },
  ]
}

function benchMonteCarlo(): Row[] {
  const base = { paths: 100_000, steps: 96, horizonYears: 1 / 365, sigma: 0.8, logDistance: Math.log(1.08) }
  const run = (jumps: boolean): { median: number; p: number; se: number } => {
    const times: number[] = []
    let p = 0
    let se = 0
    for (let r = 0; r < 5; r++) {
      const t = performance.now()
      const res = simulateFirstPassage({ ...base, seed: r + 1, jumps: jumps ? { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 } : undefined })
      times.push(performance.now() - t)
      p = res.probability
      se = res.standardError
    }
    return { median: quantiles(times).median, p, se }
  }
  run(false)
  const merton = run(true)
  const gbm = run(false)
  return [
    { name: "Monte Carlo 100,000 paths x 96 steps, Merton", value: merton.median, unit: "ms", target: "<= 250 ms", pass: merton.median <= 250, detail: `median of 5; P(hit) ${merton.p.toFixed(4)} +- ${merton.se.toFixed(4)}` },
    { name: "Monte Carlo 100,000 paths x 96 steps, GBM", value: gbm.median, unit: "ms", target: "<= 250 ms", pass: gbm.median <= 250, detail: `median of 5; P(hit) ${gbm.p.toFixed(4)} +- ${gbm.se.toFixed(4)} (Brownian-bridge corrected)` },
  ]
}

const rows = [benchPlan(), ...benchClosedForm(), ...benchMonteCarlo()]
const fmt = (r: Row): string => (r.unit === "evals/s" ? Math.round(r.value).toLocaleString("en-US") : r.value.toFixed(2))
const widths = [Math.max(...rows.map((r) => r.name.length)), Math.max(...rows.map((r) => fmt(r).length)), 7, 13, 4]
console.log(`solver benchmark (node ${process.version}, ${cpus().length} cpu, ${cpus()[0]?.model ?? "unknown"})`)
console.log(["benchmark".padEnd(widths[0] as number), "value".padStart(widths[1] as number), "unit".padEnd(7), "target".padEnd(13), "ok"].join("  "))
for (const r of rows) console.log([r.name.padEnd(widths[0] as number), fmt(r).padStart(widths[1] as number), r.unit.padEnd(7), r.target.padEnd(13), r.pass ? "yes" : "NO", r.detail].join("  "))
const path = writeReport("solver-bench.json", { benchmark: "solver", date: new Date().toISOString(), node: process.version, cpus: cpus().length, rows })
console.log(`wrote ${path}`)
