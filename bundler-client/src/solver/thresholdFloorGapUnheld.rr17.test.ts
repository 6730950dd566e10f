import { describe, expect, it } from "vitest"
import { healthOf, thresholdFloorGap } from "./state.js"

// Review rr17 (issue 17, after fx17 F1), informational. `thresholdFloorGap` bounds how far Aave's floored factor can
// fall below the frame health after any move of the scope's collateral reserve. Without `collateralHeld` (its read
// failed: aaveLimits.ts `collateralHeld: own?.held`) it assumes `collateral` is this reserve's alone and bounds the
// account's average by min(market threshold, average now). On a multi-collateral account a withdrawal of this reserve
// (a donor giving its collateral to another venue) moves the average toward the OTHER collaterals' average, below
// both, so the true gap can exceed the bound: here by ~2.5e-6 relative. The solver's HEALTH_MARGIN (1e-6 absolute)
// does not cover that; a landing margin above it does (sigma above ~0.3 %/yr at 12 s blocks).

// 100,000 USD of WETH (the market's, LT 8,300) and 100,000 USD of WBTC (LT 7,800): average 8,050 now.
const LT = 8_300
const wbtcValue = 100_000
const wethValue = 100_000
const debt = 130_000
const state = { collateral: (wethValue * LT + wbtcValue * 7_800) / LT / 3_000, debt, lltv: LT / 10_000, price: 3_000, equity: wethValue + wbtcValue - debt, thresholdFloored: true }

/** Frame and Aave (floored average) health after the WETH left is `wethAfter` USD, the debt unchanged. */
function after(wethAfter: number) {
  const total = wethAfter + wbtcValue
  const weighted = wethAfter * LT + wbtcValue * 7_800
  const frame = healthOf({ collateral: weighted / LT / 3_000, debt, lltv: LT / 10_000, price: 3_000 })
  const aave = (total * Math.floor(weighted / total + 1e-9)) / 10_000 / debt
  return { frame, aave, average: weighted / total }
}

describe("thresholdFloorGap without collateralHeld on a two-collateral account", () => {
  // WETH left such that the average is 7,810.99 bps (Aave floors it to 7,810): weth x 500 = 10.99 x (weth + 100,000).
  const wethLeft = (10.99 * wbtcValue) / (500 - 10.99)
  it("fixture: after the withdrawal the average is 7,810.99 and Aave's factor is below the frame's by 0.99 / 7,810.99", () => {
    const { frame, aave, average } = after(wethLeft)
    expect(average).toBeCloseTo(7_810.99, 6)
    expect((frame - aave) / frame).toBeCloseTo(0.99 / 7_810.99, 9)
  })

  it("the gap bounds the floor's loss after a withdrawal of the scope reserve, without collateralHeld (review rr17 R4, fixed)", () => {
    const { frame, aave } = after(wethLeft)
    expect((frame - aave) / frame).toBeLessThanOrEqual(thresholdFloorGap(state))
  })

  it("with collateralHeld the bound is 1 / 7,800 and holds; without it, the worst case 1 / (10,000 x debt / total) = 1 / 6,500", () => {
    const { frame, aave } = after(wethLeft)
    expect((frame - aave) / frame).toBeLessThanOrEqual(thresholdFloorGap({ ...state, collateralHeld: wethValue / 3_000 }))
    expect(thresholdFloorGap(state)).toBeCloseTo(1 / 6_500, 12)
  })
})
