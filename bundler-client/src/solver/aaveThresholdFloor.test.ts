import { describe, expect, it } from "vitest"
import { thresholdFloorGap, venueHealthOf } from "./state.js"
import { FRAME_DONOR, frameDonorAaveHealth, frameDonorBorrowBase } from "./testing.js"

// Review brk17c (issue 17), F1. The solver plans an Aave sub-account in the adapter's market FRAME
// (`healthOf(state)`: collateral x price x lltv / debt, where `collateral` is the exact threshold-weighted sum of every
// collateral reserve, SECURITY row 64), but the module judges it by Aave's own health factor, which floors the account's
// average liquidation threshold to whole bps (GenericLogic: avgLT = floor(sum(value x LT) / total)). With collaterals of
// different thresholds the frame health is ABOVE Aave's by up to total x 1 bps / debt (~1.2e-4 relative at LT ~80 %),
// docs/aave.md "Known limits" says that moves only the distance / honest-move bounds. A not-due Aave donor drawn to its
// limit is taken to targetHealth x e^landingMargin + 1e-6 in the frame; for a low-volatility market (sigma 2 %/yr, as
// an e-mode or stablecoin pair) the landing margin (2 sigma sqrt(24 s / yr) = 3.5e-5) is below the floor's gap, so Aave's
// health after the donor borrow is BELOW the donor's target: the module refuses the whole rescue
// (HealthCrossedTarget(b, 1.3, <1.2, 1.2)) and the keeper plans the same rescue at every block while the due
// sub-account stays below its band (a slightly smaller borrow from the same donor would land: the due one needs 1.1 and is planned to 1.122).
// Fixed: an Aave sub-account (`thresholdFloored`, with the adapter's `equity`) triggers on Aave's factor and is aimed at
// its lower edges over 1 - thresholdFloorGap in the frame.

const WAD = 10n ** 18n
// The donor's Aave account (solver/testing.ts FRAME_DONOR): 80 WETH (the market's collateral) + 1.000125 WBTC, chosen
// so the average threshold is 7,800 + 500 x 0.79998 = 8,199.99 bps: Aave floors it to 8,199. Debt (USDC, base
// currency 8 decimals) so that Aave's health factor is 1.3; the adapter's equity (getUserAccountData collateral - debt),
// USDC; the adapter's frame (AaveV3Adapter._weightedCollateral over the market's threshold and price): WETH wei.
const { total, weighted, avgLt, debtBase: DEBT_BASE, equity: EQUITY, frameCollateral } = FRAME_DONOR
/** Aave v3.0.2 GenericLogic / PoolLogic: healthFactor = (total.percentMul(avgLT)).wadDiv(debt), both half up. */
const aaveHealth = frameDonorAaveHealth

describe("a low-volatility Aave donor is planned by Aave's floored health factor, not the frame", () => {
  it("fixture: Aave's floored average is 8,199 bps while the exact one is 8,199.99; frame health above Aave's", () => {
    expect(avgLt).toBe(8_199n)
    expect(Number(weighted) / Number(total)).toBeCloseTo(8_199.99, 2)
    const frameHealth = (Number(frameCollateral) / 1e18) * 3000 * 0.83 / (Number(DEBT_BASE) / 1e8)
    expect(frameHealth).toBeGreaterThan(Number(aaveHealth(DEBT_BASE)) / 1e18)
  })

  it("the solver's Aave health is Aave's floored factor; the floor's worst case is 1 / min(average, threshold)", () => {
    const state = { collateral: Number(frameCollateral) / 1e18, debt: Number(DEBT_BASE) / 1e8, lltv: 0.83, price: 3000, equity: EQUITY, thresholdFloored: true, collateralHeld: 80 }
    expect(venueHealthOf(state)).toBeCloseTo(Number(aaveHealth(DEBT_BASE)) / 1e18, 12)
    // Morpho's (no thresholdFloored) and a one-threshold account's are the frame's.
    expect(venueHealthOf({ ...state, thresholdFloored: false })).toBeGreaterThan(Number(aaveHealth(DEBT_BASE)) / 1e18)
    expect(thresholdFloorGap({ ...state, thresholdFloored: false })).toBe(0)
    // The other collateral (WBTC) alone averages 7,800 bps: the lowest the account's average can reach.
    expect(thresholdFloorGap(state)).toBeCloseTo(1 / 7_800, 9)
    // One collateral reserve, known from Aave's user configuration (`soleCollateral`): not floored. Without that
    // knowledge a dust reserve at a lower threshold could hide in the float rounding (review rr17c F1): the floor's
    // worst case, 1 / 8,300.
    const single = { collateral: 80, debt: 100_000, lltv: 0.83, price: 3000, equity: 140_000, thresholdFloored: true, collateralHeld: 80, soleCollateral: true }
    expect(thresholdFloorGap(single)).toBe(0)
    expect(thresholdFloorGap({ ...single, soleCollateral: undefined })).toBeCloseTo(1 / 8_300, 9)
  })

  it("the donor's borrow keeps Aave's health factor at or above its target (else the module refuses the rescue)", () => {
    // The due sub-account (e.g. a Morpho WETH/USDC market): health 1.05 under [1.1, 1.2, 1.4]; the Aave donor in the
    // frame, as the keeper's portfolio hands it over (portfolio.ts subAccountInputOf).
    const borrowBase = frameDonorBorrowBase({ ltvBorrowable: 1e6, thresholdFloored: true, collateralHeld: 80 })
    expect(borrowBase, "the solver plans a donor borrow on b").toBeDefined()
    // USDC base units (6 decimals, rounded down as the keeper sends it) -> Aave base currency (8 decimals).
    const borrowed = borrowBase as bigint
    const before = aaveHealth(DEBT_BASE)
    const after = aaveHealth(DEBT_BASE + borrowed)
    expect(before).toBeGreaterThan(12n * WAD / 10n)
    // Before the fix: the frame health after was ~1.2000430 (target x e^3.5e-5 + 1e-6), Aave's 1.1999544 < 1.2.
    expect(after).toBeGreaterThanOrEqual(12n * WAD / 10n)
  })
})
