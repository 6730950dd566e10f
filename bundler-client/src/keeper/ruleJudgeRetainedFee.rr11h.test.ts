import { type Address, zeroAddress } from "viem"
import { expect, test } from "vitest"
import { checkRebalanceRules, checkRebalanceRulesFeeLenient, poolFeeBpsOf } from "@levpilot/sdk/rules"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { snapshotRuleJudge } from "./ruleJudge.js"

// Review rr11h H3: the rule book charges a pool's exit fee as if it LEFT the pool (planRules: `p.assets -= gross`, the
// whole fee booked lost). A pool whose fee stays in the vault (the project's own ExitFeeOnlyVault, OZ ERC4626Fees with
// the vault as recipient, "withdrawal penalty to remaining holders" vaults) returns to the Safe its share of the fee.
// The read cannot tell the two apart (previewRedeem vs convertToAssets gives 100 bps either way). With the Safe holding
// 99.99 % of the pool, a rescue (WithdrawFromPool 3,300 + Repay 3,300, health 1.147 -> 1.404) loses < 0.01 USDC on chain
// and the module lands it (forge: modules/test/integration/ExitFeeRetained.rr11h.t.sol, same figures); the rule book
// books 33 USDC on 3,300 moved (100 bps > maxLossBps 50) and refuses it ValueLossExceeded. In the keeper that refusal
// names the sub-account: `solveAndSend` excludes it and nothing rescues it (a `nothing-to-send` alert); the SDK's
// validateRebalance refuses the same plan.
const LOAN: Address = "0x00000000000000000000000000000000000000b1"
const COLL: Address = "0x00000000000000000000000000000000000000c1"
const POOL: Address = "0x00000000000000000000000000000000000000d1"
const A = `0x${"aa".repeat(32)}` as const
const WAD = 10n ** 18n
const USDC = 10n ** 6n
const policy = {
  adapter: "0x0000000000000000000000000000000000000001", market: A, priceFeed: zeroAddress,
  minHealth: (12n * WAD) / 10n, targetHealth: (14n * WAD) / 10n, maxHealth: (17n * WAD) / 10n,
  cooldown: 0, epochLength: 86_400, maxGasPerEpoch: 20_000_000n, maxOracleAge: 3_600,
  maxLossBps: 50, maxEpochLossBps: 100, maxRebalancesPerEpoch: 10, maxOracleDeviationBps: 0, boostAllowed: false, maxSlippageBps: 0,
  maxAmountPerRebalance: 2n ** 128n - 1n, maxAmountPerEpoch: 2n ** 128n - 1n, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [POOL],
}
// 10 WETH at 2,400 (Morpho's price scale, 18 -> 6 decimals), 18,000 USDC debt, LLTV 0.86: health 1.1467.
const state = { loanToken: LOAN, collateralToken: COLL, collateral: 10n * WAD, debt: 18_000n * USDC, price: 2_400n * 10n ** 24n, lltv: (86n * WAD) / 100n }
const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
// The pool as the forge test has it: 1 USDC of another holder, 10,000 USDC of the Safe, 1:1.
const supply = 10_001n * USDC
const exitFeeBps = poolFeeBpsOf(supply, supply - (supply * 100n + 10_099n) / 10_100n) as bigint
const verdict = (fee: bigint = exitFeeBps) =>
  checkRebalanceRules({
    plan: { subAccounts: [A], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: 3_300n * USDC }, { kind: "Repay", subAccount: 0, amount: 3_300n * USDC }] },
    subAccounts: [{ id: A, policy: policy as never, state, usage }],
    pools: [{ address: POOL, asset: LOAN, totalAssets: supply, totalSupply: supply, shares: 10_000n * USDC, exitFeeBps: fee }],
    balances: { [LOAN]: 0n, [COLL]: 0n },
    swapAdapter: zeroAddress,
    timestamp: 1_700_000_000n,
    gasUsed: 0n,
  })
const input = (fee: bigint, maxLossBps = 50) => ({
  plan: { subAccounts: [A], actions: [{ kind: "WithdrawFromPool" as const, subAccount: 0, pool: POOL, amount: 3_300n * USDC }, { kind: "Repay" as const, subAccount: 0, amount: 3_300n * USDC }] },
  subAccounts: [{ id: A, policy: { ...policy, maxLossBps } as never, state, usage }],
  pools: [{ address: POOL, asset: LOAN, totalAssets: supply, totalSupply: supply, shares: 10_000n * USDC, exitFeeBps: fee }],
  balances: { [LOAN]: 0n, [COLL]: 0n },
  swapAdapter: zeroAddress,
  timestamp: 1_700_000_000n,
  gasUsed: 0n,
})

test("rr11h H3: the paid-out verdict (checkRebalanceRules) of a rescue through a retained-exit-fee pool the Safe owns 99.99 % of is ValueLossExceeded (the module lands it)", () => {
  expect(exitFeeBps).toBe(100n)
  const v = verdict()
  expect(v.ok).toBe(false)
  expect(v.ok === false && v.error.name).toBe("ValueLossExceeded")
  // 33 USDC booked lost on 3,300 moved.
  expect(v.ok === false && (v.error.args as bigint[])[0]).toBe(33n * USDC)
  // Control: the same plan with the fee the chain effectively charges (~0) passes every other rule.
  expect(verdict(0n).ok).toBe(true)
})

// Fixed (rr11h H3, design of rr11i H3-a/H3-b): the off-chain judges are never stricter than the module on a fee whose
// kind they cannot tell. The paid-out verdict above stays the rule book's (`checkRebalanceRules`); the lenient verdict
// (`checkRebalanceRulesFeeLenient`, what validateRebalance judges with) accepts the rescue, marked `feeUndecided`, and
// the keeper's clamp, finding no strict repair, defers the plan to the chain's simulation instead of refusing it.
test("rr11h H3: the rescue the module lands through a retained-exit-fee pool is accepted by the rule book (feeUndecided) and deferred by the keeper's clamp", () => {
  const v = checkRebalanceRulesFeeLenient(input(exitFeeBps))
  expect(v.ok).toBe(true)
  expect(v.ok && "feeUndecided" in v && v.feeUndecided).toBe(true)
  expect(v.ok && "paidOut" in v && v.paidOut.name).toBe("ValueLossExceeded")
  const chain = [{ subAccount: A, policy: { ...policy, priceFeed: zeroAddress }, ...state, epochUsage: usage, band: "below" }]
  const snapshot = { chain: chain as never, timestamp: 1_700_000_000, poolTotals: { [POOL.toLowerCase()]: { asset: LOAN, totalAssets: supply, totalSupply: supply, shares: 10_000n * USDC, exitFeeBps: exitFeeBps } } }
  const bounds: ChainBounds = {
    balances: { [LOAN.toLowerCase()]: 0n, [COLL.toLowerCase()]: 0n },
    maxWithdraw: { [POOL.toLowerCase()]: 10_000n * USDC },
    poolAsset: { [POOL.toLowerCase()]: LOAN },
    subAccounts: { [A.toLowerCase()]: { debt: state.debt, collateral: state.collateral, loanToken: LOAN, collateralToken: COLL, due: true } },
  }
  const plan = input(exitFeeBps).plan
  const out = clampPlanToChainBounds(plan as never, bounds, undefined, { judge: snapshotRuleJudge(snapshot, bounds) })
  expect(out.plan?.subAccounts).toEqual([A])
  expect(out.plan?.actions.map((a) => a.amount)).toEqual([3_300n * USDC, 3_300n * USDC])
  expect(out.feeUndecided?.name).toBe("ValueLossExceeded")
  expect(out.refusal).toBeUndefined()
})

test("rr11h H3: a loss a retained fee does not explain is still refused ValueLossExceeded (maxLossBps 0), and other refusals are unchanged", () => {
  const strict = checkRebalanceRulesFeeLenient(input(exitFeeBps, 0))
  expect(strict.ok === false && strict.error.name).toBe("ValueLossExceeded")
  const repayOnly = { ...input(exitFeeBps), plan: { subAccounts: [A], actions: [{ kind: "Repay" as const, subAccount: 0, amount: 3_300n * USDC }] } }
  expect(checkRebalanceRulesFeeLenient(repayOnly)).toEqual(checkRebalanceRules(repayOnly))
  expect(checkRebalanceRulesFeeLenient(repayOnly).ok).toBe(false)
})
