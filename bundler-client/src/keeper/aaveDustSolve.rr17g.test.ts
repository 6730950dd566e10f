import { expect, it } from "vitest"
import { solve } from "../solver/solver.js"
import { random } from "./aaveMath.testing.js"
import { type DustShape, DUST_SHAPES, dustAccount, dustCases, dustSnapshotOf } from "./aaveDust.testing.js"

// Review rr17g (held-out, passing): real solver plans on dust Aave accounts judged by Aave's exact factor. Helpers
// shared with aaveDustVenueHealth.r17f.test.ts in aaveDust.testing.ts (cases: debt for Aave health 1.0 to 1.5).
// Background, residual of review rr17c F1 (SECURITY row of rr17c): after fx17e the solver's floor gap and its rule check assume
// Aave's floor on a dust account, but `venueHealthOf` (the solver's trigger, urgency and landing-zone base) still
// rebuilt Aave's factor from the frame: a dust collateral at a lower threshold worth a few ppb of the account hides in
// the 1e-9 float rounding and the frame's 9,500 was kept where Aave floors the average to 9,499 (up to 1 / 9,500 high).
// The issue requires the keeper's health to equal Aave's own `getUserAccountData` factor, which the lens already reads
// (`MarketState.health`). Model as planRules.aaveDust.rr17c.test.ts: Aave v3.0.2 GenericLogic per-reserve values
// floored to the 8-decimal base currency, average threshold floored to whole bps, factor rounded half up; the adapter's
// frame as AaveV3Adapter.marketState builds it.

type Shape = DustShape
const SHAPES = DUST_SHAPES
const account = dustAccount
const snapshotOf = dustSnapshotOf
const cases = (m: Shape, n: number, seed: number) => dustCases(m, n, seed, 1.0, 0.5)
/** Case `x` with the main reserve's price moved by `exp(drift)`: that price (`pcAt`), Aave's account at it and its factor (float). */
function atDrift(m: Shape, x: { c: bigint; dust: bigint; d: bigint }, drift: number) {
  const pcAt = BigInt(Math.floor(Number(m.pc) * Math.exp(drift)))
  const at = account({ ...m, pc: pcAt }, x.c, x.dust, x.d)
  return { pcAt, at, h0: Number(at.health) / 1e18 }
}

// Review rr17g: real solver plans on random dust accounts below the band (idle loan token to repay from), at the read
// price and at the price expected at inclusion (a falling drift moves the main reserve only), judged by Aave's exact
// factor after (GenericLogic on the repaid debt) against the module's landing zone from Aave's factor before.
for (const drift of [0, -0.003])
  for (const m of SHAPES)
    it(`rr17g: ${m.name}, drift ${drift}: the solver's repay lands Aave's factor in the landing zone (200 accounts)`, () => {
      const band = { min: 1.1, target: 1.3, max: 1.5 }
      const bad: string[] = []
      let planned = 0
      for (const x of cases(m, 200, 4_242)) {
        // Only accounts Aave reads below the band at inclusion.
        const { pcAt, h0 } = atDrift(m, x, drift)
        if (!(h0 < band.min) || h0 < 1.0) continue
        const snapshot = snapshotOf(m, x.frame, band, x.d)
        const sub = snapshot.input.subAccounts[0]
        if (sub === undefined) throw new Error("no sub-account")
        const input = drift === 0 ? snapshot.input : { ...snapshot.input, subAccounts: [{ ...sub, inclusionDrift: drift }] }
        const { plan } = solve(input)
        const repay = plan?.actions.filter((a) => a.kind === "Repay").reduce((t, a) => t + (a.amountBase ?? 0n), 0n) ?? 0n
        if (repay === 0n) {
          bad.push(`#${x.k} ${x.usd.toFixed(0)} USD h0 ${h0}: no repay`)
          continue
        }
        planned++
        const after = Number(account({ ...m, pc: pcAt }, x.c, x.dust, x.d - repay).health) / 1e18
        const low = Math.max(band.min, h0 + (band.target - band.min) / 2)
        const high = band.target + (band.max - band.target) / 2
        if (after < low || after > high) bad.push(`#${x.k} ${x.usd.toFixed(0)} USD dust ${x.dust} h0 ${h0}: after ${after} outside [${low}, ${high}]`)
      }
      expect(planned).toBeGreaterThan(10)
      expect(bad.slice(0, 4)).toEqual([])
    })

// A dust Aave donor drawn down by a large Morpho rescue: its borrow is sized to its lower edge from Aave's factor;
// Aave's exact factor after must stay inside the band (the module's donor check reads it).
for (const drift of [0, -0.003])
  for (const m of SHAPES)
    it(`rr17g: ${m.name}, drift ${drift}: a dust Aave donor's borrow keeps Aave's factor in the band (200 accounts)`, () => {
      const band = { min: 1.1, target: 1.3, max: 1.5 }
      const bad: string[] = []
      let planned = 0
      const r = random(77)
      for (const x of cases(m, 200, 4_343)) {
        const { pcAt, h0 } = atDrift(m, x, drift)
        if (!(h0 > band.min) || !(h0 < band.max)) continue
        const snapshot = snapshotOf(m, x.frame, band)
        const sub = snapshot.input.subAccounts[0]
        if (sub === undefined) throw new Error("no sub-account")
        const donor = { ...sub, ...(drift === 0 ? {} : { inclusionDrift: drift }), state: { ...sub.state, borrowable: 1e30 } }
        // A Morpho target, same loan token, at health 1.0 to 1.08, owing about the donor's debt.
        const debtT = sub.state.debt * (0.2 + r() * 2)
        const target = {
          ...sub,
          inclusionDrift: undefined,
          state: { id: `0x${"7".repeat(64)}`, loanAsset: sub.state.loanAsset, collateralAsset: "0x00000000000000000000000000000000000000d9", loanDecimals: sub.state.loanDecimals, collateralDecimals: 18, collateral: (debtT * (1 + r() * 0.08)) / 0.86, debt: debtT, lltv: 0.86, price: 1 },
        }
        const { plan } = solve({ ...snapshot.input, subAccounts: [target, donor] as never })
        const idx = plan?.subAccounts.findIndex((id) => id === sub.state.id) ?? -1
        const borrow = plan?.actions.filter((a) => a.kind === "Borrow" && a.subAccount === idx).reduce((t, a) => t + (a.amountBase ?? 0n), 0n) ?? 0n
        if (borrow === 0n) continue
        planned++
        const after = Number(account({ ...m, pc: pcAt }, x.c, x.dust, x.d + borrow).health) / 1e18
        if (after < band.min || after > band.max) bad.push(`#${x.k} ${x.usd.toFixed(0)} USD dust ${x.dust} h0 ${h0}: after ${after}`)
      }
      expect(planned).toBeGreaterThan(10)
      expect(bad.slice(0, 4)).toEqual([])
    })

// Funds just enough for the landing zone's low end: the solver must aim exactly at Aave's edge (its floor gap), or
// plan nothing; a plan must land Aave's exact factor at or above the low end.
for (const drift of [0, -0.003])
  for (const m of SHAPES)
    it(`rr17g: ${m.name}, drift ${drift}: idle just above the landing zone's low end: a repay lands Aave's factor at or above it`, () => {
      const band = { min: 1.1, target: 1.3, max: 1.5 }
      const bad: string[] = []
      let planned = 0
      const r = random(5)
      for (const x of cases(m, 300, 4_444)) {
        const { pcAt, at, h0 } = atDrift(m, x, drift)
        if (!(h0 < band.min) || h0 < 1.0) continue
        const low = Math.max(band.min, h0 + (band.target - band.min) / 2)
        // Debt (loan units) at which Aave's factor is `low`, plus 0 to 3 bps of it as idle.
        const tc = Number((x.c * pcAt) / 10n ** BigInt(m.dc) + x.dust)
        const tdLow = (tc * Number(at.average)) / 10_000 / low
        const need = Number(x.d) - (tdLow * 10 ** m.dl) / Number(m.pd)
        const idle = BigInt(Math.floor(need * (1 + r() * 3e-4)))
        const snapshot = snapshotOf(m, x.frame, band, idle)
        const sub = snapshot.input.subAccounts[0]
        if (sub === undefined) throw new Error("no sub-account")
        const input = drift === 0 ? snapshot.input : { ...snapshot.input, subAccounts: [{ ...sub, inclusionDrift: drift }] }
        const { plan } = solve(input)
        const repay = plan?.actions.filter((a) => a.kind === "Repay").reduce((t, a) => t + (a.amountBase ?? 0n), 0n) ?? 0n
        if (repay === 0n) continue
        planned++
        const after = Number(account({ ...m, pc: pcAt }, x.c, x.dust, x.d - repay).health) / 1e18
        if (after < low) bad.push(`#${x.k} ${x.usd.toFixed(0)} USD dust ${x.dust} h0 ${h0}: after ${after} < low ${low}`)
      }
      expect(planned).toBeGreaterThan(5)
      expect(bad.slice(0, 4)).toEqual([])
    })
