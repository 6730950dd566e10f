import { describe, expect, it } from "vitest"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import { depegHold } from "./paths.testing.js"

/*
 * Review rv63 (issue 13, stop 63 + he63). rr13w W3's 20x pair (LLTV 0.945 at health 1.05, band [1.02, 1.1], no in-band
 * rescue) on `depegHold(drop, minutes, seed)`, as issue13.s63.test.ts, with the policy's cooldown and the pool's size
 * varied. Every case here failed on main a605f753 (expectations written as they should hold). M1 is fixed by stop 63's
 * final form (the pool-aided exit aims at the zone's middle, no trend read); M2 is a named cost, pinned failing. L1
 * (review's third finding: a prefunded fixed take's PoolNotUsed came at fills where the MARKET fell while the 0.5 %
 * deviation oracle had not moved) is not pinned: the held side is relative to the oracle the module checks the sale's
 * minimum at, which held there; the next plan is sized at that read oracle, as after SaleExceedsRepayment
 * (docs/sale-minimum-repayment.md, "Stop 63").
 */
const ID = "0x00000000000000000000000000000000000000000000000000000000000000e1"
const POOL = "0x00000000000000000000000000000000000000a1"
const T1 = 1_700_006_400
const pair = (venue: "morpho-blue" | "aave-v3", cooldown: number, pool = 100_000) =>
  resolveBacktestConfig({
    subAccounts: [{ id: ID, asset: "ETH", lltv: 0.945, equity: 100_000, initialHealth: 1.05, ...(venue === "aave-v3" ? { venue } : {}) }],
    policy: { minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.1, rescueBelowTarget: false, cooldown },
    pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: pool, withdrawable: pool, slippageBps: 1 }],
    risk: { initialSigma: 0.05, jumps: { intensity: 5, meanLog: -0.01, sigmaLog: 0.01 } },
  })

describe("rv63 M1: the cap-bound exit's trend lift reads the oracle's trend, which is 0 on a ramp slower than the oracle's deviation per minute, so with a longer cooldown the s63 class stays autopilot-only", () => {
  // 14 % over 90 minutes (0.16 %/min), held. Cooldown 600: both survive. Cooldown 900 / 1200: threshold (pool rescue to
  // 1.05 every cooldown) survives; the autopilot's exit (Morpho, 1200 s: at 54 min, 8,600 from the pool, landed 1.0335)
  // is liquidated at 74 min, a minute before its next rescue may land. Results identical with stop 63's lift removed
  // (aim = allowed.min) and with its zone-middle cap removed: the engine's TrendEstimator observes the ORACLE price
  // (0.5 % deviation), which moves every third minute on this ramp, so the median step rate, `risk.trend`, is 0 for the
  // whole ramp (replayed: 0 at every 5-minute mark of 14 %/90 and 20 %/90; on 14 %/60 it flickers 0 / 2x the true rate;
  // on s63's 14 %/30 it alternates 0 and about 2x, -4,855 vs -2,642 per year, minute by minute).
  for (const venue of ["morpho-blue", "aave-v3"] as const)
    for (const cooldown of [900, 1200])
      for (const seed of [51, 52])
        it(`fixed (stop 63, was FAILS on a605f753): ${venue}, cooldown ${cooldown} s, depegHold(0.14, 90 min, seed ${seed}): threshold survives, the autopilot too`, () => {
          const p = depegHold(0.14, 90, seed, T1)
          expect(runBacktest(p, pair(venue, cooldown), "threshold").liquidations).toBe(0)
          expect(runBacktest(p, pair(venue, cooldown), "autopilot").liquidations).toBe(0)
        })
})

describe("rv63 M2: on Aave with a 30,000 pool the raised exit aim turns an early liquidation into a wipe-out below threshold", () => {
  // 14 % over 30 minutes, held, cooldown 1200 s: both strategies are liquidated. Without stop 63's aim the autopilot
  // ends with 19,039 (seed 51) / 19,034 (seed 52), threshold 608 / 193; with it 83 / 120: the pool's part fed into the
  // position, then Aave's 50 % close-factor rounds take the rest (14 rounds against 17-18, but nothing kept). Final form
  // (zone's middle): the same shape; both strategies liquidated, the autopilot below threshold (pinned failing).
  for (const seed of [51, 52])
    it.fails(`FAILS TODAY (a named cost of stop 63's exit aim): aave-v3, cooldown 1200 s, pool 30,000, depegHold(0.14, 30 min, seed ${seed}): the autopilot ends no poorer than threshold`, () => {
      const p = depegHold(0.14, 30, seed, T1)
      const threshold = runBacktest(p, pair("aave-v3", 1200, 30_000), "threshold")
      const autopilot = runBacktest(p, pair("aave-v3", 1200, 30_000), "autopilot")
      expect(autopilot.finalEquity).toBeGreaterThanOrEqual(threshold.finalEquity)
    })
})
