import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"
import { LLTV, USDC, WETH, borrowTo, h, price, refusalOf as refusal, unitPool as pool, wethSubAccountOwing as sub } from "./rules.testing.js"

// Review rr10c, the rule book's side of modules/test/attacks/Rr10cIdleParking.t.sol (C1). Row 73 judges "a sub-account
// that supplies collateral deposits nothing" on the DEPOSIT's sub-account, and `fundable` net per asset: a boost B that
// supplies the Safe's 3 idle WETH (the whole reserve) and borrows its worth on top of the boost funds a deposit listed on
// another sub-account A (A repays part of the borrow, the rest goes into A's allowed 1%-exit-fee pool). The rule book
// accepts it, as the module does (they agree, in the wrong direction).

const FEE_USDC: Address = "0x00000000000000000000000000000000000000f1"
const TWIN_LLTV = 80n * 10n ** 16n
const E18 = 10n ** 18n
const RESERVE = 3n * E18
/** A: the fixture's WETH sub-account after the drop (10 WETH, 18,000 USDC, 2,400 USD: 1.1467), deleverage-only. */
const dueA = () => sub(1, [FEE_USDC], 10n * E18, 18_000n * 10n ** 6n, 2_400n, LLTV)
/** B: the WETH twin, 20 WETH at 1.9 (lltv 0.80, band 1.1/1.4/1.7), boost allowed: due above its band. */
const boostB = () =>
  sub(2, [FEE_USDC], 20n * E18, (collateralValue(20n * E18, price(2_400n)) * TWIN_LLTV) / h(1.9), 2_400n, TWIN_LLTV, { boostAllowed: true, minHealth: h(1.1) })
type Actions = Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]
const check = (subs: RuleSubAccount[], actions: Actions) =>
  checkRebalanceRules({
    plan: { subAccounts: subs.map((s) => s.id), actions },
    subAccounts: subs,
    pools: [pool(FEE_USDC, USDC)],
    balances: { [USDC]: 0n, [WETH]: RESERVE },
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })
/** The repayment that takes A to `health`. */
const repayTo = (s: RuleSubAccount, health: number) => s.state.debt - (collateralValue(s.state.collateral, s.state.price) * s.state.lltv) / h(health)

/** C1: B Supply(reserve) + Borrow(x); A Repay(need); DepositToPool(fee pool, x - need) listed on A. */
function c1() {
  const A = dueA()
  const B = boostB()
  const x = borrowTo(B, 1.4, RESERVE)
  const need = repayTo(A, 1.3)
  return check([A, B], [
    { kind: "SupplyCollateral", subAccount: 1, amount: RESERVE },
    { kind: "Borrow", subAccount: 1, amount: x },
    { kind: "Repay", subAccount: 0, amount: need },
    { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x - need },
  ])
}

describe("rr10c C1: a boost supplying the reserve funds a deposit listed on another sub-account", () => {
  // Was FAILS TODAY (rr10c C1), fixed: The suggested rule (a boost that supplies collateral funds no deposit)
  // refuses it with DepositNotFunded(USDC, x - need, 0); update the expectation if the fix names another refusal.
  test("refused (DepositNotFunded)", () => {
    const r = c1()
    expect(r.ok).toBe(false)
    expect(refusal(r)[0]).toBe("DepositNotFunded")
  })
  test("control: A supplies what it needs from the reserve, B boosts into the pool: accepted", () => {
    const A = dueA()
    const B = boostB()
    const x = borrowTo(B, 1.4)
    const s = (h(1.3) * A.state.debt * 10n ** 36n) / (A.state.lltv * A.state.price) - A.state.collateral + 1n
    expect(refusal(check([A, B], [
      { kind: "SupplyCollateral", subAccount: 0, amount: s },
      { kind: "Borrow", subAccount: 1, amount: x },
      { kind: "DepositToPool", subAccount: 1, pool: FEE_USDC, amount: x },
    ]))).toEqual(["accepted"])
  })
})
