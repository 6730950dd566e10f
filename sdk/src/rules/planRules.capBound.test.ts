import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, checkRebalanceRules, collateralValue, healthOf, honestMoveCaps, isCapBound } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// Cap-bound rescue (issue 13, SECURITY.md rows 127 and 130), the SDK side of modules/test/unit/CapBoundRescue.t.sol and
// attacks/CapBoundPadding.rr13v.t.sol: a sub-account due below its band whose net move, counted up to the honest move
// for the health it reached, is at least 99 % of maxAmountPerRebalance (min(moved, honest) >= cap - cap / 100) may land
// below the band, at least MIN_BAND_GAP above its health before; every other rule unchanged.

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
  test("isCapBound: below the band and min(moved, honest) >= cap - floor(cap / 100), exactly", () => {
    expect(isCapBound(h(1.1), h(1.2), 495n, 495n, 500n)).toBe(true)
    expect(isCapBound(h(1.1), h(1.2), 494n, 10_000n, 500n)).toBe(false)
    // the honest move bounds it too (review rr13v V1): a net move of the cap bought only 494 of honest move
    expect(isCapBound(h(1.1), h(1.2), 500n, 494n, 500n)).toBe(false)
    // unbounded honest move (INFINITE_HEALTH): the net move alone
    expect(isCapBound(h(1.1), h(1.2), 495n, undefined, 500n)).toBe(true)
    // cap 199: floor(1.99) = 1, so 198 is cap-bound (>= 99.5 %), 197 is not
    expect(isCapBound(h(1.1), h(1.2), 198n, 198n, 199n)).toBe(true)
    expect(isCapBound(h(1.1), h(1.2), 197n, 199n, 199n)).toBe(false)
    // not below the band: never
    expect(isCapBound(h(1.2), h(1.2), 500n, 500n, 500n)).toBe(false)
    // the unbounded cap (uint128 max) is never reached by a real move
    expect(isCapBound(h(1.1), h(1.2), 10n ** 30n, 10n ** 30n, 2n ** 128n - 1n)).toBe(false)
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

  // Review rr13v V1 / V2: A at 2,115 (health 1.0105), cap 500, boosts allowed; B (another WETH market, 50 WETH, debt
  // 72,756: 1.25, in its band below its target) takes A's collateral. One step repays R from the pool and shifts W of
  // A's collateral to B, R + W x price = 498 (>= 495), A gaining only ~0.0102. Counted up to the honest move for that
  // landing (~213) it is not cap-bound: HealthOutOfBand, as the module refuses it.
  const A_ID = `0x${"0a".repeat(32)}` as Hex
  const B_ID = `0x${"0b".repeat(32)}` as Hex
  const padState = (collateral: bigint, debt: bigint) =>
    ({ loanToken: USDC, collateralToken: WETH, collateral, debt, price: price(2115n), lltv: LLTV }) as RuleSubAccount["state"]
  const subA: RuleSubAccount = { id: A_ID, policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: 500n * USD, boostAllowed: true }), state: padState(10n * 10n ** 18n, 18_000n * USD), usage }
  const subB: RuleSubAccount = { id: B_ID, policy: rulePolicy({ pools: [POOL] }), state: padState(50n * 10n ** 18n, 72_756n * USD), usage }
  const check = (subs: RuleSubAccount[], actions: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]) =>
    checkRebalanceRules({
      plan: { subAccounts: subs.map((x) => x.id), actions },
      subAccounts: subs,
      pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
      balances: { [USDC]: 0n, [WETH]: 0n },
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 300_000n,
    })
  /** The padded step of CapBoundPadding.rr13v.t.sol `_paddedPlan` (net move `padded`, A up by 0.0102). */
  const padded = (total: bigint) => {
    const st = subA.state
    const value = collateralValue(st.collateral, st.price)
    const target = healthOf(st.collateral, st.debt, st.price, st.lltv) + h(0.0102)
    const v = (value * st.lltv - target * (st.debt - total)) / (st.lltv + target)
    const w = (v * 10n ** 36n) / st.price
    const r = total - collateralValue(w, st.price)
    return { r, w }
  }

  test("rr13v V1: a padded step (net 498 of cap 500, +0.0102) is not cap-bound: HealthOutOfBand", () => {
    const { r, w } = padded(498n * USD)
    const st = subA.state
    const collateralAfter = st.collateral - w
    const healthAfter = healthOf(collateralAfter, st.debt - r, st.price, st.lltv)
    const honest = honestMoveCaps(st, healthAfter, 0n, 0n, 50n).honest as bigint
    // the honest move for that landing is well under 99 % of the cap although the net move is above it
    expect(collateralValue(w, st.price) + r).toBeGreaterThanOrEqual(495n * USD)
    expect(honest).toBeLessThan(250n * USD)
    expect(isCapBound(healthOf(st.collateral, st.debt, st.price, st.lltv), h(1.2), 498n * USD, honest, 500n * USD)).toBe(false)
    const verdict = check(
      [subA, subB],
      [
        { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: r },
        { kind: "Repay", subAccount: 0, amount: r },
        { kind: "WithdrawCollateral", subAccount: 0, amount: w },
        { kind: "SupplyCollateral", subAccount: 1, amount: w },
      ],
    )
    expect(refusalOf(verdict)).toEqual(["HealthOutOfBand", A_ID, healthAfter, h(1.2), h(1.7)])
  })

  test("rr13v V2: an honest repayment at the cap is cap-bound and charged at least 99 % of the cap", () => {
    const verdict = check([subA], [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: 500n * USD }, { kind: "Repay", subAccount: 0, amount: 500n * USD }])
    expect(refusalOf(verdict)).toEqual(["accepted"])
    if (!verdict.ok) return
    const res = verdict.subAccounts[0] as (typeof verdict.subAccounts)[number]
    expect(res.healthAfter < h(1.2)).toBe(true)
    // the honest move of a repayment R to h1 is R x h1 / lltv >= R: charged its whole move
    expect(res.moved).toBe(500n * USD)
  })
})
