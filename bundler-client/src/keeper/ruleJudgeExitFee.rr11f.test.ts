import { expect, test } from "vitest"
import { poolFeeBpsOf } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { judgePolicy, judgeRuleBook, judgeState, unusedEpoch } from "./testing.js"

// Review rr11f F2: the keeper's judge (`snapshotRuleJudge`) gives the rule book pools without `feeBps`, so an owner-allowed
// ERC-4626 pool with an exit fee (SECURITY rows 8, 20, 52, 60 test such pools) is judged fee-free: the rule that motivated
// the fix (rr11e E1: ValueLossExceeded from a pool's exit fee) is never seen on the keeper's path. The module values the
// Safe's pool position at convertToAssets(balanceOf) (RebalanceLib `_holdings`), so the fee's burnt shares are a loss on
// chain; the rule book models it with `feeBps` (OpenZeppelin ERC4626Fees semantics, differentially tested against the module).
// The property test that measured "0 refused after the clamp" judged with the solver's own model (toRuleInput, feeBps from
// the pool's slippageBps), not with this judge.
const LOAN = "0x00000000000000000000000000000000000000b1" as const
const COLL = "0x00000000000000000000000000000000000000c1" as const
const POOL = "0x00000000000000000000000000000000000000d1"
const A = `0x${"aa".repeat(32)}` as const
const WAD = 10n ** 18n
// The quickstart's 50 bps per operation.
const policy = judgePolicy(A, [POOL], 50)
// Health 1.29, below its band [1.4, 1.6, 2.0]; repaying 400 lands at 1.61.
const state = judgeState
const usage = unusedEpoch
// The vault: 1:1, a 1 % exit fee (100 bps); the Safe holds 1,000 shares, maxWithdraw 990.09 (net of the fee, as ERC-4626 reports it).
const pool = { asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 1_000n * WAD }
const snapshot = { timestamp: 1_700_000_000, chain: [{ ...state, subAccount: A, policy, epochUsage: usage, band: "below" }] as never, poolTotals: { [POOL]: pool } as never }
// The same snapshot as readPortfolio now reads it: the pool's fee from previewRedeem vs convertToAssets of its totalSupply.
const withPoolFee = { ...snapshot, poolTotals: { [POOL]: { ...pool, exitFeeBps: poolFeeBpsOf(pool.totalSupply, pool.totalSupply - (pool.totalSupply * 100n + 10_099n) / 10_100n) } } as never }
const bounds: ChainBounds = {
  balances: { [LOAN]: 0n, [COLL]: 0n },
  maxWithdraw: { [POOL]: (1_000n * WAD * 10_000n) / 10_100n },
  poolAsset: { [POOL]: LOAN },
  subAccounts: { [A]: { debt: state.debt, collateral: state.collateral, loanToken: LOAN, collateralToken: COLL, due: true } },
}
const plan: ChainPlan = { subAccounts: [A], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: 400n * WAD }, { kind: "Repay", subAccount: 0, amount: 400n * WAD }] }

/** The rule book on the same state with the pool's real exit fee (what the module sees on chain). */
const withFee = judgeRuleBook({ id: A, policy, state, usage, poolAddress: POOL, pool, balances: bounds.balances })

test("rr11f F2 (as it was): a judge given the pool without its fee accepts the rescue the rule book with the fee (the module) refuses with ValueLossExceeded", () => {
  const judge = snapshotRuleJudge(snapshot, bounds)
  expect(withFee(plan, 0n).ok).toBe(true)
  const onChain = withFee(plan, 100n)
  expect(onChain.ok === false && onChain.error.name).toBe("ValueLossExceeded")
  expect(judge(plan)?.ok).toBe(true)
})

// Was FAILS TODAY (rr11f F2): the snapshot carries each pool's fee (readPortfolio / readPoolTotals: previewRedeem vs
// convertToAssets of totalSupply at the snapshot's block, poolFeeBpsOf) and the judge refuses what the module refuses.
test("rr11f F2: the judge refuses the exit-fee rescue as the module does", () => {
  const judge = snapshotRuleJudge(withPoolFee, bounds)
  const v = judge(plan)
  expect(v?.ok === false && v.error.name).toBe("ValueLossExceeded")
  // The clamp then repairs it (the pool action scaled down) or refuses it: never the plan as given.
  const out = clampPlanToChainBounds(plan, bounds, undefined, { judge })
  expect(out.plan).not.toEqual(plan)
  if (out.plan) expect(withFee(out.plan, 100n).ok).toBe(true)
})

test("rr11f F2: poolFeeBpsOf reads back an ERC4626Fees fee from previewRedeem vs convertToAssets, exactly, at any size", () => {
  const up = (x: bigint, y: bigint, d: bigint) => (x * y + d - 1n) / d
  for (const fee of [1n, 7n, 50n, 100n, 333n, 1_000n])
    for (const gross of [10n ** 6n, 123_456_789n, 10n ** 24n + 7n]) expect(poolFeeBpsOf(gross, gross - up(gross, fee, fee + 10_000n))).toBe(fee)
  expect(poolFeeBpsOf(10n ** 18n, 10n ** 18n)).toBe(0n)
  expect(poolFeeBpsOf(0n, 0n)).toBeUndefined()
})
