import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { REPAY_PLUS_SALE_MINIMUMS } from "../constants/module.js"
import { type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"
import { POOL, USDC, WETH, refusalOf, swapWeth } from "./rules.testing.js"

// Review rv60 of the sale-minimum repayment mode: the rule book vs the module on a repayment past 2^256
// (modules/test/attacks/Rv60SaleMinimum.t.sol test_OverflowingModeRepayment_RefusalOrder).

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
const ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
const ROUTE: Address = "0x00000000000000000000000000000000000001f4"
const NOT_ALLOWED: Address = "0x000000000000000000000000000000000000bEEF"
const MODE = `0x${REPAY_PLUS_SALE_MINIMUMS.toString(16).padStart(40, "0")}` as Address
const MAX = 2n ** 256n - 1n

const weth = swapWeth

type Actions = Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]

const check = (s: RuleSubAccount, actions: Actions, output: bigint) =>
  checkRebalanceRules({
    plan: { subAccounts: [s.id], actions },
    subAccounts: [s],
    pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
    balances: { [USDC]: 0n, [WETH]: 0n },
    swapAdapter: ADAPTER,
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
    outcome: { swapOutputs: { 2: output } },
  })

describe("rv60: a sale-minimum repayment past 2^256", () => {
  const s = weth(2135n)
  const sold = 10n ** 18n
  const block: Actions = [
    { kind: "RepayWithCallback", subAccount: 0, pool: MODE, amount: MAX },
    { kind: "WithdrawCollateral", subAccount: 0, amount: sold },
    { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
  ]
  test("alone: the module reverts Panic 0x11; the rule book throws (no verdict)", () => {
    expect(() => check(s, block, collateralValue(sold, s.state.price))).toThrow(/passes 2\^256/)
  })
  // Review rv60's mismatch, fixed: the rule book raises the overflow where the module first sums a written non-zero
  // mode repayment (`_checkSwapsServeOwnPosition`, after every `_checkActions` refusal).
  test("with a later action the module refuses in _checkActions: the module names PoolNotAllowed, the rule book throws", () => {
    const plan: Actions = [...block, { kind: "DepositToPool", subAccount: 0, pool: NOT_ALLOWED, amount: 1n }]
    // The module (Rv60SaleMinimum.t.sol): PoolNotAllowed(id, 0xbeef). The rule book would have to return that verdict.
    let verdict: string[] | string
    try {
      verdict = refusalOf(check(s, plan, collateralValue(sold, s.state.price))) as string[]
    } catch (e) {
      verdict = `threw: ${(e as Error).message}`
    }
    expect(verdict).toEqual(["PoolNotAllowed", ID.toLowerCase(), NOT_ALLOWED.toLowerCase()])
  })
})
