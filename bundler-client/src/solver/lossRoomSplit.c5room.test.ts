import { expect, test } from "vitest"
import { LOSS_ROOM_LEFT } from "./planSteps.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { ownPoolsSwapTarget, TEST_COSTS } from "./testing.js"
import type { Policy, SolverInput, SubAccountInput } from "./types.js"

// Issue 11 item 10, the plan-wide loss room (found in review rr11zc's session, "4 swap rescues exceeding the plan-wide
// epoch loss room with the default loss limits"). Each target of the action-cap fixture is rescued alone by a two-pool
// sale (~33-36 bps fee + impact). With the default loss limits (maxLossBps 50, maxEpochLossBps 400) the plan's loss is
// charged to every listed sub-account's epoch budget, so 3 such rescues fill the room; the 4th and later were reported
// "no valid plan ... cannot be sent partially or split over operations" (the keeper's `rescue-infeasible` alert),
// although each fits the next operation alone. Now: the most urgent go now, the others are left for the next operation
// with a reason naming the loss room (as a target over MAX_SUB_ACCOUNTS / MAX_ACTIONS), and one that does not fit the
// loss limits even alone stays infeasible.

const DEFAULTS = { maxLossBps: 50, maxEpochLossBps: 400 }

function run(targets: SubAccountInput[]) {
  const input: SolverInput = { now: 1_700_000_000, subAccounts: targets, pools: [], idle: {}, costs: TEST_COSTS }
  const { plan, outcomes } = solve(input)
  const pre = { subAccounts: targets.map((s) => s.state), pools: [], idle: {} }
  const check = plan && checkPlanAgainstPolicy({ plan, pre, policies: Object.fromEntries(targets.map((s) => [s.state.id, s.policy])), epochs: Object.fromEntries(targets.map((s) => [s.state.id, s.epoch])), now: input.now })
  return { input, plan, outcomes, violations: check?.violations ?? [] }
}

function splitByLossRoom(healths: number[], limits: Partial<Pick<Policy, "maxLossBps" | "maxEpochLossBps">> = DEFAULTS) {
  const targets = healths.map((h, k) => ownPoolsSwapTarget(k, h, limits))
  const { input, plan, outcomes, violations } = run(targets)
  if (plan === undefined) throw new Error("no plan")
  const inPlan = new Set(plan.subAccounts)
  const kept = healths.filter((_, k) => inPlan.has(targets[k]?.state.id as string))
  const left = healths.filter((_, k) => !inPlan.has(targets[k]?.state.id as string))
  console.log(
    `loss room, ${healths.length} targets: ${plan.subAccounts.length} in the plan (${plan.actions.length} actions), ${left.length} left; ` +
      `reasons left: ${[...new Set(outcomes.filter((o) => !inPlan.has(o.id)).map((o) => o.reason.replace(/health [0-9.]+ < /, "health h < ")))].join(" | ")}`,
  )
  return { input, targets, plan, outcomes, violations, inPlan, kept, left }
}

for (const healths of [
  [1.1, 1.09, 1.08, 1.07, 1.06, 1.05, 1.04, 1.03],
  [1.07, 1.06, 1.05, 1.04, 1.03],
]) {
  test(`${healths.length} swap rescues, default loss limits: the most urgent sent, the rest left for the next operation naming the loss room, none infeasible`, () => {
    const { input, targets, outcomes, violations, inPlan, kept, left } = splitByLossRoom(healths)
    expect(violations).toEqual([])
    // The loss room binds (not the structural limits: 8 of them are 40 actions > 32, but fewer than that are kept).
    expect(kept.length).toBeGreaterThanOrEqual(1)
    expect(kept.length).toBeLessThan(Math.min(healths.length, 6))
    expect(left.length).toBeGreaterThan(0)
    // Most urgent first: whatever is left is less urgent than everything sent.
    expect(Math.min(...left)).toBeGreaterThan(Math.max(...kept))
    for (const [k, s] of targets.entries()) {
      if (inPlan.has(s.state.id)) continue
      const reason = outcomes[k]?.reason ?? ""
      expect(reason, `target ${k}`).toMatch(/loss room \(maxLossBps 50 of what it moves, maxEpochLossBps 400 of each listed sub-account's equity\) is used by the more urgent rescues/)
      expect(reason, `target ${k}`).toContain(LOSS_ROOM_LEFT)
      expect(reason, `target ${k}`).not.toMatch(/no valid plan/)
      // It does fit an operation of its own.
      const alone = solve({ ...input, subAccounts: [s] })
      expect(alone.plan?.subAccounts, `target ${k} alone`).toEqual([s.state.id])
    }
  })
}

test("a target that exceeds the loss limits even alone stays infeasible (no valid plan), the others as before", () => {
  // Three rescues that fill the default loss room, then a less urgent one whose own epoch loss budget (20 bps of its
  // equity, ~8.6 USDC) is below what its sale alone loses (~33 bps of ~10,000 moved).
  const targets = [1.05, 1.04, 1.03].map((h, k) => ownPoolsSwapTarget(k, h, DEFAULTS))
  const tight = ownPoolsSwapTarget(3, 1.1, { maxLossBps: 50, maxEpochLossBps: 20 })
  const alone = solve({ now: 1_700_000_000, subAccounts: [tight], pools: [], idle: {}, costs: TEST_COSTS })
  expect(alone.plan).toBeUndefined()
  expect(alone.outcomes[0]?.reason).toMatch(/no valid plan/)
  const { plan, outcomes, violations } = run([tight, ...targets])
  console.log(`loss room, tight target among 3: plan ${plan?.subAccounts.length}; its reason: ${outcomes[0]?.reason.slice(0, 160)}`)
  expect(violations).toEqual([])
  expect(plan?.subAccounts).not.toContain(tight.state.id)
  expect(outcomes[0]?.reason).toMatch(/no valid plan/)
  expect(outcomes[0]?.reason).not.toContain(LOSS_ROOM_LEFT)
})
