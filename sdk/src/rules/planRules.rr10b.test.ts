import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"
import { LLTV, USDC, WETH, borrowTo, h, price, refusalOf as refusal, unitPool as pool, wethSubAccountOwing as sub } from "./rules.testing.js"

// Review rr10b, the rule book's side of modules/test/attacks/Rr10bIdleParking.t.sol: the Safe's only reserve is 3 idle
// WETH. R1: the WETH sub-account, due below its band, supplies the reserve, borrows X and parks X in the fee pool. R2: a
// not-due twin's collateral withdrawal is parked while the due one's rescue draws the reserve. Fixed: only a boost's own
// borrow (a sub-account due above its band) funds a deposit (DepositNotFunded), and a sub-account that supplies collateral deposits nothing
// (ActionNotAllowed at the later of the pair).

const FEE_USDC: Address = "0x00000000000000000000000000000000000000f1"
const FEE_WETH: Address = "0x00000000000000000000000000000000000000f2"
const TWIN_LLTV = 80n * 10n ** 16n
const E18 = 10n ** 18n
const RESERVE = 3n * E18
/** The fixture's WETH sub-account after the drop (10 WETH, 18,000 USDC, 2,400 USD: 1.1467), boost allowed. */
const dueA = () => sub(1, [FEE_USDC, FEE_WETH], 10n * E18, 18_000n * 10n ** 6n, 2_400n, LLTV, { boostAllowed: true })
/** The WETH twin: 20 WETH at `health` (lltv 0.80, band 1.1/1.4/1.7), boost allowed. */
const twin = (health: number) =>
  sub(2, [FEE_USDC, FEE_WETH], 20n * E18, (collateralValue(20n * E18, price(2_400n)) * TWIN_LLTV) / h(health), 2_400n, TWIN_LLTV, { boostAllowed: true, minHealth: h(1.1) })
type Actions = Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]
const check = (subs: RuleSubAccount[], actions: Actions, idleUsdc = 0n) =>
  checkRebalanceRules({
    plan: { subAccounts: subs.map((s) => s.id), actions },
    subAccounts: subs,
    pools: [pool(FEE_USDC, USDC), pool(FEE_WETH, WETH)],
    balances: { [USDC]: idleUsdc, [WETH]: RESERVE },
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })

describe("rr10b: only a boost's own borrow funds a deposit; a sub-account that supplies collateral deposits nothing", () => {
  test("R1: Supply(the WETH reserve) + Borrow(X) + Deposit(X) on a sub-account due below its band: ActionNotAllowed(2, DepositToPool)", () => {
    const A = dueA()
    const x = borrowTo(A, 1.3, RESERVE)
    const r = check([A], [
      { kind: "SupplyCollateral", subAccount: 0, amount: RESERVE },
      { kind: "Borrow", subAccount: 0, amount: x },
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x },
    ])
    expect(refusal(r)).toEqual(["ActionNotAllowed", 2n, 1n])
  })
  test("R1 deposit before the borrow (with X idle USDC), and the callback shape: the later of Supply / Deposit refused", () => {
    const A = dueA()
    const x = borrowTo(A, 1.3, RESERVE)
    const depositFirst = check([A], [
      { kind: "SupplyCollateral", subAccount: 0, amount: RESERVE },
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x },
      { kind: "Borrow", subAccount: 0, amount: x },
    ], x)
    expect(refusal(depositFirst)).toEqual(["ActionNotAllowed", 1n, 1n])
    const callback = check([A], [
      { kind: "SupplyCollateralWithCallback", subAccount: 0, amount: RESERVE },
      { kind: "Borrow", subAccount: 0, amount: x },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x },
    ])
    expect(refusal(callback)).toEqual(["ActionNotAllowed", 3n, 1n])
  })
  test("R2: the due one supplies the reserve while a not-due twin's withdrawal is parked: DepositNotFunded(WETH, 3, 0)", () => {
    const r = check([dueA(), twin(1.65)], [
      { kind: "SupplyCollateral", subAccount: 0, amount: RESERVE },
      { kind: "WithdrawCollateral", subAccount: 1, amount: RESERVE },
      { kind: "DepositToPool", subAccount: 1, pool: FEE_WETH, amount: RESERVE },
    ])
    expect(refusal(r)).toEqual(["DepositNotFunded", WETH, RESERVE, 0n])
  })
  test("a boost supplying the reserve to park more is refused; the honest boost passes, in either order", () => {
    const B = twin(1.9)
    const more = borrowTo(B, 1.4, RESERVE)
    expect(refusal(check([B], [
      { kind: "SupplyCollateral", subAccount: 0, amount: RESERVE },
      { kind: "Borrow", subAccount: 0, amount: more },
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: more },
    ]))).toEqual(["ActionNotAllowed", 2n, 1n])
    const x = borrowTo(B, 1.4)
    // Net per asset and order-free: the boost's deposit before its borrow ends where the honest boost does.
    expect(refusal(check([B], [
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x },
      { kind: "Borrow", subAccount: 0, amount: x },
    ], x))).toEqual(["accepted"])
    expect(refusal(check([B], [
      { kind: "Borrow", subAccount: 0, amount: x },
      { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: x },
    ]))).toEqual(["accepted"])
  })
})
