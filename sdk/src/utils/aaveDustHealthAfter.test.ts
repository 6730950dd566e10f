import { describe, expect, it } from "vitest"
import { aaveHealthAfterDisable } from "./aaveDust.js"

// Review brk17c (issue 17, SECURITY row 66), F3: `aaveHealthAfterDisable` (the health `buildAaveDustCollateralDisable`
// checks against the policies' highest minHealth and returns to the owner as `healthAfter`) is documented as "a lower
// bound of the health Aave computes after": it takes the removed reserves' exact weight out of
// `totalCollateralBase x currentLiquidationThreshold` (Aave's FLOORED average before). But Aave floors the average AFTER
// the removal again, on the new total: when the removal takes the exact average across a whole bps (8,200.00097 ->
// 8,199.998), Aave loses almost 1 bps of the remaining collateral that the bound never subtracts. Below: WETH 79,999.60
// USD (83 %) + WBTC 20,000.40 USD (78 %) + a 0.99 USD dust reserve at 85 %, debt 78,087 USD: the builder reports 1.05011
// and accepted minHealth 1.05; Aave lands at 1.04998, below the band (a rescue the owner's fix caused). Fixed: Aave's
// arithmetic, the average floored after the removal (aaveHealthFactor), exact with the weighted sum, a bound without.

const BASE = 10n ** 8n
const WAD = 10n ** 18n
/** Aave v3.0.2 GenericLogic + PoolLogic: avgLT = floor(sum(value x LT) / total); health = total.percentMul(avgLT).wadDiv(debt). */
function aave(reserves: { value: bigint; lt: bigint }[], debt: bigint) {
  const total = reserves.reduce((s, r) => s + r.value, 0n)
  const avgLt = reserves.reduce((s, r) => s + r.value * r.lt, 0n) / total
  const health = (((total * avgLt + 5_000n) / 10_000n) * WAD + debt / 2n) / debt
  return { total, avgLt, health }
}

describe("aaveHealthAfterDisable is Aave's health after the switch-off", () => {
  const weth = { value: 7_999_960n * BASE / 100n, lt: 8_300n }
  const wbtc = { value: 2_000_040n * BASE / 100n, lt: 7_800n }
  const dust = { value: 99n * BASE / 100n, lt: 8_500n, valueBase: 99n * BASE / 100n, liquidationThresholdBps: 8_500n }
  const debt = 78_087n * BASE
  const before = aave([weth, wbtc, dust], debt)
  const after = aave([weth, wbtc], debt)

  it("fixture: Aave's floored average crosses a whole bps with the dust removed (8,200 -> 8,199); Aave lands below 1.05", () => {
    expect(before.avgLt).toBe(8_200n)
    expect(after.avgLt).toBe(8_199n)
    expect(after.health).toBeLessThan(105n * WAD / 100n)
  })

  // Before the fix: 1.050110 (accepted at minHealth 1.05), Aave's health after 1.049983.
  it("the builder's health after is at most Aave's (from getUserAccountData alone)", () => {
    const bound = aaveHealthAfterDisable({ totalCollateralBase: before.total, totalDebtBase: debt, currentLiquidationThreshold: before.avgLt }, [dust])
    expect(bound).toBeLessThanOrEqual(after.health)
    expect(bound).toBeLessThan(105n * WAD / 100n)
  })

  it("with the account's exact weighted sum it is Aave's health after exactly", () => {
    const weighted = [weth, wbtc, dust].reduce((s, r) => s + r.value * r.lt, 0n)
    const exact = aaveHealthAfterDisable({ totalCollateralBase: before.total, totalDebtBase: debt, currentLiquidationThreshold: before.avgLt, weightedCollateralBase: weighted }, [dust])
    expect(exact).toBe(after.health)
    expect(aaveHealthAfterDisable({ totalCollateralBase: before.total, totalDebtBase: debt, currentLiquidationThreshold: before.avgLt, weightedCollateralBase: weighted }, [])).toBe(before.health)
  })
})
