import { describe, expect, it } from "vitest"
import { resolveBacktestConfig } from "./config.js"
import { runBacktest } from "./engine.js"
import { chainPath } from "./paths.testing.js"

/*
 * Helper he63 (issue 13, after review rv62's M2): he62's centred aim (solver `centredAim`, workingPortfolio.ts) applied
 * only under the sale-minimum repayment (`SolverInput.saleMinimumRepayment`), which the backtester and the keeper set only
 * with swaps enabled. So a swap-less keeper's pool rescue whose landing margins empty its zone (an in-band rescue decided
 * in a gap's minute: the gap's top margin against the zone [1.4, 1.55]) was still aimed at the margined floor (1.4227),
 * landed under it after a 2-3 % minute (the backtester fills 60 s after the decision) and the next gap liquidated it,
 * where threshold's below-band rescue landed. The centred aim now applies to every rescue whose margins empty its zone.
 * bk58's chains 1-2,600, buffered, `swap.enabled: false`: autopilot-only 3 (1076, 1621, 2167) -> 0, liquidated paths
 * 190 -> 186 (500 too, where threshold is liquidated as well), none newly liquidated, rejected operations 365 -> 288,
 * final equity +13,609. The no-idle trader has no pool to rescue from without swaps (both strategies liquidated alike).
 */
const T0 = 1_700_000_000
const SWAPLESS = resolveBacktestConfig({ swap: { enabled: false } })

describe("he63: with swaps off, a pool rescue whose landing margins meet aims at its zone's centre too", () => {
  for (const seed of [1076, 1621, 2167])
    it(`fixed (he63; before, the autopilot was liquidated once): random chain seed ${seed} (buffered, swaps off): threshold and the autopilot survive, no sale planned`, () => {
      const p = chainPath(seed, T0)
      expect(runBacktest(p, SWAPLESS, "threshold").liquidations).toBe(0)
      const autopilot = runBacktest(p, SWAPLESS, "autopilot")
      expect(autopilot.liquidations).toBe(0)
      expect(autopilot.carry.swapFees).toBe(0)
    })
})
