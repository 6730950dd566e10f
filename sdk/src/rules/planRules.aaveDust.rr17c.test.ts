import { describe, expect, it } from "vitest"
import { aaveFrameHealthRange } from "./planRules.js"
import { type AaveDustShape, DUST_SHAPES, dustMoveCases } from "./rules.testing.js"

// Review rr17c (issue 17, after 3a996b9 / rr17b B1). Held-out inputs for aaveFrameHealthRange: a main collateral
// reserve (the frame's) plus a second reserve of small value at another threshold, loan/collateral decimals 6/8/18,
// e-mode (9,500) or not (8,100 / 8,250). Model (rules.testing.ts aaveAccount, as planRules.aave18.rr17b.test.ts):
// Aave v3.0.2 GenericLogic per-reserve values floored to base currency (8 decimals); the adapter's frame as AaveV3Adapter.marketState builds it
// (collateral = weighted over the threshold and price, floored; debt = max(ceil of totalDebtBase, exact balance);
// equity floored; price floored).

type Shape = AaveDustShape
const SHAPES = DUST_SHAPES

/** Random accounts (10 USD to 1e7 USD of main collateral, factor 1.05-1.8), a dust reserve of 0 to ~3e-8 of the account, a random move. */
const cases = (m: Shape, n: number, seed: number, withHealth: boolean) => dustMoveCases(m, n, seed, (u) => 10 ** (1 + u * 6), withHealth)
const rel = (x: bigint, y: bigint) => (Number(x) - Number(y)) / Number(y)

const SEED = 1_717
const N = 2_000
const badOf = (m: Shape, withHealth: boolean) =>
  cases(m, N, SEED, withHealth)
    .filter((x) => x.usd >= 100 && (rel(x.low, x.exact) > 1e-6 || rel(x.high, x.exact) < -1e-6))
    .map((x) => ({ k: x.k, usd: x.usd.toFixed(2), dustPpb: Number((x.dust * 10n ** 9n) / x.main), lowRel: rel(x.low, x.exact), highRel: rel(x.high, x.exact) }))

describe("rr17c: rule book vs Aave's factor with a small second collateral at a lower threshold (accounts >= 100 USD)", () => {
  // Held at 3a996b9: with Aave's factor before (`health`, the SDK's validateRebalance path) no whole-bps error either way.
  for (const m of SHAPES)
    it(`${m.name}, with the factor before: low never a bps above Aave's factor, high never a bps below`, () => {
      expect(badOf(m, true).slice(0, 3)).toEqual([])
    })
  // rr17c F1: without it (the solver's own rule check, bundler-client policyRules: no `health`), the 1e-9-of-the-account
  // allowance takes a lower-threshold reserve of a few ppb into the "average = the market's threshold" shortcut and
  // the low end is 1 bps (~1.05e-4 to 1.3e-4) above Aave's factor (333 to 1,634 of 2,000 cases per shape, seed 1,717).
  for (const m of SHAPES)
    it(`rr17c F1: ${m.name}, without the factor before: low never a bps above Aave's factor`, () => {
      expect(badOf(m, false).slice(0, 3)).toEqual([])
    })
})
