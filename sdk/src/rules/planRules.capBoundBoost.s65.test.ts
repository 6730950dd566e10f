import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, collateralValue, isCapBoundMove } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// Cap-bound boost (issue 13, stop 65, SECURITY.md row 154), the rule book's side of modules/test/unit/CapBoundBoost.t.sol:
// a sub-account due from above its band (boosts allowed, no stop) whose move, counted up to the honest move for the
// health it reached, is at least 99 % of maxAmountPerRebalance may land above the band, at least MIN_BAND_GAP under
// its health before; every other rule unchanged.

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
/** 10 WETH at 2,400 USD with 6,000 USDC debt: health 3.44, far above the band [1.2, 1.7] (target 1.4); boosts allowed. */
function far(cap: bigint, over: Parameters<typeof rulePolicy>[0] = {}): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: cap, boostAllowed: true, ...over }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 6_000n * USD, price: price(2400n), lltv: LLTV } as RuleSubAccount["state"],
    usage,
  }
}
/** A buffer boost: borrow `amount` and park it in the pool. */
const boost = (s: RuleSubAccount, amount: bigint) => checkWithPool(s, [{ kind: "Borrow", subAccount: 0, amount }, { kind: "DepositToPool", subAccount: 0, pool: POOL, amount }])
const value = collateralValue(10n * 10n ** 18n, price(2400n)) * LLTV
const before = value / (6_000n * USD)
const after = (amount: bigint) => value / (6_000n * USD + amount)

describe("cap-bound boost (RebalanceLib._checkPostConditions, issue 13, stop 65)", () => {
  test("isCapBoundMove: min(moved, honest) >= cap - floor(cap / 100), exactly", () => {
    expect(isCapBoundMove(495n, 495n, 500n)).toBe(true)
    expect(isCapBoundMove(494n, 10_000n, 500n)).toBe(false)
    expect(isCapBoundMove(500n, 494n, 500n)).toBe(false)
    expect(isCapBoundMove(495n, undefined, 500n)).toBe(true)
  })

  test("a boost at the cap from far above the band lands above it, MIN_BAND_GAP or more under where it was: accepted", () => {
    expect(after(500n * USD) > h(1.7)).toBe(true)
    expect(refusalOf(boost(far(500n * USD), 500n * USD))).toEqual(["accepted"])
    expect(refusalOf(boost(far(500n * USD), 495n * USD))).toEqual(["accepted"])
  })

  test("not cap-bound (one base unit under 99 %, or a larger cap): HealthOutOfBand as before", () => {
    const amount = 495n * USD - 1n
    expect(refusalOf(boost(far(500n * USD), amount))).toEqual(["HealthOutOfBand", ID, after(amount), h(1.2), h(1.7)])
    expect(refusalOf(boost(far(1000n * USD), 500n * USD))).toEqual(["HealthOutOfBand", ID, after(500n * USD), h(1.2), h(1.7)])
  })

  test("cap-bound but lowering health by less than MIN_BAND_GAP: HealthOutsideLandingZone at [1.3, before - MIN_BAND_GAP]", () => {
    // 10 USDC of a 10 USDC cap moves health 3.44 -> 3.434 (< 0.01).
    expect(before - after(10n * USD) < MIN_BAND_GAP).toBe(true)
    expect(refusalOf(boost(far(10n * USD), 10n * USD))).toEqual(["HealthOutsideLandingZone", ID, after(10n * USD), h(1.3), before - MIN_BAND_GAP])
  })

  test("the amount cap itself is unchanged: 501 of 500 is AmountCapExceeded", () => {
    expect(refusalOf(boost(far(500n * USD), 501n * USD))).toEqual(["AmountCapExceeded", ID, 501n * USD, 500n * USD])
  })

  test("boosts not allowed: not due (the plan has no trigger), as before", () => {
    expect(refusalOf(boost(far(500n * USD, { boostAllowed: false }), 500n * USD))[0]).toBe("NoTrigger")
  })

  test("half of each epoch cap, as a stop's exit (review cbt65): with 5 of 10 rebalances spent a cap-bound boost is refused EpochRebalanceCapExceeded(6, 5); a boost landing in the band keeps the whole cap", () => {
    const spent = { ...far(500n * USD), usage: { ...usage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 5 } }
    expect(refusalOf(boost(spent, 500n * USD))).toEqual(["EpochRebalanceCapExceeded", ID, 6n, 5n])
    // Near the band (1,900 USDC cap): the same count, landing in the band, is accepted.
    const near = { ...far(20_000n * USD), usage: { ...usage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 5 } }
    const toBand = (collateralValue(near.state.collateral, near.state.price) * LLTV) / h(1.6) - near.state.debt
    expect(refusalOf(boost(near, toBand))).toEqual(["accepted"])
  })
})
