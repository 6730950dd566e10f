import { type Address, decodeFunctionData, getAddress, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"
import { ETH_CATEGORY, type MockAaveReserve, SAFE, WETH, aaveAccountData, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"

// Break-it review brk17b (issue 17, the owner's dust fix): Aave v3.0.2's setUserUseReserveAsCollateral(asset, false)
// (SupplyLogic.executeUseReserveAsCollateral) clears the bit and then runs validateHFAndLtv, which also requires
// `!hasZeroLtvCollateral || reserve.getLtv() == 0` (LTV_VALIDATION_FAILED "57"), borrowing or not: while the account
// still uses an LTV-0 reserve as collateral, no reserve with LTV > 0 can be switched off. Dust can hold both kinds (an
// aToken sent while its reserve had an LTV, whose LTV governance later set to 0, the usual way Aave retires an asset).
// buildAaveDustCollateralDisable emits one call per dust reserve in ascending reserve id, so when an LTV > 0 dust reserve
// has the lower id its call comes first and reverts "57": the owner's whole Safe transaction (one batch) reverts, and
// the dust stays. Switching the LTV-0 reserves off first lands every call.

const WSTETH: Address = getAddress("0x00000000000000000000000000000000000000e2")
const DUSTA: Address = getAddress("0x00000000000000000000000000000000000000d1")
const DUSTB: Address = getAddress("0x00000000000000000000000000000000000000d2")

const E18 = 10n ** 18n
const BASE = 10n ** 8n
/** Reserve configuration: LTV (0: an LTV-0 reserve), own liquidation threshold (bps), 18 decimals, no e-mode. */
const config = (ltv: bigint, lt: bigint) => reserveConfig(ltv, 18n, 0n, { liquidationThresholdBps: lt })
const RESERVES: Record<Address, MockAaveReserve> = {
  // Dust with LTV 70 % (id 0) and dust whose LTV governance set to 0 (id 1), 1 wei each.
  [DUSTA]: { id: 0, configuration: config(7_000n, 7_500n), decimals: 18, price: 2_000n * BASE },
  [DUSTB]: { id: 1, configuration: config(0n, 7_000n), decimals: 18, price: 2_000n * BASE },
  // The market's collateral: 10 wstETH at 3,000; the debt asset WETH (borrowed).
  [WSTETH]: { id: 2, configuration: config(8_000n, 8_300n), decimals: 18, price: 3_000n * BASE },
  [WETH]: { id: 3, configuration: config(8_000n, 8_250n), decimals: 18, price: 3_000n * BASE },
}
const SUPPLIED: Record<Address, bigint> = { [DUSTA]: 1n, [DUSTB]: 1n, [WSTETH]: 10n * E18 }
const reserveAt = (asset: Address) => RESERVES[getAddress(asset)] as MockAaveReserve

/**
 * The mock chain: DUSTA (id 0), DUSTB (id 1) and wstETH (id 2) as collateral, WETH (id 3) borrowed. Its account data
 * matters only by its health, far above 1 with 1-wei dust (weighted at 93 % / 95 % over the three).
 */
const { client } = mockAaveClient(
  mockAaveChain({
    reserves: RESERVES,
    userConfiguration: (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n),
    accountData: aaveAccountData([DUSTA, DUSTB, WSTETH].map((a) => ({ ...reserveAt(a), balance: SUPPLIED[a] ?? 0n })), ETH_CATEGORY, 15_000n * BASE).data,
    supplied: SUPPLIED,
  }),
)

/** Aave v3.0.2's validateHFAndLtv LTV rule over the owner's calls in order: the first call that reverts "57", or -1. */
function firstReverting(assets: readonly Address[]): number {
  const enabled = new Set([DUSTA, DUSTB, WSTETH].map((a) => a.toLowerCase()))
  const ltv = (a: string) => reserveAt(a as Address).configuration & 0xffffn
  const lt = (a: string) => (reserveAt(a as Address).configuration >> 16n) & 0xffffn
  for (const [k, asset] of assets.entries()) {
    enabled.delete(asset.toLowerCase())
    const hasZeroLtvCollateral = [...enabled].some((a) => ltv(a) === 0n && lt(a) !== 0n)
    if (hasZeroLtvCollateral && ltv(asset.toLowerCase()) !== 0n) return k
  }
  return -1
}

describe("buildAaveDustCollateralDisable: LTV-0 dust must be switched off before LTV > 0 dust", () => {
  test("both 1-wei reserves are dust and the builder switches both off", async () => {
    const { reserves } = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WSTETH, policy: { minHealth: 10n ** 18n } }] })
    expect(reserves.map((r) => r.asset).sort()).toEqual([DUSTA, DUSTB].sort())
    // The LTV-0-first order lands (control of the replay).
    expect(firstReverting([DUSTB, DUSTA])).toBe(-1)
  })
  test("its calls, replayed with Aave's LTV rule in order, all land (FAILS on c88250c: the first, DUSTA's, reverts '57')", async () => {
    const { calls } = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WSTETH, policy: { minHealth: 10n ** 18n } }] })
    const order = calls.map((c) => decodeFunctionData({ abi: parseAbi(["function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)"]), data: c.data }).args[0] as Address)
    expect(firstReverting(order)).toBe(-1)
  })
})
