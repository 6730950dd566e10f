import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, collateralValue } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// Cap-bound in-band rescue (issue 13, stop 66, SECURITY.md row 155), the rule book's side of
// modules/test/attacks/CapBoundInBand.t.sol: a sub-account due inside its band below the target (`rescueBelowTarget`, no
// stop engaged) whose move, counted up to the honest move for the health it reached, is at least 99 % of
// maxAmountPerRebalance may land under its in-band zone [before + (target - min) / 2, ...], at least MIN_BAND_GAP up.

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
const DEBT = 18_000n * USD
/** 10 WETH at 2,616 USD with 18,000 USDC debt: health ~1.25, in the band [1.2, 1.7] below the target 1.4. */
function inBand(cap: bigint, over: Parameters<typeof rulePolicy>[0] = {}): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: cap, rescueBelowTarget: true, ...over }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: DEBT, price: price(2616n), lltv: LLTV } as RuleSubAccount["state"],
    usage,
  }
}
/** A pool rescue: withdraw `amount` from the pool and repay it. */
const repay = (s: RuleSubAccount, amount: bigint) => checkWithPool(s, [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount }, { kind: "Repay", subAccount: 0, amount }])
const value = collateralValue(10n * 10n ** 18n, price(2616n)) * LLTV
const before = value / DEBT
const after = (amount: bigint) => value / (DEBT - amount)
const zoneLow = before + (h(1.4) - h(1.2)) / 2n

describe("cap-bound in-band rescue (RebalanceLib._checkPostConditions, issue 13, stop 66)", () => {
  test("the setting: in band below the target, and one repayment of the whole cap stays under the in-band zone", () => {
    expect(before > h(1.2) && before < h(1.4)).toBe(true)
    expect(after(500n * USD) < zoneLow).toBe(true)
    expect(after(500n * USD) - before >= MIN_BAND_GAP).toBe(true)
  })

  test("a repayment of the cap (or 99 % of it) lands under the zone, MIN_BAND_GAP or more up: accepted", () => {
    expect(refusalOf(repay(inBand(500n * USD), 500n * USD))).toEqual(["accepted"])
    expect(refusalOf(repay(inBand(500n * USD), 495n * USD))).toEqual(["accepted"])
  })

  test("not cap-bound (one base unit under 99 %, or a larger cap): HealthOutsideLandingZone at the in-band zone", () => {
    const amount = 495n * USD - 1n
    expect(refusalOf(repay(inBand(500n * USD), amount))).toEqual(["HealthOutsideLandingZone", ID, after(amount), zoneLow, h(1.55)])
    expect(refusalOf(repay(inBand(1000n * USD), 500n * USD))).toEqual(["HealthOutsideLandingZone", ID, after(500n * USD), zoneLow, h(1.55)])
  })

  test("cap-bound but gaining less than MIN_BAND_GAP: HealthOutsideLandingZone at [before + MIN_BAND_GAP, 1.55]", () => {
    expect(after(41n * USD) - before < MIN_BAND_GAP).toBe(true)
    expect(refusalOf(repay(inBand(41n * USD), 41n * USD))).toEqual(["HealthOutsideLandingZone", ID, after(41n * USD), before + MIN_BAND_GAP, h(1.55)])
  })

  test("half of each epoch cap (review rv66): with 5 of 10 rebalances spent a cap-bound in-band step is refused EpochRebalanceCapExceeded(6, 5); a rescue into the zone keeps the whole cap", () => {
    const spent = (s: RuleSubAccount): RuleSubAccount => ({ ...s, usage: { ...usage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 5 } })
    expect(refusalOf(repay(spent(inBand(500n * USD)), 500n * USD))).toEqual(["EpochRebalanceCapExceeded", ID, 6n, 5n])
    // A larger cap: the repayment to about 1.45 lands in the zone [before + 0.1, 1.55].
    const toZone = DEBT - value / h(1.45)
    expect(after(toZone) >= zoneLow).toBe(true)
    expect(refusalOf(repay(spent(inBand(10_000n * USD)), toZone))).toEqual(["accepted"])
  })

  test("without rescueBelowTarget nothing is due in band: NoTrigger", () => {
    expect(refusalOf(repay(inBand(500n * USD, { rescueBelowTarget: false }), 500n * USD))[0]).toBe("NoTrigger")
  })
})
