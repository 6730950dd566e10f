import { expect, test } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { CRASH_CURVE, makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput, SwapCurve } from "./types.js"

// Issue 11 item 10 (structural limits), the action cap alone: 8 targets fit MAX_SUB_ACCOUNTS, but each one's swap rescue
// split over two pools is 5 actions (RepayWithCallback, WithdrawCollateral, SellCollateral x2, EndCallback): 40 actions
// against the module's MAX_ACTIONS = 32. No idle, no pool, no donor: only sales fund the rescues, each of its own
// collateral on its own pools (sales into shared pools would be bound by the pools' depth first). The plan must fit one
// operation, keep the most urgent, pass the rule book, and name the rest as left for the next operation.
const shallow: SwapCurve = { route: CRASH_CURVE.route, points: [{ amountIn: 0.1, shortfallBps: 5 }, { amountIn: 1, shortfallBps: 40 }, { amountIn: 6, shortfallBps: 300 }] }
const medium: SwapCurve = {
  route: `0x${"0".repeat(60)}0bb8`,
  points: [
    { amountIn: 0.1, shortfallBps: 30.2 },
    { amountIn: 2, shortfallBps: 32 },
    { amountIn: 6, shortfallBps: 38 },
    { amountIn: 20, shortfallBps: 60 },
    { amountIn: 60, shortfallBps: 130 },
  ],
}

function target(k: number, health: number): SubAccountInput {
  const price = (1.02 * 18_000) / (10 * 0.86)
  return {
    state: { id: `0x${k.toString(16).padStart(64, "0")}`, loanAsset: "USDC", collateralAsset: `COLL${k}`, loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxLossBps: 2_000, maxEpochLossBps: 2_000 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.8 },
    // Each collateral's own pools: the routes differ by the token (the route's first byte here).
    swap: { ...shallow, route: `0x${(k + 1).toString(16).padStart(2, "0")}${shallow.route.slice(4)}` },
    swapRoutes: [{ ...medium, route: `0x${(k + 1).toString(16).padStart(2, "0")}${medium.route.slice(4)}` }],
  }
}

test("8 swap rescues of 5 actions each (40 > MAX_ACTIONS = 32): one operation within the limits, the most urgent first, the rest left for the next", () => {
  // Listed least urgent first, so an order-preserving cut would keep the wrong ones.
  const healths = [1.1, 1.09, 1.08, 1.07, 1.06, 1.05, 1.04, 1.03]
  const subAccounts = healths.map((h, k) => target(k, h))
  const input: SolverInput = { now: 1_700_000_000, subAccounts, pools: [], idle: {}, costs: TEST_COSTS }
  // Alone, each target's rescue is a two-pool sale of 5 actions (the premise of the test).
  const alone = solve({ ...input, subAccounts: [subAccounts[7] as SubAccountInput] }).plan
  expect(alone?.actions.map((a) => a.kind)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "SellCollateral", "EndCallback"])
  expect(subAccounts.length).toBeLessThanOrEqual(Number(MAX_SUB_ACCOUNTS))

  const { plan, outcomes } = solve(input)
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
  const pre = { subAccounts: subAccounts.map((s) => s.state), pools: [], idle: {} }
  const check = checkPlanAgainstPolicy({ plan, pre, policies: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.policy])), epochs: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.epoch])), now: input.now })
  expect(check.violations).toEqual([])
})
