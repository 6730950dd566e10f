import { expect, test } from "vitest"
import { solve, stopHolds } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Review rr11zb (held; k13s `stopHolds` is judged at the price READ, the rescue is sized at the price expected at
// inclusion, `atInclusion`). Tried: a donor whose stop does not hold at the read price (3,000 > re-arm 2,989.6) but holds
// at the inclusion price (3,000 x e^-0.01 = 2,970.1): would the solver borrow against it (the module refuses a borrow
// while the stop holds, so the rescue reverts at the price it was sized for)? Held: the solver's own rule check judges
// the stop at the moved price, so the donor is left out; the target is funded from the other donor.

function sub(id: string, health: number, collateral: number, extra: Partial<SubAccountInput["policy"]> = {}): SubAccountInput {
  const price = 3000
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(extra),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
    inclusionDrift: -0.01,
  }
}

test("rr11zb (held): a donor whose stop holds only at the inclusion price is not borrowed against", () => {
  const stop = { stopPrice: 2960, exitHealth: 1.8, maxOracleDeviationBps: 0 }
  const input: SolverInput = {
    now: 1_700_000_000,
    subAccounts: [sub("t0", 1.05, 1), sub("held", 1.65, 10, stop), sub("free", 1.65, 10)],
    pools: [],
    idle: {},
    costs: TEST_COSTS,
  }
  const held = input.subAccounts[1] as SubAccountInput
  expect(stopHolds(held)).toBe(false)
  expect(stopHolds({ ...held, state: { ...held.state, price: 3000 * Math.exp(-0.01) } })).toBe(true)
  const r = solve(input)
  expect(r.outcomes.find((o) => o.id === "t0")?.role).toBe("target")
  expect(r.outcomes.find((o) => o.id === "held")?.role).not.toBe("source")
  expect(r.plan?.subAccounts).not.toContain("held")
  // Without the other donor nothing may be borrowed from the held one either.
  const alone = solve({ ...input, subAccounts: input.subAccounts.filter((s) => s.state.id !== "free") })
  expect(alone.plan?.subAccounts ?? []).not.toContain("held")
  // The same donor without a stop is borrowed against (so the assertions above can fail).
  const noStop = solve({ ...input, subAccounts: [sub("t0", 1.05, 1), sub("held", 1.65, 10)] })
  expect(noStop.plan?.subAccounts).toContain("held")
})
