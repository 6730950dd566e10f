import { expect, test } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { ownPoolsSwapTarget, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Issue 11 item 10 (structural limits), the action cap alone: 8 targets fit MAX_SUB_ACCOUNTS, but each one's swap rescue
// split over two pools is 5 actions (RepayWithCallback, WithdrawCollateral, SellCollateral x2, EndCallback): 40 actions
// against the module's MAX_ACTIONS = 32. No idle, no pool, no donor: only sales fund the rescues, each of its own
// collateral on its own pools (sales into shared pools would be bound by the pools' depth first), loss limits raised
// (with the defaults the plan-wide loss room binds at 3 such rescues, the rest left for the next operation:
// lossRoomSplit.c5room.test.ts). The plan must fit one operation,
// keep the most urgent, pass the rule book, and name the rest as left for the next operation. The held tests of review
// rr11zc (6 targets fit whole; 7 are cut by the action cap alone) check the claim.

function run(healths: number[]) {
  const subAccounts = healths.map((h, k) => ownPoolsSwapTarget(k, h))
  const input: SolverInput = { now: 1_700_000_000, subAccounts, pools: [], idle: {}, costs: TEST_COSTS }
  const { plan, outcomes } = solve(input)
  const pre = { subAccounts: subAccounts.map((s) => s.state), pools: [], idle: {} }
  const check = plan && checkPlanAgainstPolicy({ plan, pre, policies: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.policy])), epochs: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.epoch])), now: input.now })
  return { input, subAccounts, plan, outcomes, violations: check?.violations ?? [] }
}

test("8 swap rescues of 5 actions each (40 > MAX_ACTIONS = 32): one operation within the limits, the most urgent first, the rest left for the next", () => {
  // Listed least urgent first, so an order-preserving cut would keep the wrong ones.
  const healths = [1.1, 1.09, 1.08, 1.07, 1.06, 1.05, 1.04, 1.03]
  const { input, subAccounts, plan, outcomes, violations } = run(healths)
  // Alone, each target's rescue is a two-pool sale of 5 actions (the premise of the test).
  const alone = solve({ ...input, subAccounts: [subAccounts[7] as SubAccountInput] }).plan
  expect(alone?.actions.map((a) => a.kind)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "SellCollateral", "EndCallback"])
  expect(subAccounts.length).toBeLessThanOrEqual(Number(MAX_SUB_ACCOUNTS))
  if (plan === undefined) throw new Error("no plan")
  console.log(`action cap: ${plan.subAccounts.length} sub-accounts, ${plan.actions.length} actions; left: ${outcomes.filter((o) => /left for the next/.test(o.reason)).length}`)
  expect(plan.actions.length).toBeLessThanOrEqual(Number(MAX_ACTIONS))
  expect(plan.subAccounts.length).toBeGreaterThanOrEqual(5)
  // The most urgent (lowest health) are in the plan; whatever is left out is less urgent than all of them.
  const inPlan = new Set(plan.subAccounts)
  const kept = healths.filter((_, k) => inPlan.has(subAccounts[k]?.state.id as string))
  const left = healths.filter((_, k) => !inPlan.has(subAccounts[k]?.state.id as string))
  expect(left.length).toBeGreaterThan(0)
  expect(Math.min(...left)).toBeGreaterThan(Math.max(...kept))
  for (const [k, s] of subAccounts.entries()) if (!inPlan.has(s.state.id)) expect(outcomes[k]?.reason, `target ${k}`).toMatch(/left for the next/)
  expect(violations).toEqual([])
})

test("rr11zc (held): 6 of the fixture's targets (30 actions <= MAX_ACTIONS) all go in one operation: what limits 8 is not the loss room", () => {
  const { plan, violations } = run([1.08, 1.07, 1.06, 1.05, 1.04, 1.03])
  console.log(`rr11zc action cap: 6 targets -> ${plan?.subAccounts.length} sub-accounts, ${plan?.actions.length} actions`)
  expect(plan?.subAccounts.length).toBe(6)
  expect(plan?.actions.length).toBe(30)
  expect(violations).toEqual([])
})

test("rr11zc (held): 7 targets (35 actions > 32, 7 sub-accounts < MAX_SUB_ACCOUNTS): the action cap alone cuts to 6, the least urgent left for the next", () => {
  const healths = [1.09, 1.08, 1.07, 1.06, 1.05, 1.04, 1.03]
  const { plan, outcomes, violations } = run(healths)
  console.log(`rr11zc action cap: 7 targets -> ${plan?.subAccounts.length} sub-accounts, ${plan?.actions.length} actions; reason of the one left: ${outcomes[0]?.reason.slice(-140)}`)
  expect(7).toBeLessThan(Number(MAX_SUB_ACCOUNTS))
  expect(plan?.actions.length).toBeLessThanOrEqual(Number(MAX_ACTIONS))
  expect(plan?.subAccounts.length).toBe(6)
  expect(plan?.subAccounts).not.toContain(`0x${(0).toString(16).padStart(64, "0")}`)
  expect(outcomes[0]?.reason).toMatch(/left for the next/)
  expect(violations).toEqual([])
})
