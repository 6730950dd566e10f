import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"

// Review rr10b, the rule book's side of modules/test/attacks/Rr10bIdleParking.t.sol: the Safe's only reserve is 3 idle
// WETH. R1: the WETH sub-account, due below its band, supplies the reserve, borrows X and parks X in the fee pool. R2: a
// not-due twin's collateral withdrawal is parked while the due one's rescue draws the reserve. Fixed: only a boost's own
// borrow (a sub-account due above its band) funds a deposit (DepositNotFunded), and a sub-account that supplies collateral deposits nothing
// (ActionNotAllowed at the later of the pair).

const USDC: Address = "0x00000000000000000000000000000000000000b1"
const WETH: Address = "0x00000000000000000000000000000000000000c1"
const FEE_USDC: Address = "0x00000000000000000000000000000000000000f1"
const FEE_WETH: Address = "0x00000000000000000000000000000000000000f2"
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
/** A WETH/USDC sub-account: `collateral` WETH (1e18 units), `debt` USDC base units, at `usd` per WETH. */
function sub(n: number, pools: Address[], collateral: bigint, debt: bigint, usd: bigint, lltv: bigint, over: Partial<RulePolicy> = {}): RuleSubAccount {
  const market = `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex
  return { id: market, policy: policy(pools, { market, ...over }), state: { loanToken: USDC, collateralToken: WETH, collateral, debt, price: price(usd), lltv } as RuleSubAccount["state"], usage }
}
/** The fixture's WETH sub-account after the drop (10 WETH, 18,000 USDC, 2,400 USD: 1.1467), boost allowed. */
const dueA = () => sub(1, [FEE_USDC, FEE_WETH], 10n * E18, 18_000n * 10n ** 6n, 2_400n, LLTV, { boostAllowed: true })
/** The WETH twin: 20 WETH at `health` (lltv 0.80, band 1.1/1.4/1.7), boost allowed. */
const twin = (health: number) =>
  sub(2, [FEE_USDC, FEE_WETH], 20n * E18, (collateralValue(20n * E18, price(2_400n)) * TWIN_LLTV) / h(health), 2_400n, TWIN_LLTV, { boostAllowed: true, minHealth: h(1.1) })
const pool = (address: Address, asset: Address) => ({ address, asset, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }) // the rule book books an entry fee; the refusals do not depend on it
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
const refusal = (r: ReturnType<typeof checkRebalanceRules>) => (r.ok ? ["accepted"] : [r.error.name, ...r.error.args.map((a) => (typeof a === "string" ? a.toLowerCase() : a))])
/** What `s` borrows to land at `health` after supplying `supplied` WETH. */
const borrowTo = (s: RuleSubAccount, health: number, supplied = 0n) => (collateralValue(s.state.collateral + supplied, s.state.price) * s.state.lltv) / h(health) - s.state.debt - 1n

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
