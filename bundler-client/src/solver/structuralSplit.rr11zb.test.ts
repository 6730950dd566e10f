import { expect, test } from "vitest"
import { MAX_SUB_ACCOUNTS } from "@levpilot/sdk/constants"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Review rr11zb B3 (issue 11 item 10, "most urgent first, the rest in the next operation"; the a3 fix of rr11za A1,
// solver.ts:217-221). Over the module's limits, while the least urgent target is below its band and the plan lists
// fewer than MAX_SUB_ACCOUNTS targets, the split leaves out the SMALLEST SOURCE, whatever it costs in rescues. With 7
// targets and 2 similar donors (9 sub-accounts) the smaller donor goes and the other funds only 4: t0-t2 are reported
// "funds and caps reach only ... no valid plan ... cannot be sent partially or split over operations" (the keeper's
// rescue-infeasible alert, binding funds, and no over-limit turn: their reason is not "left for the next"), while
// leaving out the least urgent TARGET instead rescues 6 now with both donors. rr11za's "more robust" fix (undo a
// structural source exclusion that rescues fewer) was not taken.
// Gated by RR11ZB_FAILING (FAILS TODAY).

function sub(id: string, health: number, collateral: number): SubAccountInput {
  const price = 3000
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}
/** 7 targets at health 1.050 .. 1.044 (t0 the least urgent), two in-band donors of `c` and 1.01 c WETH at 1.65, no idle. */
const crash = (c: number, without: string[] = []): SolverInput => ({
  now: 1_700_000_000,
  subAccounts: [...Array.from({ length: 7 }, (_, k) => sub(`t${k}`, 1.05 - k * 0.001, 1)), sub("donor0", 1.65, c), sub("donor1", 1.65, c * 1.01)].filter((s) => !without.includes(s.state.id)),
  pools: [],
  idle: {},
  costs: TEST_COSTS,
})
const rescued = (r: ReturnType<typeof solve>) => r.outcomes.filter((o) => o.role === "target").map((o) => o.id)

test("rr11zb B3 (held, reference): without the least urgent target t0 (8 sub-accounts), both donors rescue t1-t6 in one operation", () => {
  const r = solve(crash(8, ["t0"]))
  expect(r.plan?.subAccounts.length).toBe(Number(MAX_SUB_ACCOUNTS))
  expect(rescued(r)).toEqual(["t1", "t2", "t3", "t4", "t5", "t6"])
})

for (const c of [8, 9])
  test(`rr11zb B3 (fixed by b3; was: plan of 5, rescued t3-t6 only, donor0 left out; t0-t2 'funds and caps reach only ... no valid plan'): 7 targets, donors ${c} and ${c * 1.01} WETH: expected the 6 most urgent rescued now and the 7th left for the next operation`, () => {
    const r = solve(crash(c))
    expect(r.plan?.subAccounts.length).toBeLessThanOrEqual(Number(MAX_SUB_ACCOUNTS))
    expect(rescued(r)).toEqual(["t1", "t2", "t3", "t4", "t5", "t6"])
    // The one left out is over the limit ("left for the next"), not reported infeasible.
    expect(r.outcomes.find((o) => o.id === "t0")?.reason).toContain("left for the next")
  })
