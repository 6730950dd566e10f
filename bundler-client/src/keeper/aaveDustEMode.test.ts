import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { AaveDustDisableUnhealthyError, ReadFailedError } from "@levpilot/sdk/errors"
import { buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"
import { ETH_CATEGORY, type MockAaveReserve, POOL, SAFE, WETH, aaveAccountData, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Break-it review brk17b (issue 17, the owner's dust fix): `buildAaveDustCollateralDisable` promises that the health
// after switching the reserves off stays at or above the highest `minHealth` of the Safe's sub-accounts
// (AaveDustDisableUnhealthyError otherwise). It computes that health (`aaveHealthAfterDisable`) by taking each removed
// reserve out at its OWN liquidation threshold (ReserveConfiguration bits 16-31). Aave v3.0.2's GenericLogic
// (`calculateUserAccountData`) weighs a collateral of the account's e-mode category at the CATEGORY's threshold
// (`vars.liquidationThreshold = isInEModeCategory ? eModeLiqThreshold : reserve LT`), and `currentLiquidationThreshold`
// is that weighted average. In e-mode the builder therefore removes too little weight and overstates the health after:
// below, an ETH-correlated reserve (own LT 70 %, category LT 95 %) worth 10,000 of 40,000 of collateral, debt 28,400:
// Aave's health after is 30,000 x 0.95 / 28,400 = 1.0035 (one step from liquidation), the builder's
// (40,000 x 9,500 - 10,000 x 7,000) / (28,400 x 10,000) = 1.0915, so the owner's fix is built at minHealth 1.05 and
// lands the account below its band.

const WSTETH: Address = getAddress("0x00000000000000000000000000000000000000e2")
const CBETH: Address = getAddress("0x00000000000000000000000000000000000000d1")

const E18 = 10n ** 18n
const BASE = 10n ** 8n
/** Reserve configuration: LTV, own liquidation threshold (bps), 18 decimals, e-mode category 1. */
const config = (ltv: bigint, lt: bigint) => reserveConfig(ltv, 18n, 0n, { liquidationThresholdBps: lt, eModeCategory: 1n })
const RESERVES: Record<Address, MockAaveReserve> = {
  // The market's collateral: 10 wstETH at 3,000 (30,000 base), in category 1.
  [WSTETH]: { id: 0, configuration: config(8_000n, 8_300n), decimals: 18, price: 3_000n * BASE },
  // The debt asset (borrowed, in category 1: Aave requires it for a borrow in e-mode).
  [WETH]: { id: 1, configuration: config(8_000n, 8_250n), decimals: 18, price: 3_000n * BASE },
  // Another ETH-correlated collateral of the account, not the market's: own LT 70 %, category 1; 10,000 base.
  [CBETH]: { id: 2, configuration: config(6_500n, 7_000n), decimals: 18, price: 2_000n * BASE },
}
const SUPPLIED: Record<Address, bigint> = { [WSTETH]: 10n * E18, [CBETH]: 5n * E18 }
const DEBT_BASE = 28_400n * BASE
/** Aave's account figures in category 1 (all collaterals in it) over `collaterals`. */
const accountOf = (collaterals: readonly Address[]) => aaveAccountData(collaterals.map((a) => ({ ...(RESERVES[a] as MockAaveReserve), balance: SUPPLIED[a] ?? 0n })), ETH_CATEGORY, DEBT_BASE)

/** The mock chain: the Safe in e-mode category 1, wstETH (id 0) and cbETH (id 2) as collateral, WETH (id 1) borrowed. */
const clientOf = (failing?: readonly string[]) =>
  mockAaveClient(
    mockAaveChain({
      reserves: RESERVES,
      userConfiguration: (1n << 1n) | (1n << 2n) | (1n << 5n),
      accountData: accountOf([WSTETH, CBETH]).data,
      supplied: SUPPLIED,
      userEMode: 1n,
      eModeCategory: ETH_CATEGORY,
    }),
    { failing },
  ).client
const client = clientOf()

describe("buildAaveDustCollateralDisable in e-mode: the health after counts the removed reserve at the category's threshold", () => {
  const before = accountOf([WSTETH, CBETH])
  const after = accountOf([WSTETH]) // what Aave computes once cbETH is switched off

  test("the fixture is Aave's arithmetic: health 1.338 before, 1.0035 after switching cbETH off (the category's 95 %)", () => {
    expect(before.avgLt).toBe(9_500n)
    expect(Number(before.health) / 1e18).toBeCloseTo(40_000 * 0.95 / 28_400, 6)
    expect(Number(after.health) / 1e18).toBeCloseTo(30_000 * 0.95 / 28_400, 6)
    expect(after.health).toBeGreaterThanOrEqual(E18) // Aave's validateHFAndLtv lets the owner's call through
    expect(after.health).toBeLessThan(h(1.05))
  })

  test("the health after it reports is at most Aave's (FAILS on c88250c: 1.0915 reported, Aave 1.0035)", async () => {
    const { healthAfter } = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WSTETH, policy: { minHealth: h(1) } }], assets: [CBETH] })
    expect(healthAfter).toBeLessThanOrEqual(after.health)
  })

  test("switching cbETH off would land the account at 1.0035 < minHealth 1.05: refused, AaveDustDisableUnhealthyError (FAILS on c88250c: built)", async () => {
    const result = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WSTETH, policy: { minHealth: h(1.05) } }], assets: [CBETH] }).catch((e: unknown) => e)
    expect(result).toBeInstanceOf(AaveDustDisableUnhealthyError)
  })

  test("the category's data cannot be read: ReadFailedError naming getEModeCategoryData on the pool (retried), not a health computed without it", async () => {
    const result = await buildAaveDustCollateralDisable(clientOf(["getEModeCategoryData"]), { deployment, safe: SAFE, subAccounts: [{ collateralToken: WSTETH, policy: { minHealth: h(1) } }], assets: [CBETH] }).catch((e: unknown) => e)
    expect(result).toBeInstanceOf(ReadFailedError)
    expect(result).toMatchObject({ functionName: "getEModeCategoryData", address: POOL })
  })
})
