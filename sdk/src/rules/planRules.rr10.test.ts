import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"
import { LLTV, USDC, WETH, h, price, rulePolicy, usage } from "./rules.testing.js"

// Review rr10 of the brk10r F1 fix (DepositNotFunded), the rule book's side of modules/test/attacks/Rr10IdleParking.t.sol:
// the idle USDC reserve pays a repayment and the deposit is "funded" by an inflow that repayment made room for (both
// were accepted with a fee-free pool, as by the module). Fixed: Repay/Borrow on one sub-account is churn, and a due
// sub-account's withdrawal funds no deposit.
// F1: Repay(need + X) from idle, Borrow(X), DepositToPool(X) on a due boost-allowed sub-account.
// F2: RepayWithCallback(reserve) from idle { WithdrawCollateral(W), DepositToPool(WETH pool, W) } on a deleverage-only one.

const FEE_USDC: Address = "0x00000000000000000000000000000000000000f1"
const FEE_WETH: Address = "0x00000000000000000000000000000000000000f2"
const RESERVE = 8_000n * 10n ** 6n
const policy = (pools: Address[], over: Partial<RulePolicy> = {}) => rulePolicy({ pools, ...over })
/** The fixture's WETH sub-account after the drop: 10 WETH, 18,000 USDC debt, 2,400 USD: health 1.1467. */
function weth(pools: Address[], over: Partial<RulePolicy> = {}): RuleSubAccount {
  return { id: `0x${"01".repeat(32)}` as Hex, policy: policy(pools, over), state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 18_000n * 10n ** 6n, price: price(2400n), lltv: LLTV } as RuleSubAccount["state"], usage }
}
const pool = (address: Address, asset: Address, feeBps: bigint) => ({ address, asset, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps })
const check = (A: RuleSubAccount, actions: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"], feeBps: bigint) =>
  checkRebalanceRules({
    plan: { subAccounts: [A.id], actions },
    subAccounts: [A],
    pools: [pool(FEE_USDC, USDC, feeBps), pool(FEE_WETH, WETH, feeBps)],
    balances: { [USDC]: RESERVE },
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })

function churn(feeBps = 0n) {
  const A = weth([FEE_USDC], { boostAllowed: true })
  const need = A.state.debt - (collateralValue(A.state.collateral, A.state.price) * LLTV) / h(1.3)
  const parked = RESERVE - need
  return check(A, [
    { kind: "Repay", subAccount: 0, amount: need + parked },
    { kind: "Borrow", subAccount: 0, amount: parked },
    { kind: "DepositToPool", subAccount: 0, pool: FEE_USDC, amount: parked },
  ], feeBps)
}

function shrink(feeBps = 0n) {
  const A = weth([FEE_WETH])
  const keep = (h(1.3) * (A.state.debt - RESERVE) * 10n ** 36n) / (LLTV * A.state.price) + 1n
  const withdrawn = ((A.state.collateral - keep) * 999n) / 1000n
  return check(A, [
    { kind: "RepayWithCallback", subAccount: 0, amount: RESERVE },
    { kind: "WithdrawCollateral", subAccount: 0, amount: withdrawn },
    { kind: "DepositToPool", subAccount: 0, pool: FEE_WETH, amount: withdrawn },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
  ], feeBps)
}

describe("rr10: the idle reserve may not reach a pool through churn or a due sub-account's withdrawal", () => {
  test("F1: Repay(need + X) from idle + Borrow(X) + Deposit(X) is refused at the Borrow as churn (ActionNotAllowed), fee or not", () => {
    for (const r of [churn(), churn(100n)]) {
      expect(r.ok).toBe(false)
      if (!r.ok) expect([r.error.name, ...r.error.args]).toEqual(["ActionNotAllowed", 1n, 4n])
    }
  })
  test("F2: RepayWithCallback from idle + WithdrawCollateral parked in a WETH pool is refused (DepositNotFunded(WETH, W, 0))", () => {
    for (const r of [shrink(), shrink(100n)]) {
      expect(r.ok).toBe(false)
      if (!r.ok) {
        expect(r.error.name).toBe("DepositNotFunded")
        expect(String(r.error.args[0]).toLowerCase()).toBe(WETH)
        expect(r.error.args[1]).toBeGreaterThan(0n)
        expect(r.error.args[2]).toBe(0n)
      }
    }
  })
  test("the honest rescue (Repay(need) alone from the reserve) still passes", () => {
    const A = weth([FEE_USDC], { boostAllowed: true })
    const need = A.state.debt - (collateralValue(A.state.collateral, A.state.price) * LLTV) / h(1.3)
    const r = check(A, [{ kind: "Repay", subAccount: 0, amount: need }], 0n)
    expect(r.ok, r.ok ? "" : r.error.name).toBe(true)
  })
})
