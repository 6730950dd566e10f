import { describe, expect, it } from "vitest"
import { thresholdFloorGap } from "./state.js"

// Review rr17c F1 (issue 17, after 3a996b9). thresholdFloorGap returns 0 ("Aave does not floor") when the float
// reconstruction of the account's average is within 1e-9 of the market's threshold. A second collateral reserve at a
// lower threshold worth a few parts per billion of the account (0.002 USD of a reserve at 8,000 next to 3.5M USD of
// wstETH at e-mode 9,500; anyone can supply such dust onBehalfOf the Safe) is inside that window, but Aave's floored
// average is 9,499, not 9,500: Aave's factor is 1/9,500 (1.05e-4) below the frame, the solver aims lower edges at the
// frame (gap 0) and its own rule check (no factor before, `health` undefined) agrees; the keeper's SDK check, which has
// Aave's factor before, reads the 9,499 and refuses the plan. Same shape as rr17b B1's solver consequence.

describe("rr17c F1: thresholdFloorGap with a dust second collateral at a lower threshold", () => {
  it("rr17c F1 (fixed): a 0.002 USD reserve at 8,000 next to 3.5M USD at 9,500: gap is Aave's floor, not 0", () => {
    const usdMain = 3_500_000
    const usdDust = 0.002
    const [pc, pd, lt, ltDust] = [3_500, 3_000, 9_500, 8_000]
    // Aave's floored average (bps), exactly as GenericLogic (8-decimal base currency).
    const tc = BigInt(usdMain * 1e8) + BigInt(Math.round(usdDust * 1e8))
    const weighted = BigInt(usdMain * 1e8) * BigInt(lt) + BigInt(Math.round(usdDust * 1e8)) * BigInt(ltDust)
    expect(weighted / tc).toBe(9_499n)
    const debt = 800 // WETH
    const total = (usdMain + usdDust) / pd // WETH
    const state = {
      collateral: (usdMain * lt + usdDust * ltDust) / (lt * pc),
      debt,
      price: pc / pd,
      lltv: lt / 10_000,
      equity: total - debt,
      thresholdFloored: true,
      collateralHeld: usdMain / pc,
    }
    // Aave's factor = frame x 9,499 / 9,500 (up to its totals' rounding): the gap is at least ~1 / 9,500.
    expect(thresholdFloorGap(state)).toBeGreaterThan(0.9 / 9_500)
  })
})
