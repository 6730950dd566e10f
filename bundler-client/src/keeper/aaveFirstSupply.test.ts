import { describe, expect, it } from "vitest"
import { aaveFirstSupplyEnablesCollateral } from "./aaveLimits.js"

// Review rev17e: Aave v3.0.2 does not enable a first supply of an LTV-0 or isolated (debt-ceiling) reserve as collateral;
// the adapter refuses such a supply (CollateralNotEnabled), so readAaveLimits gives the solver no supply room for it.
// ReserveConfigurationMap: LTV bits 0-15, liquidation threshold 16-31, debt ceiling 212-251.
const config = ({ ltv, threshold, debtCeiling }: { ltv: bigint; threshold: bigint; debtCeiling: bigint }) =>
  ltv | (threshold << 16n) | (debtCeiling << 212n)

describe("aaveFirstSupplyEnablesCollateral (validateAutomaticUseAsCollateral)", () => {
  it("a listed collateral (LTV 73%, threshold 78%, no ceiling): enabled", () => {
    expect(aaveFirstSupplyEnablesCollateral(config({ ltv: 7300n, threshold: 7800n, debtCeiling: 0n }))).toBe(true)
  })
  it("LTV 0 with a threshold (a collateral being wound down): not enabled", () => {
    expect(aaveFirstSupplyEnablesCollateral(config({ ltv: 0n, threshold: 7800n, debtCeiling: 0n }))).toBe(false)
  })
  it("a debt ceiling (isolated collateral), even with LTV: not enabled", () => {
    expect(aaveFirstSupplyEnablesCollateral(config({ ltv: 7300n, threshold: 7800n, debtCeiling: 1n }))).toBe(false)
  })
  it("the highest debt ceiling bit (251) alone: not enabled; bit 252 (outside the field): enabled", () => {
    expect(aaveFirstSupplyEnablesCollateral(config({ ltv: 1n, threshold: 0n, debtCeiling: 1n << 39n }))).toBe(false)
    expect(aaveFirstSupplyEnablesCollateral(1n | (1n << 252n))).toBe(true)
  })
})
