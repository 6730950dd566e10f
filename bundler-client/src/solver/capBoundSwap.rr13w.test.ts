import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { CRASH_CURVE, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput } from "./types.js"

// Review rr13w W1 (SECURITY.md row 138): a cap-bound step that sells must be the buffers' rescue or the sale's alone
// (module `RebalanceLib._capBound`, rule book `capBoundHonest`). The solver's cap-bound candidates took idle funds and
// pools first and filled the cap with a sale: a pool repayment mixed with a sale that neither reaches the health a plain
// move of the cap needs nor sells half the cap is refused HealthOutOfBand now. It keeps only the candidates the module
// takes, and tries the sale alone too.

const POOL = `0x${"5".repeat(40)}`
const PRICE = (1.02 * 18_000) / (10 * 0.86)

/** 10 WETH against 18,000 USDC at health 1.02, swaps at 50 bps, a USDC pool holding `pool`, cap `cap` per rebalance. */
function world(pool: number, cap: number): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: 0.86, price: PRICE },
      policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [POOL], maxAmountPerRebalance: cap, cooldown: 0 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.8 },
      swap: CRASH_CURVE,
    },
    { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: pool, withdrawable: pool }] },
  )
}

const kinds = (plan: Plan | undefined) => plan?.actions.map((a) => a.kind)
const soldValue = (plan: Plan | undefined) => (plan?.actions ?? []).filter((a) => a.kind === "SellCollateral").reduce((sum, a) => sum + a.amount * PRICE, 0)

describe("cap-bound rescues that sell: the buffers' or the sale's alone (review rr13w W1)", () => {
  test("a pool too small for the cap (1,500 of 5,000): the cap-bound rescue is the sale alone, not the pool padded with a sale; the rule book accepts it", () => {
    const input = world(1_500, 5_000)
    const { plan, outcomes } = solve(input)
    expect(plan).toBeDefined()
    expect(outcomes[0]?.capBound).toBe(true)
    // no pool or idle repayment mixed in: one callback block
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    // the sale alone is at least 99 % of the cap counted twice (module `_capBound`)
    expect(2 * soldValue(plan)).toBeGreaterThanOrEqual(0.99 * 5_000)
    const after = applyPlan({ subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }, plan as Plan).subAccounts[0]
    const h = healthOf(after as NonNullable<typeof after>)
    expect(h).toBeGreaterThanOrEqual(1.02 + 0.01)
    expect(h).toBeLessThan(1.2)
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
  })

  test("a pool that funds the cap (10,000 of 500): the cap-bound rescue is the buffers alone (no sale), accepted", () => {
    const input = world(10_000, 500)
    const { plan, outcomes } = solve(input)
    expect(outcomes[0]?.capBound).toBe(true)
    expect(kinds(plan)).toEqual(["WithdrawFromPool", "Repay"])
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
  })
})
