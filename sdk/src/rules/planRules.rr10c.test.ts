import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"

// Review rr10c, the rule book's side of modules/test/attacks/Rr10cIdleParking.t.sol (C1). Row 73 judges "a sub-account
// that supplies collateral deposits nothing" on the DEPOSIT's sub-account, and `fundable` net per asset: a boost B that
// supplies the Safe's 3 idle WETH (the whole reserve) and borrows its worth on top of the boost funds a deposit listed on
// another sub-account A (A repays part of the borrow, the rest goes into A's allowed 1%-exit-fee pool). The rule book
// accepts it, as the module does (they agree, in the wrong direction).

const USDC: Address = "0x00000000000000000000000000000000000000b1"
const WETH: Address = "0x00000000000000000000000000000000000000c1"
const FEE_USDC: Address = "0x00000000000000000000000000000000000000f1"
const LLTV = 86n * 10n ** 16n
const TWIN_LLTV = 80n * 10n ** 16n
const E18 = 10n ** 18n
const RESERVE = 3n * E18
const price = (usd: bigint) => (usd * 10n ** 6n * 10n ** 36n) / E18
const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n
const policy = (pools: Address[], over: Partial<RulePolicy> = {}): RulePolicy => ({
  adapter: "0x00000000000000000000000000000000000000ad", market: `0x${"00".repeat(32)}`, priceFeed: "0x0000000000000000000000000000000000000000",
  minHealth: h(1.2), targetHealth: h(1.4), maxHealth: h(1.7), maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, epochLength: 86_400,
  maxRebalancesPerEpoch: 10, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 50, maxEpochLossBps: 100, boostAllowed: false, maxSlippageBps: 0,
  maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools, ...over,
})
const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
function sub(n: number, pools: Address[], collateral: bigint, debt: bigint, usd: bigint, lltv: bigint, over: Partial<RulePolicy> = {}): RuleSubAccount {
  const market = `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex
  return { id: market, policy: policy(pools, { market, ...over }), state: { loanToken: USDC, collateralToken: WETH, collateral, debt, price: price(usd), lltv } as RuleSubAccount["state"], usage }
}
/** A: the fixture's WETH sub-account after the drop (10 WETH, 18,000 USDC, 2,400 USD: 1.1467), deleverage-only. */
const dueA = () => sub(1, [FEE_USDC], 10n * E18, 18_000n * 10n ** 6n, 2_400n, LLTV)
/** B: the WETH twin, 20 WETH at 1.9 (lltv 0.80, band 1.1/1.4/1.7), boost allowed: due above its band. */
const boostB = () =>
  sub(2, [FEE_USDC], 20n * E18, (collateralValue(20n * E18, price(2_400n)) * TWIN_LLTV) / h(1.9), 2_400n, TWIN_LLTV, { boostAllowed: true, minHealth: h(1.1) })
const pool = (address: Address, asset: Address) => ({ address, asset, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n })
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
const refusal = (r: ReturnType<typeof checkRebalanceRules>) => (r.ok ? ["accepted"] : [r.error.name, ...r.error.args.map((a) => (typeof a === "string" ? a.toLowerCase() : a))])
const borrowTo = (s: RuleSubAccount, health: number, supplied = 0n) => (collateralValue(s.state.collateral + supplied, s.state.price) * s.state.lltv) / h(health) - s.state.debt - 1n
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
