import { type Address, type Hex, createPublicClient, custom, decodeFunctionData, encodeFunctionResult, getAddress, multicall3Abi, parseAbi, zeroAddress } from "viem"
import { describe, expect, test } from "vitest"
import { buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"

// Break-it review brk17b (issue 17, the owner's dust fix): Aave v3.0.2's setUserUseReserveAsCollateral(asset, false)
// (SupplyLogic.executeUseReserveAsCollateral) clears the bit and then runs validateHFAndLtv, which also requires
// `!hasZeroLtvCollateral || reserve.getLtv() == 0` (LTV_VALIDATION_FAILED "57"), borrowing or not: while the account
// still uses an LTV-0 reserve as collateral, no reserve with LTV > 0 can be switched off. Dust can hold both kinds (an
// aToken sent while its reserve had an LTV, whose LTV governance later set to 0, the usual way Aave retires an asset).
// buildAaveDustCollateralDisable emits one call per dust reserve in ascending reserve id, so when an LTV > 0 dust reserve
// has the lower id its call comes first and reverts "57": the owner's whole Safe transaction (one batch) reverts, and
// the dust stays. Switching the LTV-0 reserves off first lands every call.

const ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
const POOL: Address = getAddress("0x00000000000000000000000000000000000000a0")
const PROVIDER: Address = "0x00000000000000000000000000000000000000a1"
const ORACLE: Address = "0x00000000000000000000000000000000000000a2"
const MULTICALL: Address = "0x00000000000000000000000000000000000000ca"
const WSTETH: Address = getAddress("0x00000000000000000000000000000000000000c1")
const WETH: Address = getAddress("0x00000000000000000000000000000000000000b1")
const DUSTA: Address = getAddress("0x00000000000000000000000000000000000000d1")
const DUSTB: Address = getAddress("0x00000000000000000000000000000000000000d2")
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
  // Dust with LTV 70 % (id 0) and dust whose LTV governance set to 0 (id 1), 1 wei each.
  [DUSTA]: { id: 0, configuration: config(7_000n, 7_500n, 0n), price: 2_000n * BASE, balance: 1n },
  [DUSTB]: { id: 1, configuration: config(0n, 7_000n, 0n), price: 2_000n * BASE, balance: 1n },
  // The market's collateral: 10 wstETH at 3,000; the debt asset WETH (borrowed).
  [WSTETH]: { id: 2, configuration: config(8_000n, 8_300n, 0n), price: 3_000n * BASE, balance: 10n * E18 },
  [WETH]: { id: 3, configuration: config(8_000n, 8_250n, 0n), price: 3_000n * BASE, balance: 0n },
}
const reserveAt = (asset: Address) => RESERVES[Object.keys(RESERVES).find((a) => a.toLowerCase() === asset.toLowerCase()) as string] as (typeof RESERVES)[string]
const valueOf = (r: (typeof RESERVES)[string]) => (r.price * r.balance) / E18
const DEBT_BASE = 15_000n * BASE

/**
 * The mock's getUserAccountData (only its health matters here: far above 1 with 1-wei dust), modelled on GenericLogic in category 1 over `collaterals`: each collateral
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
      return 0n
    case "getEModeCategoryData":
      return CATEGORY
    case "getUserConfiguration":
      // DUSTA (id 0), DUSTB (id 1) and wstETH (id 2) as collateral, WETH (id 3) borrowed.
      return { data: (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n) }
    case "getUserAccountData": {
      const a = aaveAccount([reserveAt(DUSTA), reserveAt(DUSTB), reserveAt(WSTETH)])
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
