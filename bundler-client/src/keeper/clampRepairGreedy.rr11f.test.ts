import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { judgePolicy, judgeState, unusedEpoch } from "./testing.js"

// Review rr11f F1: the rule-book repair (f11f, `repairToRuleBook`) goes on from the FIRST candidate that still leaves a
// plan. When the named rescue has pool actions, that candidate is "its pool actions scaled to 3/4", so every round scales
// the same refused rescue again and never leaves it out; with a second refused rescue, the plan without both (an accepted
// rescue) is never tried and nothing is sent. The real judge (`snapshotRuleJudge`: the SDK's rule book on the snapshot).
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const P1 = "0x00000000000000000000000000000000000000d1"
const P2 = "0x00000000000000000000000000000000000000d2"
const A = `0x${"aa".repeat(32)}` as const
const B = `0x${"bb".repeat(32)}` as const
const C = `0x${"cc".repeat(32)}` as const
const WAD = 10n ** 18n

const policyOf = (market: `0x${string}`, pools: string[]) => judgePolicy(market, pools)
// Each: 1 collateral at 3,000 (18/18 decimals), 2,000 debt, lltv 0.86: health 1.29, below its band [1.4, 1.6, 2.0];
// landing zone [1.4, 1.8]: a repayment of 157.2 to 566.6 lands, 100 does not (health 1.358).
const state = judgeState
const usage = unusedEpoch
const snapshot = {
  timestamp: 1_700_000_000,
  chain: [
    { ...state, subAccount: A, policy: policyOf(A, [P1]), epochUsage: usage, band: "below" },
    { ...state, subAccount: B, policy: policyOf(B, [P2]), epochUsage: usage, band: "below" },
    { ...state, subAccount: C, policy: policyOf(C, []), epochUsage: usage, band: "below" },
  ] as never,
  poolTotals: {
    [P1]: { asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 500n * WAD },
    [P2]: { asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 500n * WAD },
  } as never,
}
const sub = { debt: 2_000n * WAD, collateral: WAD, loanToken: LOAN, collateralToken: COLL, due: true }
// A crash: both vaults' liquidity fell to 100 (maxWithdraw) while the Safe holds 400 idle for C's own rescue.
const bounds: ChainBounds = {
  balances: { [LOAN]: 400n * WAD, [COLL]: 0n },
  maxWithdraw: { [P1]: 100n * WAD, [P2]: 100n * WAD },
  poolAsset: { [P1]: LOAN, [P2]: LOAN },
  subAccounts: { [A]: sub, [B]: sub, [C]: sub },
}
const plan: ChainPlan = {
  subAccounts: [A, B, C],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: P1, amount: 400n * WAD },
    { kind: "Repay", subAccount: 0, amount: 400n * WAD },
    { kind: "WithdrawFromPool", subAccount: 1, pool: P2, amount: 400n * WAD },
    { kind: "Repay", subAccount: 1, amount: 400n * WAD },
    { kind: "Repay", subAccount: 2, amount: 400n * WAD },
  ],
}
// The solver's split: A's and B's repayments paid by their withdrawals, C's by the idle 400.
const funding: PlanFunding = { idle: [undefined, 0n, undefined, 0n, 400n * WAD] }
const cOnly: ChainPlan = { subAccounts: [C], actions: [{ kind: "Repay", subAccount: 0, amount: 400n * WAD }] }

test("rr11f F1 (as it was): C alone is accepted, each of the cut pool-funded rescues A and B is refused", () => {
  const judge = snapshotRuleJudge(snapshot, bounds)
  // The module accepts C's rescue alone at this state.
  expect(judge(cOnly)?.ok).toBe(true)
  const first = clampPlanToChainBounds(plan, bounds, funding)
  const v = first.plan && judge(first.plan)
  expect(v?.ok === false && v.error.name).toBe("HealthOutOfBand")
})

// Was FAILS TODAY (rr11f F1): a repair must not give up an accepted rescue (C) because two others are refused. Before
// the fix: 79 judge calls (13 rounds of scaling A), then no plan, refusal HealthOutOfBand(A).
test("rr11f F1: the repair leaves out both refused rescues and sends C's", () => {
  const judge = snapshotRuleJudge(snapshot, bounds)
  let calls = 0
  const out = clampPlanToChainBounds(plan, bounds, funding, { judge: (p) => (calls++, judge(p)) })
  expect(out.plan?.subAccounts).toEqual([C])
  expect(out.plan && judge(out.plan)?.ok).toBe(true)
  expect(out.repaired?.dropped).toEqual([A, B])
  console.log(`rr11f F1: ${calls} judge calls, dropped ${out.repaired?.dropped.length}`)
})
