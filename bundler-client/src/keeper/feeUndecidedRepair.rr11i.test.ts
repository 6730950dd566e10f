import { expect, test } from "vitest"
import { checkRebalanceRules, checkRebalanceRulesFeeLenient } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { failingSubAccountOf } from "./safeStep.js"
import { judgePolicy, judgeState, unusedEpoch } from "./testing.js"

// Review rr11i H3-a (test brought from branch rr11i; its "observed today" test was against the reverted deferral 209b851
// and is replaced by the verdicts below). The deferral's judge returned "not judged" for a plan only a paid-out pool fee refuses
// ValueLossExceeded, so `clampPlanToChainBounds` never runs `repairToRuleBook` on it: the whole plan goes to the send.
// When the vault really pays its fee out, the module's simulation refuses it ValueLossExceeded, a plan-wide error
// `failingSubAccountOf` cannot attribute: `solveAndSend` rethrows, the step ends, next block the same plan. Before the
// fix the strict judge's repair left out (or scaled) the fee-pool rescue and sent C's idle-funded rescue.
// Fixture: A rescues through pool P1 (exit fee 500 bps, the Safe holds 999 of its 1,000 shares), C through 400 idle.
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const P1 = "0x00000000000000000000000000000000000000d1"
const A = `0x${"aa".repeat(32)}` as const
const C = `0x${"cc".repeat(32)}` as const
const WAD = 10n ** 18n
const snapshot = {
  timestamp: 1_700_000_000,
  chain: [
    { ...judgeState, subAccount: A, policy: judgePolicy(A, [P1]), epochUsage: unusedEpoch, band: "below" },
    { ...judgeState, subAccount: C, policy: judgePolicy(C, []), epochUsage: unusedEpoch, band: "below" },
  ] as never,
  poolTotals: { [P1]: { asset: LOAN, totalAssets: 1_000n * WAD, totalSupply: 1_000n * WAD, shares: 999n * WAD, exitFeeBps: 500n } } as never,
}
const sub = { debt: 2_000n * WAD, collateral: WAD, loanToken: LOAN, collateralToken: COLL, due: true }
const bounds: ChainBounds = {
  balances: { [LOAN]: 400n * WAD, [COLL]: 0n },
  maxWithdraw: { [P1]: 900n * WAD },
  poolAsset: { [P1]: LOAN },
  subAccounts: { [A]: sub, [C]: sub },
}
const plan: ChainPlan = {
  subAccounts: [A, C],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: P1, amount: 400n * WAD },
    { kind: "Repay", subAccount: 0, amount: 400n * WAD },
    { kind: "Repay", subAccount: 1, amount: 400n * WAD },
  ],
}
const funding: PlanFunding = { idle: [undefined, 0n, 400n * WAD] }
// The rule book's input as the keeper's judge builds it (fee paid out: what the module says of a paid-out vault).
const rulesInput = (p: ChainPlan) => ({
  plan: { subAccounts: p.subAccounts, actions: p.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, pool: a.pool, amount: a.amount })) },
  subAccounts: (snapshot.chain as never as { subAccount: `0x${string}`; policy: object; epochUsage: object }[])
    .filter((s) => p.subAccounts.includes(s.subAccount))
    .map((s) => ({ id: s.subAccount, policy: { ...s.policy, priceFeed: "0x0000000000000000000000000000000000000000" }, state: s, usage: s.epochUsage })) as never,
  pools: [{ address: P1 as `0x${string}`, asset: LOAN as `0x${string}`, totalAssets: 1_000n * WAD, totalSupply: 1_000n * WAD, shares: 999n * WAD, exitFeeBps: 500n }],
  balances: bounds.balances,
  swapAdapter: "0x0000000000000000000000000000000000000000" as const,
  timestamp: 1_700_000_000n,
  gasUsed: 0n,
})

test("rr11i H3-a: the verdicts of the fixture: paid out ValueLossExceeded, retained accepted (feeUndecided); the keeper's judge refuses it, marked feeUndecided", () => {
  const paid = checkRebalanceRules(rulesInput(plan))
  expect(paid.ok === false && paid.error.name).toBe("ValueLossExceeded")
  const lenient = checkRebalanceRulesFeeLenient(rulesInput(plan))
  expect(lenient.ok && "feeUndecided" in lenient && lenient.feeUndecided).toBe(true)
  // The judge is strict first (it no longer answers "not judged"), so the clamp's repair runs.
  const v = snapshotRuleJudge(snapshot, bounds)(plan)
  expect(v?.ok).toBe(false)
  expect(v?.ok === false && v.error.name).toBe("ValueLossExceeded")
  expect(v?.feeUndecided).toBe(true)
  // What the module's simulation throws for a paid-out vault names no sub-account (the keeper then leaves out the plan's
  // fee-pool sub-accounts: feeUndecidedSimulation.f11k.test.ts).
  const moduleError = new ValueLossExceededError({ loss: 25n * WAD, moved: 1_200n * WAD, maxLossBps: 100n })
  expect(failingSubAccountOf(moduleError, plan)).toBeUndefined()
})

test("rr11i H3-a: a fee-undecided plan is first repaired to one the paid-out book accepts (deferred to the chain only when no repair passes)", () => {
  const judge = snapshotRuleJudge(snapshot, bounds)
  const out = clampPlanToChainBounds(plan, bounds, funding, { judge })
  expect(out.plan).toBeDefined()
  expect(checkRebalanceRules(rulesInput(out.plan as ChainPlan)).ok).toBe(true)
  // C is sent, A left out (the paid-out book refuses every scale of A's fee-pool rescue), nothing deferred.
  expect(out.plan?.subAccounts).toEqual([C])
  expect(out.repaired?.dropped).toEqual([A])
  expect(out.feeUndecided).toBeUndefined()
})

test("rr11i H3-a: with no strict repair (A alone), the plan the retained book accepts is deferred to the chain, marked feeUndecided", () => {
  const alone: ChainPlan = { subAccounts: [A], actions: plan.actions.slice(0, 2) }
  const out = clampPlanToChainBounds(alone, bounds, { idle: [undefined, 0n] }, { judge: snapshotRuleJudge(snapshot, bounds) })
  expect(out.plan).toEqual(alone)
  expect(out.feeUndecided?.name).toBe("ValueLossExceeded")
  expect(out.refusal).toBeUndefined()
  // A plan refused for another reason than the fee is never deferred (maxLossBps 0 on A: refused retained too).
  const strictSnapshot = { ...snapshot, chain: [{ ...(snapshot.chain as never as object[])[0], policy: judgePolicy(A, [P1], 0) }] as never }
  const refused = clampPlanToChainBounds(alone, bounds, { idle: [undefined, 0n] }, { judge: snapshotRuleJudge(strictSnapshot, bounds) })
  expect(refused.plan).toBeUndefined()
  expect(refused.refusal?.name).toBe("ValueLossExceeded")
  expect(refused.feeUndecided).toBeUndefined()
})
