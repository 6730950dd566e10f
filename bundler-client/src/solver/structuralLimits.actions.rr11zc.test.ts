import { expect, test } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { CRASH_CURVE, makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput, SwapCurve } from "./types.js"

// Review rr11zc: is the claim of structuralLimits.actions.test.ts real (the ACTION cap binds, not the loss room or
// the sub-account cap)? Same fixture (copied). Held tests.
// Original comment: Issue 11 item 10 (structural limits), the action cap alone: 8 targets fit MAX_SUB_ACCOUNTS, but each one's swap rescue
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


function run(healths: number[]) {
  const subAccounts = healths.map((h, k) => target(k, h))
  const input: SolverInput = { now: 1_700_000_000, subAccounts, pools: [], idle: {}, costs: TEST_COSTS }
  const { plan, outcomes } = solve(input)
  const pre = { subAccounts: subAccounts.map((s) => s.state), pools: [], idle: {} }
  const check = plan && checkPlanAgainstPolicy({ plan, pre, policies: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.policy])), epochs: Object.fromEntries(subAccounts.map((s) => [s.state.id, s.epoch])), now: input.now })
  return { plan, outcomes, violations: check?.violations ?? [] }
}

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
