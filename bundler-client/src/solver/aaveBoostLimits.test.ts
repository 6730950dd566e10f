import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { BUY_CURVE, makePolicy, oneSubAccountInput } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Review rev11s (issue 11 item 8: "boost and donor borrows ignore the market's free liquidity ... size to what the market
// can lend"). A swap boost on an Aave v3 sub-account supplies the collateral it buys: the one-pass shape with
// SupplyCollateral (held by Aave's supply cap, SUPPLY_CAP_EXCEEDED "51"), the flash-looped shape with
// SupplyCollateralWithCallback, which the adapter's AaveFlashLoanRouter flash-borrows from the COLLATERAL reserve first
// (FlashLiquidityShort above its free liquidity: `flashableCollateral`). `planSwapBoost` bounded the supply it plans by
// the flash liquidity but not by `suppliable`; the clamp then cut the supply below the purchase (collateral bought and
// left idle: IdleInflow) in every block.

const curve = BUY_CURVE

/** 10 WETH at 3,000 on Aave (flash premium 5 bps) at `health`, far above the band [1.25, 1.8]; no idle funds, no pool. */
function aaveAbove(health: number, limits: Partial<SubAccountInput["state"]>): SolverInput {
  return oneSubAccountInput({
    state: { id: `0x${"e".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000, flashPremiumBps: 5, ...limits },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swapBuy: curve,
  })
}
const supplied = (input: SolverInput) => {
  const { plan } = solve(input)
  return plan?.actions.filter((a) => a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback").reduce((sum, a) => sum + a.amount, 0) ?? 0
}

describe("a swap boost on Aave within the collateral reserve's limits", () => {
  test("the supply-cap room (0.5 WETH) bounds what the boost supplies, either shape", () => {
    for (const health of [2.2, 6]) {
      const open = supplied(aaveAbove(health, { suppliable: 1_000, withdrawable: 1_000 }))
      expect(open).toBeGreaterThan(0.5) // the boost the limits then cut
      expect(supplied(aaveAbove(health, { suppliable: 0.5, withdrawable: 1_000 }))).toBeLessThanOrEqual(0.5)
    }
  })

  test("flash-looped: the collateral reserve's free liquidity (0.5 WETH) bounds the flash-funded supply", () => {
    const input = aaveAbove(6, { suppliable: 1_000, withdrawable: 1_000, flashableCollateral: 0.5 })
    const { plan } = solve(input)
    const flash = plan?.actions.find((a) => a.kind === "SupplyCollateralWithCallback")
    if (flash) expect(flash.amount).toBeLessThanOrEqual(0.5)
    else expect(supplied(input)).toBeLessThanOrEqual(0.5 + 1e-9)
  })
})
