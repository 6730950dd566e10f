import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { gapGrid as gapGridPath } from "./paths.testing.js"

// Review rv64: issue 13's rule on staircases / gapGrid shapes (autopilot liquidated where threshold is not).
// Found by a scan of 675 gapGrid shapes x {no-idle, buffered} (rates 1-3 %/min x 4-9 min, first gap -6..-15 % held 1-5
// minutes, second gap -10..-20 %) and 200 staircases: these five were the only autopilot-only liquidations.
const T0 = 1_700_000_000
const NO_IDLE_DEFAULT = resolveBacktestConfig(TRADERS["no-idle"])
const gapGrid = (rate: number, n: number, g1: number, k: number, g2: number) => gapGridPath(rate, n, g1, k, g2, T0)

// PRE-EXISTING (not from stop 64: the same with 368bae29's solver and mirror): a -18 % ramp (any rate), a -7..-8 % gap
// held 1 minute, then -15 % (no-idle, sale-minimum default). The autopilot (de-risked to 1.527 at minute 2) decides an
// in-band rescue at 368 (health 1.25, zone [1.4, 1.55]); the gap lands it at 1.343 from 1.1516 (still in band), under
// the in-band zone's floor (the target): HealthOutsideLandingZone, nothing moves, and the -15 % gap at 370 liquidates
// it (0.9788). Threshold, below the band at 369 (1.056), lands its rescue in the wider below-band zone (1.197) and
// survives (1.0173). From 1.1499 the same landing (1.343 >= max(1.15, before + 0.125)) would have been accepted.
// Fixed in stop 64 by the module: the in-band landing zone's low edge is before + (target - min) / 2, continuous with
// the zone below the band at minHealth (SECURITY.md row 153), so that landing (1.343 >= 1.1516 + 0.125) is accepted.
const PINNED = [[0.02, 9, -0.08, 1, -0.15], [0.03, 6, -0.08, 1, -0.15], [0.02, 9, -0.07, 1, -0.15], [0.02, 9, -0.07, 1, -0.18], [0.015, 12, -0.075, 1, -0.15]] as const
describe("rv64: the in-band floor class (issue 13 rule; fixed in stop 64)", () => {
  for (const g of PINNED) {
    it(`gapGrid ${JSON.stringify(g)} no-idle: threshold survives`, () => {
      const th = runBacktest(gapGrid(g[0], g[1], g[2], g[3], g[4]), NO_IDLE_DEFAULT, "threshold")
      expect(th.liquidations).toBe(0)
    })
    it(`fixed (stop 64, the in-band zone continuous at minHealth): gapGrid ${JSON.stringify(g)} no-idle: the autopilot survives too`, () => {
      const p = gapGrid(g[0], g[1], g[2], g[3], g[4])
      const ap = runBacktest(p, NO_IDLE_DEFAULT, "autopilot")
      expect(ap.liquidations).toBe(0)
    })
  }
})

// Review rv64b B1 (stop 64): with the continuous zone alone, a rescue that a -8 % gap at inclusion landed at 1.343
// (under the target, above the band rule's 1.197) rested there and the -26 % / -30 % gap three minutes later liquidated
// it, where the refused plan had been re-sized to 1.47 before the change; six such shapes of x52's grid (both
// strategies liquidated, 74 -> 80). The rest of that rescue is owed now (engine `rescueOwed`, keeper
// `VolatilityFeed.withBandShadow`): on x52's grid both liquidated 80 -> 65, autopilot-only 0.
describe("rv64b B1: a rescue that landed short of the target is finished", () => {
  for (const g of [[0.02, 9, -0.08, 3, -0.26], [0.02, 9, -0.08, 3, -0.3], [0.03, 6, -0.08, 2, -0.26]] as const)
    it(`gapGrid ${JSON.stringify(g)} no-idle: the autopilot survives (threshold does not)`, () => {
      const p = gapGrid(g[0], g[1], g[2], g[3], g[4])
      expect(runBacktest(p, NO_IDLE_DEFAULT, "threshold").liquidations).toBeGreaterThan(0)
      expect(runBacktest(p, NO_IDLE_DEFAULT, "autopilot").liquidations).toBe(0)
    })
})
