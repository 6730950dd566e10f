import type { Hex } from "viem"
import { expect, test } from "vitest"
import { solve } from "../solver/solver.js"
import { ownPoolsSwapTarget, TEST_COSTS } from "../solver/testing.js"
import type { SolverResult, SubAccountInput } from "../solver/types.js"
import { LEFT_FOR_NEXT, rescueInfeasibleReason } from "./events.js"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, stepHarness } from "./testing.js"

// The keeper's side of the loss-room split (solver/lossRoomSplit.c5room.test.ts): 5 swap rescues with the default loss
// limits (maxLossBps 50, maxEpochLossBps 400), of which the plan-wide loss room takes 3; the 2 less urgent are left for
// the next operation. Before, their reason said "no valid plan" and the keeper raised a false `rescue-infeasible` alert
// (and a `no-rescue` event) for each. Now the step's own report (`reportNoRescue`, on the solver's real results) raises
// none for them, counts them as left for the next operation (`LEFT_FOR_NEXT`, the unreached turn), and still alerts a
// target that exceeds the loss limits even alone.

const DEFAULTS = { maxLossBps: 50, maxEpochLossBps: 400 }

function report(targets: SubAccountInput[]) {
  const result: SolverResult = solve({ now: 1_700_000_000, subAccounts: targets, pools: [], idle: {}, costs: TEST_COSTS })
  const { step, events, metrics } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const snapshot = { chain: targets.map((t) => ({ subAccount: t.state.id as Hex, band: "below" })), input: { subAccounts: targets } }
  ;(step as unknown as { reportNoRescue: (...args: unknown[]) => void }).reportNoRescue(rt, 100n, snapshot, [result], new Map())
  const alerted = events.flatMap((e) => (e.type === "alert" && e.kind === "rescue-infeasible" ? [e.message] : []))
  const noRescue = events.flatMap((e) => (e.type === "no-rescue" ? [e.subAccount.toLowerCase()] : []))
  return { result, alerted, noRescue, metrics }
}

test("5 swap rescues, default loss limits: the 2 left by the loss room raise no rescue-infeasible alert and count as left for the next operation", () => {
  const targets = [1.07, 1.06, 1.05, 1.04, 1.03].map((h, k) => ownPoolsSwapTarget(k, h, DEFAULTS))
  const { result, alerted, noRescue } = report(targets)
  const left = result.outcomes.filter((o) => !result.plan?.subAccounts.includes(o.id))
  console.log(`keeper, loss room: ${result.plan?.subAccounts.length} planned, ${left.length} left; rescue-infeasible alerts ${alerted.length}, no-rescue events ${noRescue.length}`)
  expect(left.length).toBe(2)
  for (const o of left) {
    expect(LEFT_FOR_NEXT.test(o.reason), o.reason).toBe(true)
    expect(rescueInfeasibleReason(o.reason)).toBe(false)
  }
  expect(alerted).toEqual([])
  expect(noRescue).toEqual([])
})

test("a target over the loss limits even alone is still alerted rescue-infeasible (binding lossLimit); a structural left-out one is not", () => {
  const tight = ownPoolsSwapTarget(3, 1.1, { maxLossBps: 50, maxEpochLossBps: 20 })
  const targets = [tight, ...[1.05, 1.04, 1.03].map((h, k) => ownPoolsSwapTarget(k, h, DEFAULTS))]
  const { alerted, noRescue } = report(targets)
  expect(noRescue).toEqual([tight.state.id.toLowerCase()])
  expect(alerted.length).toBe(1)
  expect(alerted[0]).toMatch(/lossLimit|loss limit/)
  // The structural reason (solver.ts, over MAX_SUB_ACCOUNTS / MAX_ACTIONS) as beginTarget wraps it: left, not infeasible.
  const structural = "below band (health 1.100 < 1.2) but the module would reject a plan for it (over the module's limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS); left for the next)"
  expect(LEFT_FOR_NEXT.test(structural)).toBe(true)
  expect(rescueInfeasibleReason(structural)).toBe(false)
})
