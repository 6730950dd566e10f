import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, lcg, lin, minutePath } from "./paths.testing.js"

// Review rv64: does the autopilot itself land a boost below its target (which, with rescueBelowTarget, now starts no
// cooldown) and then rescue in band right after it? Rally shapes; both traders.
const T0 = 1_700_000_000
function rally(up: number, m: number, down: number, seed: number) {
  const r = lcg(seed)
  let p = calm(360, 3000, r)
  p = [...p, ...lin(p.at(-1) as number, (p.at(-1) as number) * (1 + up), m)]
  p = [...p, ...calm(30, p.at(-1) as number, r, 0.002)]
  p = [...p, ...lin(p.at(-1) as number, (p.at(-1) as number) * (1 - down), m)]
  p = [...p, ...calm(240, p.at(-1) as number, r, 0.002)]
  return minutePath(p, T0)
}
describe("rv64: boost below the target then an in-band rescue", () => {
  it("the autopilot's own boosts land at or above the target (rally shapes, both traders), so none is followed by an in-band rescue at once", { timeout: 600_000 }, () => {
    const rows: string[] = []
    let pairs = 0
    let boostsBelow = 0
    const boosts: number[] = []
    for (const [cn, cfg] of Object.entries({ noIdle: resolveBacktestConfig(TRADERS["no-idle"]), buffered: resolveBacktestConfig() }))
      for (const up of [0.15, 0.3, 0.5])
        for (const m of [5, 30, 120])
          for (const down of [0, 0.1, 0.2])
            for (const seed of [1, 2]) {
              const events: BacktestEvent[] = []
              runBacktest(rally(up, m, down, seed), cfg, "autopilot", { trace: (e) => events.push(e) })
              const ops = events.filter((e) => e.kind === "swap" || e.kind === "rebalance")
              ops.forEach((e, i) => {
                if ((e.healthBefore ?? 0) > 1.7) boosts.push(e.healthAfter ?? 0)
                if ((e.healthBefore ?? 0) > 1.7 && (e.healthAfter ?? 9) < 1.4) {
                  boostsBelow++
                  const next = ops[i + 1]
                  const quick = next !== undefined && next.time - e.time < 300 && (next.healthBefore ?? 0) >= 1.15 && (next.healthAfter ?? 0) > (next.healthBefore ?? 0)
                  if (quick) pairs++
                  rows.push(`${cn} up ${up} m ${m} down ${down} seed ${seed}: boost ${e.healthBefore?.toFixed(3)} -> ${e.healthAfter?.toFixed(3)} at ${(e.time - T0) / 60}; next ${next === undefined ? "-" : `${next.healthBefore?.toFixed(3)} -> ${next.healthAfter?.toFixed(3)} at ${(next.time - T0) / 60}`}${quick ? "  <== rescue within 300 s" : ""}`)
                }
              })
            }
    rows.push(`boosts: ${boosts.length}, lowest landing ${Math.min(...boosts).toFixed(4)}`)
    rows.push(`boosts landing below the target: ${boostsBelow}; followed by a deleverage within 300 s: ${pairs}`)
    expect(boosts.length, rows.join("\n")).toBeGreaterThan(0)
    expect(boostsBelow, rows.join("\n")).toBe(0)
    expect(pairs).toBe(0)
  })
})
