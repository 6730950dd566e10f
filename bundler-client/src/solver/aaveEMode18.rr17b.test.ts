import { describe, expect, it } from "vitest"
import { withInclusionMargin } from "../keeper/inclusionMargin.js"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput } from "./types.js"

const E18 = 10n ** 18n
const Pc = 3_500n * 10n ** 8n // Aave oracle: wstETH, base currency (USD, 8 decimals)
const Pd = 3_000n * 10n ** 8n // WETH
const LT = 9_500n // e-mode "ETH correlated" threshold, both reserves
/** Aave v3.0.2 GenericLogic: floored average threshold, percentMul and wadDiv rounded half up. */
function aaveHealthFactor({ totalCollateral, weightedCollateral, totalDebt }: { totalCollateral: bigint; weightedCollateral: bigint; totalDebt: bigint }): bigint {
  const average = weightedCollateral / totalCollateral
  return ((((totalCollateral * average + 5_000n) / 10_000n) * E18 + totalDebt / 2n) / totalDebt)
}

// The Safe's Aave account: 100 wstETH (one collateral reserve), WETH debt, e-mode 1. Aave's totals and the adapter's
// frame (AaveV3Adapter.marketState / _position) exactly.
const C_BAL = 100n * E18 + 123_456_789n
const TC = (C_BAL * Pc) / E18
const aave = (debtBal: bigint) => aaveHealthFactor({ totalCollateral: TC, weightedCollateral: TC * LT, totalDebt: (debtBal * Pd) / E18 })
/** A WETH debt balance (wei) of any size: not a whole number of Aave base units (1e-8 USD = 3,333,333.3 wei). */
const D_BAL = 82_098_765_432_109_876_543n
/** The control: a debt balance worth a whole number of base units exactly (TD x 1e7 / 3 wei, TD a multiple of 3). */
const D_EXACT = ((((D_BAL * Pd) / E18) / 3n) * 3n * 10n ** 7n) / 3n

/** The donor's frame as AaveV3Adapter.marketState reports it (collateral, debt, equity), in wei. */
function frameOf(debtBal: bigint) {
  const TD = (debtBal * Pd) / E18
  const ceil = (TD * E18 + Pd - 1n) / Pd
  return { collateral: (TC * LT * E18) / (LT * Pc), debt: debtBal > ceil ? debtBal : ceil, equity: ((TC - TD) * E18) / Pd }
}

function input(debtBal: bigint): SolverInput {
  const f = frameOf(debtBal)
  return withInclusionMargin(
    {
      now: 1_700_000_000,
      pools: [],
      idle: {},
      costs: TEST_COSTS,
      subAccounts: [
        {
          // Due: a WETH-loan market below its band.
          state: { id: "a", loanAsset: "WETH", collateralAsset: "wstETH", loanDecimals: 18, collateralDecimals: 18, collateral: 180, debt: (180 * 3500 * 0.945) / 3000 / 1.05, lltv: 0.945, price: 3500 / 3000 },
          policy: makePolicy({ minHealth: 1.1, targetHealth: 1.2, maxHealth: 1.4 }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          risk: { sigma: 0.6 },
        },
        {
          // The Aave donor as the keeper hands it over (portfolio.ts subAccountInputOf, limits read).
          state: {
            id: "b", loanAsset: "WETH", collateralAsset: "wstETH", loanDecimals: 18, collateralDecimals: 18,
            collateral: Number(f.collateral) / 1e18, debt: Number(f.debt) / 1e18, lltv: 0.95, price: 3500 / 3000,
            equity: Number(f.equity) / 1e18, thresholdFloored: true, collateralHeld: Number(C_BAL) / 1e18, ltvBorrowable: 1e6,
          },
          policy: makePolicy({ minHealth: 1.1, targetHealth: 1.2, maxHealth: 1.4 }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          // wstETH/WETH: a low-volatility ratio; the landing margin is then below 1 bps of Aave's threshold.
          risk: { sigma: 0.02 },
        },
      ],
    },
    12,
  )
}

// Before the fix (fx17c), any debt balance not worth whole base units gave no plan: the rule book read b 1/9,500 low
// (HealthCrossedTarget) and a got "funds and caps reach only 1.050".

/** The solver's plan for the input; the donor's borrow (wei) if it plans one, and Aave's factor after it. */
function planFor(debtBal: bigint) {
  const r = solve(input(debtBal))
  const borrow = r.plan?.actions.find((a) => r.plan?.subAccounts[a.subAccount] === "b" && a.kind === "Borrow")
  return { r, borrow: borrow?.amountBase, after: borrow === undefined ? undefined : aave(debtBal + (borrow.amountBase as bigint)) }
}

describe("Aave e-mode wstETH/WETH donor, 18-decimal loan, one collateral (review rr17b B1)", () => {
  it("fixture: the donor is above its target by Aave's factor, with both debt balances", () => {
    expect(Number(aave(D_BAL)) / 1e18).toBeGreaterThan(1.34)
    expect(Number(aave(D_EXACT)) / 1e18).toBeGreaterThan(1.34)
    expect(D_BAL - D_EXACT).toBeLessThan(10n ** 8n)
  })

  it("control: a debt worth whole base units: the solver rescues a from b, b's Aave factor at or above its target", () => {
    const { borrow, after } = planFor(D_EXACT)
    expect(borrow).toBeDefined()
    expect(after as bigint).toBeGreaterThanOrEqual((12n * E18) / 10n)
  })

  it("rr17b B1 (fixed): with a debt balance not a whole number of base units the solver still rescues a from b", () => {
    const { borrow, after } = planFor(D_BAL)
    expect(borrow).toBeDefined()
    expect(after as bigint).toBeGreaterThanOrEqual((12n * E18) / 10n)
  })
})
