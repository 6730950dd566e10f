import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RuleSubAccount, aaveFrameHealthRange, collateralValue } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// rv65b: the rule book judges the cap-bound boost's half share by the Aave range's LOW end, the module by Aave's one
// factor. A cap-bound boost landing inside the range around maxHealth (low <= 1.7 < high) with half the epoch's
// rebalances spent: the rule book accepts it; the module, reading a factor at the high end (a sole reserve at the
// market's threshold), applies the share and refuses EpochRebalanceCapExceeded(id, 6, 5).
const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
function far(cap: bigint): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: cap, boostAllowed: true }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 6_000n * USD, price: price(2400n), lltv: LLTV, thresholdFloored: true } as RuleSubAccount["state"],
    usage: { ...usage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 5 },
  }
}
const boost = (s: RuleSubAccount, amount: bigint) => checkWithPool(s, [{ kind: "Borrow", subAccount: 0, amount }, { kind: "DepositToPool", subAccount: 0, pool: POOL, amount }])

describe("rv65b: Aave range and the cap-bound boost's half share", () => {
  test("landing straddling maxHealth with 5 of 10 rebalances spent", () => {
    const value = collateralValue(10n * 10n ** 18n, price(2400n)) * LLTV
    // borrow so the frame health is 1.70005 (inside (1.7, 1.7 x 8600/8599))
    const B = value / h(1.70005) - 6_000n * USD
    const s = far(B)
    const range = aaveFrameHealthRange(s.state as never, s.state.collateral, s.state.debt + B)
    console.log("range", range, "maxHealth", h(1.7))
    expect(range.low <= h(1.7) && range.high > h(1.7)).toBe(true)
    // The module's factor here is the frame (a sole reserve at the threshold): 1.70005 > maxHealth, so
    // `_recordUsage` applies `_checkStopExitShare` and refuses EpochRebalanceCapExceeded(ID, 6, 5).
    // The rule book accepts:
    console.log(refusalOf(boost(s, B)))
    // The same plan judged on the frame alone (Morpho, or Aave's factor at the high end): refused.
    const morpho = { ...s, state: { ...s.state, thresholdFloored: undefined } } as RuleSubAccount
    expect(refusalOf(boost(morpho, B))).toEqual(["EpochRebalanceCapExceeded", ID, 6n, 5n])
    // The rule book with the Aave range: accepted (the mirror disagreement).
    expect(refusalOf(boost(s, B))).toEqual(["EpochRebalanceCapExceeded", ID, 6n, 5n])
  })
})
