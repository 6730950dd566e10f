import { expect, test } from "vitest"
import { MAX_ACTIONS, MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Review rr11za A1 (issue 11 item 10: "most urgent first, the rest in the next operation"). A market-wide crash: n
// sub-accounts on USDC below their band, ONE in-band donor able to lend all of them. Up to 7 targets the plan is
// [donor, t6..t0] (one borrow on the donor, a repay each). From 8 targets the plan lists 9 sub-accounts, and the
// structural-limit branch (solver.ts, "A rescue is not given up for a donor") leaves out the smallest SOURCE because the
// least urgent target is below its band: the only donor goes, solveOnce has no funds, and `solve` returns the plan-less
// result at once (solver.ts: `if (result.plan === undefined) return result`). No sub-account is rescued, every block.
// Was gated by RR11ZA_FAILING until fixed on branch a3.

function sub(id: string, health: number, collateral: number): SubAccountInput {
  const price = 3000
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}

/** n targets at health 1.050, 1.049, ... (t0 the least urgent, t(n-1) the most), then `donors` in-band donors (health 1.65, 100 WETH each). */
const crash = (n: number, donors = 1): SolverInput => ({
  now: 1_700_000_000,
  subAccounts: [...Array.from({ length: n }, (_, k) => sub(`t${k}`, 1.05 - k * 0.001, 1)), ...Array.from({ length: donors }, (_, k) => sub(`donor${k}`, 1.65, 100))],
  pools: [],
  idle: {},
  costs: TEST_COSTS,
})

test("rr11za A1 (held, reference): 7 targets and one donor: one plan rescues all 7 from the donor's borrow", () => {
  const r = solve(crash(7))
  expect(r.plan?.subAccounts.length).toBe(8)
  expect(r.outcomes.filter((o) => o.role === "target").map((o) => o.id)).toEqual(["t0", "t1", "t2", "t3", "t4", "t5", "t6"])
})

for (const [n, donors] of [
  [8, 1],
  [9, 1],
  [12, 1],
  [8, 2],
] as const)
  test(`rr11za A1 (was FAILS TODAY, fixed a3) (measured: plan undefined, all ${n} targets 'funds and caps reach only 1.05x', donor 'no trigger'): ${n} below-band targets and ${donors} donor(s): expected at least the ${Number(MAX_SUB_ACCOUNTS) - donors} most urgent rescued now with a donor, the rest left for the next operation`, () => {
    const r = solve(crash(n, donors))
    const plan = r.plan
    expect(plan, r.outcomes.map((o) => `${o.id}: ${o.reason}`).join("\n")).toBeDefined()
    expect(plan?.subAccounts.length).toBeLessThanOrEqual(Number(MAX_SUB_ACCOUNTS))
    expect(plan?.actions.length).toBeLessThanOrEqual(Number(MAX_ACTIONS))
    const rescued = r.outcomes.filter((o) => o.role === "target").map((o) => o.id)
    // Most urgent first: the k lowest healths (t(n-1), t(n-2), ...) in this operation, at least 8 - donors of them.
    expect(rescued.length).toBeGreaterThanOrEqual(Number(MAX_SUB_ACCOUNTS) - donors)
    expect([...rescued].sort()).toEqual(Array.from({ length: rescued.length }, (_, k) => `t${n - 1 - k}`).sort())
  })
