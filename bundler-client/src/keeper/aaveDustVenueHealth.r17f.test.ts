import { describe, expect, it } from "vitest"
import { atInclusion, solve } from "../solver/solver.js"
import { venueHealthOf } from "../solver/state.js"
import { assessSubAccount } from "../solver/workingPortfolio.js"
import { type DustShape, DUST_SHAPES, dustAccount, dustCases, dustSnapshotOf } from "./aaveDust.testing.js"
import { h } from "./testing.js"

// Residual of review rr17c F1 (SECURITY row of rr17c): after fx17e the solver's floor gap and its rule check assume
// Aave's floor on a dust account, but `venueHealthOf` (the solver's trigger, urgency and landing-zone base) still
// rebuilt Aave's factor from the frame: a dust collateral at a lower threshold worth a few ppb of the account hides in
// the 1e-9 float rounding and the frame's 9,500 was kept where Aave floors the average to 9,499 (up to 1 / 9,500 high).
// The issue requires the keeper's health to equal Aave's own `getUserAccountData` factor, which the lens already reads
// (`MarketState.health`). Model as planRules.aaveDust.rr17c.test.ts: Aave v3.0.2 GenericLogic per-reserve values
// floored to the 8-decimal base currency, average threshold floored to whole bps, factor rounded half up; the adapter's
// frame as AaveV3Adapter.marketState builds it.

const WAD = 10n ** 18n
type Shape = DustShape
const SHAPES = DUST_SHAPES
const account = dustAccount
const snapshotOf = dustSnapshotOf
const cases = (m: Shape, n: number, seed: number) => dustCases(m, n, seed, 1.05, 0.75)

describe("r17f: the solver's Aave health on a dust account is Aave's own factor", () => {
  for (const m of SHAPES)
    it(`${m.name}: venueHealthOf equals getUserAccountData's factor (400 random accounts, 10 USD to 1e7 USD)`, () => {
      const all = cases(m, 400, 1_717)
      // The shape does hit the floor: some accounts' Aave average is the bps below the market's threshold.
      expect(all.filter((x) => x.average < m.lt).length).toBeGreaterThan(50)
      const bad = all
        .map((x) => ({ k: x.k, usd: x.usd.toFixed(2), aave: Number(x.health) / 1e18, solver: venueHealthOf(snapshotOf(m, x.frame).input.subAccounts[0]?.state as never) }))
        .filter((x) => x.solver !== x.aave)
      expect(bad.slice(0, 3)).toEqual([])
    })

  it("rr17c's account (3.5M USD wstETH e-mode + 0.002 USD at 8,000): Aave 5e-5 below minHealth triggers the rescue", () => {
    const m = SHAPES[0] as Shape
    const c = (3_500_000n * 10n ** 18n) / 3_500n
    const dust = 200_000n // 0.002 USD
    // Debt so that Aave's factor is 1.1 x (1 - 5e-5): the frame (9,500) reads 1.1 x (1 + 5.5e-5).
    const main = (c * m.pc) / 10n ** 18n
    const aimed = ((main + dust) * 9_499n * WAD) / 10_000n
    const td = (aimed * 1_000_000n) / ((h(1.1) * 999_950n) / 1_000_000n) / 1_000_000n
    const d = (td * 10n ** 18n) / m.pd + 1n
    const a = account(m, c, dust, d)
    expect(a.average).toBe(9_499n)
    const aave = Number(a.health) / 1e18
    expect(aave).toBeLessThan(1.1)
    const snapshot = snapshotOf(m, a.frame)
    const s = snapshot.input.subAccounts[0]?.state
    expect(s === undefined ? 0 : (s.collateral * s.price * s.lltv) / s.debt).toBeGreaterThan(1.1) // the frame's read
    expect(assessSubAccount(snapshot.input, 0).low).toBe(true)
    expect(assessSubAccount(snapshot.input, 0).h0).toBe(aave)
  })

  it("rr17c's account, end to end: the solver repays from idle WETH and Aave's factor after lands in the landing zone", () => {
    const m = SHAPES[0] as Shape
    const c = (3_500_000n * 10n ** 18n) / 3_500n
    const dust = 200_000n
    const main = (c * m.pc) / 10n ** 18n
    const td = (((main + dust) * 9_499n * WAD) / 10_000n) * 1_000_000n / ((h(1.1) * 999_950n) / 1_000_000n) / 1_000_000n
    const d = (td * 10n ** 18n) / m.pd + 1n
    const a = account(m, c, dust, d)
    const snapshot = snapshotOf(m, a.frame, undefined, 500n * 10n ** 18n)
    const { plan } = solve(snapshot.input)
    const repay = plan?.actions.find((x) => x.kind === "Repay")
    expect(repay).toBeDefined()
    // Aave's factor after (GenericLogic on the repaid debt) in the module's landing zone from Aave's factor before.
    const after = Number(account(m, c, dust, d - (repay?.amountBase ?? 0n)).health) / 1e18
    const before = Number(a.health) / 1e18
    expect(after).toBeGreaterThanOrEqual(Math.max(1.1, before + (1.3 - 1.1) / 2))
    expect(after).toBeLessThanOrEqual(1.3 + (1.5 - 1.3) / 2)
  })

  it("at the price expected at inclusion (atInclusion, a falling trend) the estimate is never above Aave's factor there", () => {
    const m = SHAPES[0] as Shape
    const f = Math.exp(-0.002)
    let floored = 0
    for (const x of cases(m, 200, 99)) {
      const snapshot = snapshotOf(m, x.frame)
      const sub = snapshot.input.subAccounts[0]
      if (sub === undefined) throw new Error("no sub-account")
      const moved = atInclusion({ ...snapshot.input, subAccounts: [{ ...sub, inclusionDrift: Math.log(f) }] }).subAccounts[0]?.state
      // Aave at the moved price (the main reserve's price only; the dust reserve's stays).
      const pc = BigInt(Math.floor(Number(m.pc) * f))
      const after = account({ ...m, pc }, x.c, x.dust, x.d)
      if (after.average < m.lt) floored++
      expect(venueHealthOf(moved as never)).toBeLessThanOrEqual((Number(after.health) / 1e18) * (1 + 1e-9))
    }
    expect(floored).toBeGreaterThan(20)
  })
})
