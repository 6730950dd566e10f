import { describe, expect, test } from "vitest"
import { aaveCollateralIds, aaveCollateralOf, aaveFirstSupplyEnablesCollateral, aaveInIsolationMode, aaveOnlyCollateralId, aaveWithdrawBlockedByZeroLtv } from "./planRules.js"

// Issue 17 (rev17e, left open last stop): Aave v3.0.2 counts a supply as collateral only when the reserve is enabled for
// the account (a held balance switched off stays off; a first supply is enabled only for a reserve with LTV, no debt
// ceiling, and an account not in isolation mode). The adapter refuses any other supply (CollateralNotEnabled); the rule
// book judged a zero balance as enabled, so the SDK's validateRebalance passed plans the chain refuses (the rule book's
// refusal: planRules.collateralHeld.test.ts).

// ReserveConfigurationMap: LTV bits 0-15, liquidation threshold 16-31, debt ceiling 212-251.
const config = ({ ltv = 7300n, threshold = 7800n, debtCeiling = 0n }: { ltv?: bigint; threshold?: bigint; debtCeiling?: bigint }) => ltv | (threshold << 16n) | (debtCeiling << 212n)
/** UserConfigurationMap with reserves `ids` used as collateral (bit 2 x id + 1) and `borrowing` borrowed (bit 2 x id). */
const user = (ids: number[], borrowing: number[] = []) => ids.reduce((m, id) => m | (1n << BigInt(2 * id + 1)), 0n) | borrowing.reduce((m, id) => m | (1n << BigInt(2 * id)), 0n)

describe("Aave collateral enablement (validateAutomaticUseAsCollateral, getIsolationModeState)", () => {
  test("the only collateral id: none, one (borrow bits ignored), several", () => {
    expect(aaveOnlyCollateralId(0n)).toBeUndefined()
    expect(aaveOnlyCollateralId(user([], [0, 3]))).toBeUndefined()
    expect(aaveOnlyCollateralId(user([5], [0, 5, 7]))).toBe(5)
    expect(aaveOnlyCollateralId(user([0]))).toBe(0)
    expect(aaveOnlyCollateralId(user([127]))).toBe(127)
    expect(aaveOnlyCollateralId(user([2, 9]))).toBeUndefined()
  })
  test("isolation mode: one collateral with a debt ceiling; unknown when its configuration is not known", () => {
    const configs: Record<number, bigint> = { 1: config({ debtCeiling: 1_000_00n }), 2: config({}) }
    expect(aaveInIsolationMode(user([1]), (id) => configs[id])).toBe(true)
    expect(aaveInIsolationMode(user([2]), (id) => configs[id])).toBe(false)
    expect(aaveInIsolationMode(user([1, 2]), (id) => configs[id])).toBe(false) // several collaterals: not isolated
    expect(aaveInIsolationMode(0n, (id) => configs[id])).toBe(false)
    expect(aaveInIsolationMode(user([4]), (id) => configs[id])).toBeUndefined()
  })
  test("a zero balance is enabled only as Aave enables a first supply", () => {
    const at = (configuration: bigint | undefined, isolationMode?: boolean) => aaveCollateralOf({ balance: 0n, userConfiguration: 0n, reserveId: 3, configuration, isolationMode })
    expect(at(undefined)).toEqual({ held: 0n, enabled: true })
    expect(at(config({}))).toEqual({ held: 0n, enabled: true })
    expect(at(config({ ltv: 0n }))).toEqual({ held: 0n, enabled: false })
    expect(at(config({ debtCeiling: 1n }))).toEqual({ held: 0n, enabled: false })
    expect(at(config({}), true)).toEqual({ held: 0n, enabled: false })
    expect(aaveFirstSupplyEnablesCollateral(config({}), true)).toBe(false)
  })
  test("a held balance: enabled as its bit says, whatever the reserve's configuration", () => {
    expect(aaveCollateralOf({ balance: 7n, userConfiguration: user([3]), reserveId: 3, configuration: config({ ltv: 0n }) })).toEqual({ held: 7n, enabled: true })
    expect(aaveCollateralOf({ balance: 7n, userConfiguration: user([2]), reserveId: 3, configuration: config({}) })).toEqual({ held: 0n, enabled: false })
  })
})

// Review rev17f (1): Aave v3.0.2 refuses a withdrawal of a collateral with LTV while the borrowing account uses another
// collateral with a threshold and LTV 0 (validateHFAndLtv, "57"): a rescue funded by such a withdrawal reverts.
describe("a zero-LTV collateral blocks the others' withdrawals (validateHFAndLtv)", () => {
  test("collateral ids in order, borrow bits ignored", () => {
    expect(aaveCollateralIds(user([7, 0, 3], [1, 7]))).toEqual([0, 3, 7])
    expect(aaveCollateralIds(0n)).toEqual([])
  })
  test("blocked only for a reserve with LTV when another collateral has LTV 0 and a threshold; unknown configuration: undefined", () => {
    const configs: Record<number, bigint> = { 0: config({}), 1: config({ ltv: 0n }), 2: config({ ltv: 0n, threshold: 0n }) }
    const of = (id: number) => configs[id]
    expect(aaveWithdrawBlockedByZeroLtv(user([0, 1]), of, config({}))).toBe(true)
    expect(aaveWithdrawBlockedByZeroLtv(user([0, 1]), of, config({ ltv: 0n }))).toBe(false) // the zero-LTV one itself may go
    expect(aaveWithdrawBlockedByZeroLtv(user([0]), of, config({}))).toBe(false)
    expect(aaveWithdrawBlockedByZeroLtv(user([0, 2]), of, config({}))).toBe(false) // no threshold: not a collateral Aave counts
    expect(aaveWithdrawBlockedByZeroLtv(user([0, 9]), of, config({}))).toBeUndefined()
    expect(aaveWithdrawBlockedByZeroLtv(user([1, 9]), of, config({}))).toBe(true)
  })
})

