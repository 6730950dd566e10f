import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, checkRebalanceRules, collateralValue, isCapBound } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// Cap-bound rescue (issue 13, SECURITY.md row 127), the SDK side of modules/test/unit/CapBoundRescue.t.sol: a
// sub-account due below its band whose net move is at least 99 % of maxAmountPerRebalance (moved >= cap - cap / 100)
// may land below the band, at least MIN_BAND_GAP above its health before; every other rule unchanged.

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
/** 10 WETH at 2,400 USD with 18,000 USDC debt: health 1.1467, below the band [1.2, 1.7] (target 1.4). */
function weth(cap: bigint): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: cap }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 18_000n * USD, price: price(2400n), lltv: LLTV } as RuleSubAccount["state"],
    usage,
  }
}
const repay = (s: RuleSubAccount, amount: bigint) =>
  checkWithPool(s, [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount }, { kind: "Repay", subAccount: 0, amount }])

const s0 = weth(500n * USD)
const before = (collateralValue(s0.state.collateral, s0.state.price) * LLTV) / s0.state.debt
const after = (amount: bigint) => (collateralValue(s0.state.collateral, s0.state.price) * LLTV) / (s0.state.debt - amount)

describe("cap-bound rescue (RebalanceLib._checkPostConditions, issue 13)", () => {
  test("isCapBound: below the band and moved >= cap - floor(cap / 100), exactly", () => {
    expect(isCapBound(h(1.1), h(1.2), 495n, 500n)).toBe(true)
    expect(isCapBound(h(1.1), h(1.2), 494n, 500n)).toBe(false)
    // cap 199: floor(1.99) = 1, so 198 is cap-bound (>= 99.5 %), 197 is not
    expect(isCapBound(h(1.1), h(1.2), 198n, 199n)).toBe(true)
    expect(isCapBound(h(1.1), h(1.2), 197n, 199n)).toBe(false)
    // not below the band: never
    expect(isCapBound(h(1.2), h(1.2), 500n, 500n)).toBe(false)
    // the unbounded cap (uint128 max) is never reached by a real move
    expect(isCapBound(h(1.1), h(1.2), 10n ** 30n, 2n ** 128n - 1n)).toBe(false)
  })

  test("a rescue at the cap lands below the band, MIN_BAND_GAP or more above where it was: accepted", () => {
    expect(after(500n * USD) < h(1.2)).toBe(true)
    expect(refusalOf(repay(s0, 500n * USD))).toEqual(["accepted"])
    expect(refusalOf(repay(s0, 495n * USD))).toEqual(["accepted"])
  })

  test("not cap-bound (one base unit under 99 %, or a larger cap): HealthOutOfBand as before", () => {
    const amount = 495n * USD - 1n
    expect(refusalOf(repay(s0, amount))).toEqual(["HealthOutOfBand", ID, after(amount), h(1.2), h(1.7)])
    expect(refusalOf(repay(weth(1000n * USD), 500n * USD))).toEqual(["HealthOutOfBand", ID, after(500n * USD), h(1.2), h(1.7)])
  })

  test("cap-bound but gaining less than MIN_BAND_GAP: HealthOutsideLandingZone at [before + MIN_BAND_GAP, 1.55]", () => {
    expect(refusalOf(repay(weth(100n * USD), 100n * USD))).toEqual(["HealthOutsideLandingZone", ID, after(100n * USD), before + MIN_BAND_GAP, h(1.55)])
  })

  test("the amount cap itself is unchanged: 501 of 500 is AmountCapExceeded", () => {
    expect(refusalOf(repay(s0, 501n * USD))).toEqual(["AmountCapExceeded", ID, 501n * USD, 500n * USD])
  })
})
