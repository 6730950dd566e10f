import { describe, expect, it } from "vitest"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { calm, lcg, minutePath } from "./paths.testing.js"

/*
 * Issue 13 (SECURITY.md row 150; module `_recordUsage`): an in-band rescue starts no cooldown, so a gap right after it
 * is rescued from below the band at once. Path: 6 h calm at 3,000; a one-minute gap of 20 % (both strategies rescued:
 * threshold to 1.40, the autopilot to about 1.48); 4 h later another 20 % (threshold rescued from 1.12 to 1.40, so the
 * band rule's health, the autopilot's shadow, is 1.40; the autopilot at 1.19 is inside its band under it: an in-band
 * rescue); three minutes later a one-minute gap of 28 % takes it below the band. With the default cooldown (300 s) the
 * rescue of that gap lands 3 minutes after the in-band rescue; with the cooldown started by the in-band rescue (the
 * bookkeeping before this rule, seen failing) it waited the cooldown out.
 */
const T0 = 1_700_000_000

function path(seed: number) {
  const r = lcg(seed)
  let ps = calm(360, 3000, r)
  ps = [...ps, ...calm(240, (ps.at(-1) as number) * 0.8, r)]
  ps = [...ps, ...calm(3, (ps.at(-1) as number) * 0.8, r)]
  ps = [...ps, ...calm(240, (ps.at(-1) as number) * 0.72, r)]
  return minutePath(ps, T0)
}

describe("an in-band rescue starts no cooldown (backtest engine, as the module)", () => {
  it("a gap three minutes after an in-band rescue is rescued before the policy's 300 s cooldown has passed", () => {
    for (const seed of [1, 2, 3]) {
      const config = resolveBacktestConfig()
      expect(config.policy.cooldown).toBe(300)
      const events: BacktestEvent[] = []
      const result = runBacktest(path(seed), config, "autopilot", { trace: (e) => events.push(e) })
      const landed = events.filter((e) => (e.kind === "rebalance" || e.kind === "swap") && e.time > T0 + 350 * 60)
      const inBand = landed.find((e) => e.healthBefore !== undefined && e.healthBefore >= 1.15 && e.healthBefore < 1.4)
      expect(inBand, `seed ${seed}: an in-band rescue after the dip`).toBeDefined()
      const rescue = landed.find((e) => e.time > (inBand as BacktestEvent).time && e.healthBefore !== undefined && e.healthBefore < 1.15)
      expect(rescue, `seed ${seed}: a rescue from below the band after the gap`).toBeDefined()
      expect((rescue as BacktestEvent).time - (inBand as BacktestEvent).time).toBeLessThan(300)
      expect(result.liquidations).toBe(0)
    }
  })
})
