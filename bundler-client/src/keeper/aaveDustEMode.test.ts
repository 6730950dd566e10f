import { type Address, type Hex, createPublicClient, custom, decodeFunctionData, encodeFunctionResult, getAddress, multicall3Abi, parseAbi, zeroAddress } from "viem"
import { describe, expect, test } from "vitest"
import { AaveDustDisableUnhealthyError } from "@levpilot/sdk/errors"
import { buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"
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

const ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
const POOL: Address = getAddress("0x00000000000000000000000000000000000000a0")
const PROVIDER: Address = "0x00000000000000000000000000000000000000a1"
const ORACLE: Address = "0x00000000000000000000000000000000000000a2"
const MULTICALL: Address = "0x00000000000000000000000000000000000000ca"
const WSTETH: Address = getAddress("0x00000000000000000000000000000000000000c1")
const WETH: Address = getAddress("0x00000000000000000000000000000000000000b1")
const CBETH: Address = getAddress("0x00000000000000000000000000000000000000d1")
const SAFE: Address = "0x0000000000000000000000000000000000005afe"
const token = (asset: Address, kind: number) => `0x${asset.toLowerCase().slice(2, 38)}0${kind}${asset.toLowerCase().slice(-2)}` as Address

const abi = parseAbi([
  "function POOL() view returns (address)",
  "struct ReserveConfigurationMap { uint256 data; }",
  "struct ReserveData { ReserveConfigurationMap configuration; uint128 liquidityIndex; uint128 currentLiquidityRate; uint128 variableBorrowIndex; uint128 currentVariableBorrowRate; uint128 currentStableBorrowRate; uint40 lastUpdateTimestamp; uint16 id; address aTokenAddress; address stableDebtTokenAddress; address variableDebtTokenAddress; address interestRateStrategyAddress; uint128 accruedToTreasury; uint128 unbacked; uint128 isolationModeTotalDebt; }",
  "function getReserveData(address asset) view returns (ReserveData)",
  "struct UserConfigurationMap { uint256 data; }",
  "function getUserConfiguration(address user) view returns (UserConfigurationMap)",
  "function getUserEMode(address user) view returns (uint256)",
  "struct EModeCategory { uint16 ltv; uint16 liquidationThreshold; uint16 liquidationBonus; address priceSource; string label; }",
  "function getEModeCategoryData(uint8 id) view returns (EModeCategory)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "function ADDRESSES_PROVIDER() view returns (address)",
  "function getPriceOracle() view returns (address)",
  "function getAssetPrice(address asset) view returns (uint256)",
  "function balanceOf(address) view returns (uint256)",
  "function getReserveAddressById(uint16 id) view returns (address)",
])

const E18 = 10n ** 18n
const BASE = 10n ** 8n
/** E-mode category 1 ("ETH correlated"): LTV 93 %, liquidation threshold 95 %. */
const CATEGORY = { ltv: 9_300, liquidationThreshold: 9_500, liquidationBonus: 10_100, priceSource: zeroAddress, label: "ETH correlated" }
/** Reserve configuration (Aave v3.0.2 bitmap): LTV, own liquidation threshold, bonus 105 %, 18 decimals, active, borrowing on, e-mode category. */
const config = (ltv: bigint, lt: bigint, category: bigint) => ltv | (lt << 16n) | (10_500n << 32n) | (18n << 48n) | (1n << 56n) | (1n << 58n) | (category << 168n)
const RESERVES: Record<string, { id: number; configuration: bigint; price: bigint; balance: bigint }> = {
  // The market's collateral: 10 wstETH at 3,000 (30,000 base), in category 1.
  [WSTETH]: { id: 0, configuration: config(8_000n, 8_300n, 1n), price: 3_000n * BASE, balance: 10n * E18 },
  // The debt asset (borrowed, in category 1: Aave requires it for a borrow in e-mode).
  [WETH]: { id: 1, configuration: config(8_000n, 8_250n, 1n), price: 3_000n * BASE, balance: 0n },
  // Another ETH-correlated collateral of the account, not the market's: own LT 70 %, category 1; 10,000 base.
  [CBETH]: { id: 2, configuration: config(6_500n, 7_000n, 1n), price: 2_000n * BASE, balance: 5n * E18 },
}
const reserveAt = (asset: Address) => RESERVES[Object.keys(RESERVES).find((a) => a.toLowerCase() === asset.toLowerCase()) as string] as (typeof RESERVES)[string]
const valueOf = (r: (typeof RESERVES)[string]) => (r.price * r.balance) / E18
const DEBT_BASE = 28_400n * BASE

/**
 * Aave v3.0.2's GenericLogic.calculateUserAccountData for the account in category 1 over `collaterals`: each collateral
 * valued floor(price x balance / unit), weighted at the category's threshold (all are in it), the average floored;
 * health = total x avgLT / 10^4 (percentMul, half up) x 1e18 / debt (wadDiv, half up).
 */
function aaveAccount(collaterals: readonly (typeof RESERVES)[string][]) {
  const total = collaterals.reduce((s, r) => s + valueOf(r), 0n)
  const weighted = collaterals.reduce((s, r) => s + valueOf(r) * BigInt(CATEGORY.liquidationThreshold), 0n)
  const avgLt = total === 0n ? 0n : weighted / total
  const avgLtv = total === 0n ? 0n : collaterals.reduce((s, r) => s + valueOf(r) * BigInt(CATEGORY.ltv), 0n) / total
  const lt = (total * avgLt + 5_000n) / 10_000n
  const health = (lt * E18 + DEBT_BASE / 2n) / DEBT_BASE
  const ltvRoom = (total * avgLtv + 5_000n) / 10_000n
  return { total, avgLt, avgLtv, health, available: ltvRoom > DEBT_BASE ? ltvRoom - DEBT_BASE : 0n }
}

function chain(target: Address, functionName: string, args: readonly unknown[]): unknown {
  const t = target.toLowerCase()
  switch (functionName) {
    case "POOL":
      return POOL
    case "ADDRESSES_PROVIDER":
      return PROVIDER
    case "getPriceOracle":
      return ORACLE
    case "getUserEMode":
      return 1n
    case "getEModeCategoryData":
      return CATEGORY
    case "getUserConfiguration":
      // wstETH (id 0) and cbETH (id 2) as collateral, WETH (id 1) borrowed.
      return { data: (1n << 1n) | (1n << 2n) | (1n << 5n) }
    case "getUserAccountData": {
      const a = aaveAccount([reserveAt(WSTETH), reserveAt(CBETH)])
      return [a.total, DEBT_BASE, a.available, a.avgLt, a.avgLtv, a.health]
    }
    case "getReserveAddressById":
      return Object.keys(RESERVES).find((a) => reserveAt(a as Address).id === Number(args[0])) as Address
    case "getReserveData": {
      const asset = args[0] as Address
      const r = reserveAt(asset)
      return {
        configuration: { data: r.configuration }, liquidityIndex: 10n ** 27n, currentLiquidityRate: 0n, variableBorrowIndex: 10n ** 27n, currentVariableBorrowRate: 0n, currentStableBorrowRate: 0n,
        lastUpdateTimestamp: 0, id: r.id, aTokenAddress: token(asset, 1), stableDebtTokenAddress: token(asset, 2), variableDebtTokenAddress: token(asset, 3), interestRateStrategyAddress: POOL,
        accruedToTreasury: 0n, unbacked: 0n, isolationModeTotalDebt: 0n,
      }
    }
    case "getAssetPrice":
      return reserveAt(args[0] as Address).price
    case "balanceOf": {
      const supplied = Object.keys(RESERVES).find((a) => token(a as Address, 1).toLowerCase() === t) as Address | undefined
      if (supplied === undefined || (args[0] as Address).toLowerCase() !== SAFE.toLowerCase()) return 0n
      return reserveAt(supplied).balance
    }
    default:
      throw new Error(`unexpected ${functionName}`)
  }
}

const client = createPublicClient({
  transport: custom({
    async request({ method, params }: { method: string; params: unknown[] }) {
      if (method === "eth_chainId") return "0x7a69"
      if (method !== "eth_call") throw new Error(`unexpected ${method}`)
      const { data } = params[0] as { to: Address; data: Hex }
      const { args } = decodeFunctionData({ abi: multicall3Abi, data })
      const calls = args[0] as readonly { target: Address; callData: Hex }[]
      const results = calls.map(({ target, callData }) => {
        const call = decodeFunctionData({ abi, data: callData })
        return { success: true, returnData: encodeFunctionResult({ abi, functionName: call.functionName, result: chain(target, call.functionName, call.args ?? []) } as never) }
      })
      return encodeFunctionResult({ abi: multicall3Abi, functionName: "aggregate3", result: results })
    },
  }),
})
const deployment = { adapters: { morphoBlue: "0x00000000000000000000000000000000000000ad", aaveV3: ADAPTER }, multicall3: MULTICALL } as never

describe("buildAaveDustCollateralDisable in e-mode: the health after counts the removed reserve at the category's threshold", () => {
  const before = aaveAccount([reserveAt(WSTETH), reserveAt(CBETH)])
  const after = aaveAccount([reserveAt(WSTETH)]) // what Aave computes once cbETH is switched off

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
})
