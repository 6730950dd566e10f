import { expect, it } from "vitest"
import { DUST_SHAPES, type DustShape, dustAccount, dustSnapshotOf } from "./aaveDust.testing.js"
import { random } from "./aaveMath.testing.js"
import { solve } from "../solver/solver.js"

// Review rr17h (b): the solver's plans when its state carries Aave's base-currency figures (`aaveBase`, u17: its own
// rule check then reads Aave's factor after in Aave's integer math). Does it build a rescue the module refuses
// (HealthOutsideLandingZone / HealthOutOfBand: Aave's exact factor after outside the landing zone), or drop rescues it
// made without them? Model: aaveDust.testing.ts (Aave v3.0.2 GenericLogic, the adapter's frame, portfolioOf), a second
// collateral 0 to 100 % of the main one at the shape's lower threshold, Aave's factor 1.0 to 1.1 (band 1.1 / 1.3 / 1.5),
// 10 USD to 1e7 USD, no drift; the module's zone from Aave's factor before: [max(min, h0 + (target - min) / 2),
// target + (max - target) / 2]. Idle: ample (twice the debt), or 0 to 30 bps / 0 to 3 bps above the repayment that
// reaches the zone's low end exactly (the solver must aim at the edge or plan nothing).

const band = { min: 1.1, target: 1.3, max: 1.5 }

function baseOf(m: DustShape, c: bigint, other: bigint, d: bigint, frameCollateral: bigint) {
  const main = (c * m.pc) / 10n ** BigInt(m.dc)
  const total = main + other
  return {
    totalCollateralBase: total,
    totalDebtBase: (d * m.pd) / 10n ** BigInt(m.dl),
    currentLiquidationThreshold: (main * m.lt + other * m.ltDust) / total,
    collateralPrice: m.pc,
    collateralDecimals: m.dc,
    collateralBalance: c,
    debtPrice: m.pd,
    debtDecimals: m.dl,
    debtBalance: d,
    frameCollateral,
  }
}

for (const m of DUST_SHAPES)
  it(`rr17h (b): ${m.name}, other collateral 0-100 %: rescues planned with aaveBase land Aave's exact factor inside the landing zone, and none is dropped that the frame planned`, () => {
    const r = random(4_717)
    const bad: string[] = []
    const count = { cases: 0, ample: 0, tight: 0, tightFrame: 0, veryTight: 0, veryTightFrame: 0, closest: Number.POSITIVE_INFINITY }
    for (let k = 0; k < 80; k++) {
      const usd = 10 ** (1 + r() * 6)
      const c = (BigInt(Math.floor(usd * 1e6)) * 10n ** BigInt(m.dc) * 10n ** 8n) / (m.pc * 10n ** 6n) + BigInt(Math.floor(r() * 1e3))
      const main = (c * m.pc) / 10n ** BigInt(m.dc)
      const other = (main * BigInt(Math.floor(r() * 1_000))) / 1_000n
      const tc = Number(main + other)
      const average = Number((main * m.lt + other * m.ltDust) / (main + other))
      const d = BigInt(Math.floor((((tc * average) / 10_000 / (1.0 + r() * 0.1)) * 10 ** m.dl) / Number(m.pd)))
      const acct = dustAccount(m, c, other, d)
      const h0 = Number(acct.health) / 1e18
      const u = r()
      if (!(h0 < band.min) || h0 < 1.0) continue
      count.cases++
      const low = Math.max(band.min, h0 + (band.target - band.min) / 2)
      const high = band.target + (band.max - band.target) / 2
      const need = Number(d) - ((tc * Number(acct.average)) / 10_000 / low) * 10 ** m.dl / Number(m.pd)
      const base = baseOf(m, c, other, d, acct.frame.collateral)
      const repayOf = (idle: bigint, withBase: boolean) => {
        const snapshot = dustSnapshotOf(m, acct.frame, band, idle)
        const sub = snapshot.input.subAccounts[0]
        if (sub === undefined) throw new Error("no sub-account")
        const state = { ...sub.state, collateralHeld: Number(c) / 10 ** m.dc, ...(withBase ? { aaveBase: base } : {}) }
        const { plan } = solve({ ...snapshot.input, subAccounts: [{ ...sub, state }] })
        return plan?.actions.filter((a) => a.kind === "Repay").reduce((t, a) => t + (a.amountBase ?? 0n), 0n) ?? 0n
      }
      const check = (label: string, repay: bigint) => {
        if (repay === 0n) return
        const after = Number(dustAccount(m, c, other, d - repay).health) / 1e18
        count.closest = Math.min(count.closest, after / low - 1)
        if (after < low || after > high) bad.push(`#${k} ${label} ${usd.toFixed(2)} USD other ${other} h0 ${h0}: Aave after ${after} outside [${low}, ${high}]`)
      }
      const ample = repayOf(2n * d, true)
      if (ample > 0n) count.ample++
      check("ample", ample)
      const tight = BigInt(Math.ceil(need * (1 + u * 3e-3)))
      const t1 = repayOf(tight, true)
      if (t1 > 0n) count.tight++
      if (repayOf(tight, false) > 0n) count.tightFrame++
      check("tight", t1)
      const veryTight = BigInt(Math.ceil(need * (1 + u * 3e-4)))
      const t2 = repayOf(veryTight, true)
      if (t2 > 0n) count.veryTight++
      if (repayOf(veryTight, false) > 0n) count.veryTightFrame++
      check("very tight", t2)
    }
    console.log(m.name, count)
    expect(count.cases).toBeGreaterThan(30)
    expect(count.ample).toBe(count.cases)
    expect(bad.slice(0, 4)).toEqual([])
    // aaveBase does not cost rescues the frame's rebuild planned.
    expect(count.tight).toBeGreaterThanOrEqual(count.tightFrame)
    expect(count.veryTight).toBeGreaterThanOrEqual(count.veryTightFrame)
  })
