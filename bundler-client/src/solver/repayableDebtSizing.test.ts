import { expect, test } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { PortfolioState, SolverInput, SubAccountInput } from "./types.js"

// Issue 11 (review brk11u, F5; issue 11 items 1 and 8: every amount sized to the on-chain bound it comes from). An Aave v3
// sub-account whose account also owes another reserve: `debt` (account-wide) 24,571 USDC, `repayableDebt` (the
// adapter's maxRepayable, the debt reserve's own variable debt: the most a repayment clears) 5,000 USDC; health 1.05,
// band [1.15, 1.7]; the only funding is a 6,300 USDC pool (no idle). Repaying the 5,000 that clears lands at health
// 1.318, inside the band. The solver sizes the repayment on `debt` (6,268 to reach its 1.41 goal; `repayLeft` reads
// `repayable`, the reserve's limit, never `repayableDebt`), the rule book counts only 5,000 as spent and refuses the pool
// withdrawal as unused (PoolNotUsed), and the target was left with NO plan. Every repayment route (idle, pool, donor) is
// now capped at min(debt, repayableDebt, repayable) (`WorkingPortfolio.repayLeft`).

const USDC = "0x00000000000000000000000000000000000000b6"
const POOL = "0x00000000000000000000000000000000000000f1"
const ID = `0x${"1".repeat(64)}`

type Funding = "pool" | "idle" | "donor"

function input(repayableDebt: number | undefined, funding: Funding = "pool"): SolverInput {
  const price = 3000
  const collateral = 10
  const s: SubAccountInput = {
    state: { id: ID, loanAsset: USDC, collateralAsset: "0x00000000000000000000000000000000000000c9", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / 1.05, lltv: 0.86, price, ...(repayableDebt === undefined ? {} : { repayableDebt }) },
    policy: makePolicy({ pools: [POOL] }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
  // A healthy Morpho sub-account on the same loan token (health 2.5, far above its band's floor) as the donor.
  const donor: SubAccountInput = {
    state: { id: `0x${"2".repeat(64)}`, loanAsset: USDC, collateralAsset: "0x00000000000000000000000000000000000000c9", loanDecimals: 6, collateralDecimals: 18, collateral: 20, debt: (20 * price * 0.86) / 2.5, lltv: 0.86, price },
    policy: makePolicy({ pools: [], minHealth: 1.1, maxHealth: 3 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
  return {
    now: 1_700_000_000,
    subAccounts: funding === "donor" ? [s, donor] : [s],
    pools: funding === "pool" ? [{ address: POOL, asset: USDC, decimals: 6, balance: 6_300, withdrawable: 6_300 }] : [],
    idle: funding === "idle" ? { [USDC]: 6_300 } : {},
    costs: TEST_COSTS,
  }
}

test("without repayableDebt the pool-funded rescue is planned", () => {
  expect(solve(input(undefined)).plan?.actions.map((a) => a.kind)).toEqual(["WithdrawFromPool", "Repay"])
})

// Before the fix the solver sized an Aave repayment on the account-wide debt, not on repayableDebt; the pool-funded
// rescue was refused (PoolNotUsed) and the sub-account got no plan, although repaying what clears lands it in its band.
test.each<Funding>(["pool", "idle", "donor"])("an Aave repayment funded by %s is sized to repayableDebt, and the rescue that clears 5,000 of 6,268 is planned", (funding) => {
  const i = input(5_000, funding)
  const r = solve(i)
  expect(r.plan, r.outcomes[0]?.reason).toBeDefined()
  const plan = r.plan as NonNullable<typeof r.plan>
  const repaid = plan.actions.filter((a) => a.kind === "Repay" && plan.subAccounts[a.subAccount] === ID).reduce((t, a) => t + a.amount, 0)
  expect(repaid).toBeLessThanOrEqual(5_000)
  expect(repaid).toBeGreaterThan(4_000)
  const pre: PortfolioState = { subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }
  const policies = Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.policy]))
  const epochs = Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.epoch]))
  const check = checkPlanAgainstPolicy({ plan, pre, policies, epochs, now: i.now })
  expect(check.ok, JSON.stringify(check)).toBe(true)
})
