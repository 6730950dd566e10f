import { describe, expect, it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { chainPath } from "./paths.testing.js"

/*
 * Helper he62 (issue 13, after stop 61's switch to the sale-minimum repayment): bk58's random chains (`chainPath`) where,
 * under the default, the autopilot's in-band rescue decided in a gap's minute was aimed at the margined floor of its zone
 * [1.4, 1.55] (1.4227: the gap's top margin, `landingMarginTop`, empties the rest, `underTop`), landed under the floor
 * after a -2.9 % minute (HealthOutsideLandingZone: the backtester fills 60 s after the decision, the margin covers the
 * live 24 s) and the next minute's gap liquidated it, where threshold's below-band rescue, in its wider zone, landed.
 * Under the mode such a rescue now aims at its zone's centre (`centredAim`, solver/workingPortfolio.ts).
 */
const T0 = 1_700_000_000
const BUFFERED = resolveBacktestConfig()
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])

describe("he62: a rescue whose landing margins meet aims at its zone's centre (sale-minimum repayment)", () => {
  const cases = [
    [1076, "buffered", BUFFERED, "the pool rescue decided at 398 landed at 1.381, liquidated at 400 (0.981)"],
    [1621, "buffered", BUFFERED, "the pool rescues decided at 386 and 387 landed at 1.389 and 1.3997, liquidated at 389 (0.900)"],
    [1076, "no-idle", NO_IDLE, "the sale decided at 398 landed at 1.361, liquidated at 400 (0.981); now aimed at 1.473, it lands at 1.401"],
  ] as const
  for (const [seed, trader, config, before] of cases)
    it(`fixed: random chain seed ${seed} (${trader}; before, ${before}): threshold and the autopilot survive`, () => {
      const p = chainPath(seed, T0)
      expect(runBacktest(p, config, "threshold").liquidations).toBe(0)
      expect(runBacktest(p, config, "autopilot").liquidations).toBe(0)
    })
})
