import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { ChainBounds } from "./chainBounds.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { judgePolicy, judgeState, unusedEpoch } from "./testing.js"

// The keeper's judge (f11f, review rr11e E1): the rule book on a snapshot's state, or undefined where it cannot judge.
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const POOL = "0x00000000000000000000000000000000000000d1"
const MORPHO = "0x0000000000000000000000000000000000000001"
const AAVE = "0x0000000000000000000000000000000000000002"
const SUB = `0x${"aa".repeat(32)}` as const
const WAD = 10n ** 18n

const policy = judgePolicy(SUB, [POOL])
// 1 collateral at 3,000 (1e36 scale, 18/18 decimals), 2,000 debt, lltv 0.86: health 1.29, below its band.
const state = judgeState
const snapshot = {
  timestamp: 1_700_000_000,
  chain: [{ ...state, subAccount: SUB, policy, epochUsage: unusedEpoch, band: "below" }] as never,
  poolTotals: { [POOL]: { asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 500n * WAD } } as never,
}
const bounds: ChainBounds = { balances: { [LOAN]: 0n, [COLL]: 0n }, maxWithdraw: {}, poolAsset: {}, subAccounts: {} }
const rescue = (amount: bigint): ChainPlan => ({
  subAccounts: [SUB],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount },
    { kind: "Repay", subAccount: 0, amount },
  ],
})

test("judges a pool-funded rescue with the rule book on the snapshot: accepted within the Safe's shares, ActionFailed above them", () => {
  const judge = snapshotRuleJudge(snapshot, bounds, { aaveAdapter: AAVE })
  // 400 repaid: health 3000 x 0.86 / 1600 = 1.61, in its landing zone.
  expect(judge(rescue(400n * WAD))?.ok).toBe(true)
  const over = judge(rescue(600n * WAD))
  expect(over?.ok === false && over.error.name).toBe("ActionFailed")
})

test("cannot judge (undefined): a swap plan, an Aave sub-account, a pool without totals, an unknown sub-account, a pool asset without a balance", () => {
  const judge = snapshotRuleJudge(snapshot, bounds, { aaveAdapter: AAVE })
  expect(judge({ subAccounts: [SUB], actions: [{ kind: "SellCollateral", subAccount: 0, amount: WAD, route: `0x${"0".repeat(64)}` } as never] })).toBeUndefined()
  expect(snapshotRuleJudge(snapshot, bounds, { aaveAdapter: MORPHO })(rescue(WAD))).toBeUndefined()
  expect(snapshotRuleJudge({ ...snapshot, poolTotals: {} }, bounds)(rescue(WAD))).toBeUndefined()
  expect(judge({ ...rescue(WAD), subAccounts: [`0x${"cc".repeat(32)}`] })).toBeUndefined()
  expect(snapshotRuleJudge(snapshot, { ...bounds, balances: { [COLL]: 0n } })(rescue(WAD))).toBeUndefined()
})
