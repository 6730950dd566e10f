import { describe, expect, it } from "vitest"
import { AAVE_DEFAULT_CLOSE_FACTOR, liquidationIncentiveFactor, liquidationLoss, solve } from "./solver.js"
import { TEST_COSTS, makePolicy } from "./testing.js"
import type { SolverInput, SubAccountState } from "./types.js"

/** 10 WETH at 3,000 USDC, LLTV / liquidation threshold 0.83, health 1.1 (below its band's 1.15), 1M idle USDC. */
function rescueInput(terms: Partial<SubAccountState>, gasPrice: number): SolverInput {
  const state: SubAccountState = { id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.83) / 1.1, lltv: 0.83, price: 3000, ...terms }
  // A tolerance the account is within and a tail floor below it, so (autopilot) the rescue must pay for itself by the
  // liquidation it avoids.
  const policy = makePolicy({ tolerance: 0.9, tailDrop: 0.01 })
  return { now: 1_700_000_000, subAccounts: [{ state, policy, epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }, risk: { sigma: 0.8 } }], pools: [], idle: { USDC: 1e6 }, costs: { ...TEST_COSTS, gasPrice }, mode: "autopilot" }
}

describe("liquidationLoss", () => {
  it("Morpho Blue: the whole debt at min(1.15, 1 / (1 - 0.3 (1 - LLTV)))", () => {
    expect(liquidationLoss({ debt: 18_000, lltv: 0.86 })).toBeCloseTo(18_000 * (1 / (1 - 0.3 * 0.14) - 1), 9)
    expect(liquidationLoss({ debt: 18_000, lltv: 0.3 })).toBeCloseTo(18_000 * 0.15, 9)
  })

  it("Aave v3: the close factor of the debt at the reserve's liquidation bonus, not Morpho's formula", () => {
    const aave = { debt: 18_000, lltv: 0.83, liquidationIncentive: 1.05, liquidationCloseFactor: AAVE_DEFAULT_CLOSE_FACTOR }
    expect(liquidationLoss(aave)).toBeCloseTo(450, 9)
    expect(liquidationLoss({ debt: 18_000, lltv: 0.83 })).toBeCloseTo(18_000 * (liquidationIncentiveFactor(0.83) - 1), 9)
    expect(liquidationLoss({ debt: 18_000, lltv: 0.83 }) / liquidationLoss(aave)).toBeGreaterThan(2)
    expect(liquidationLoss({ ...aave, debt: 0 })).toBe(0)
  })
})

describe("the solver values an avoided liquidation by the venue's terms", () => {
  it("skips a rescue within tolerance whose cost Aave's penalty does not cover, though Morpho's formula would", () => {
    const aave = { liquidationIncentive: 1.05, liquidationCloseFactor: AAVE_DEFAULT_CLOSE_FACTOR }
    const cheap = solve(rescueInput(aave, 1e-12))
    expect(cheap.plan?.actions.map((a) => a.kind)).toEqual(["Repay"])
    const o = cheap.outcomes[0]!
    expect(o.liquidationProbabilityBefore).toBeLessThanOrEqual(0.9)
    const avoided = o.liquidationProbabilityBefore - o.liquidationProbabilityAfter
    expect(avoided).toBeGreaterThan(0)
    const debt = (10 * 3000 * 0.83) / 1.1
    const benefitAave = avoided * liquidationLoss({ debt, lltv: 0.83, ...aave })
    const benefitMorpho = avoided * liquidationLoss({ debt, lltv: 0.83 })
    // The plan's cost is its gas (idle funds, no slippage): scale the gas price so it falls between the two benefits.
    const gasPrice = (1e-12 * Math.sqrt(benefitAave * benefitMorpho)) / cheap.cost
    const onAave = solve(rescueInput(aave, gasPrice))
    expect(onAave.plan).toBeUndefined()
    expect(onAave.outcomes[0]?.reason).toMatch(/within tolerance and the benefit .* < cost .*; skipped/)
    expect(solve(rescueInput({}, gasPrice)).plan?.actions.map((a) => a.kind)).toEqual(["Repay"])
  })
})
