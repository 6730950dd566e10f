import { type Address, type Hex, createPublicClient, custom, decodeFunctionData, encodeFunctionResult, multicall3Abi, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { readAaveCollateral } from "@levpilot/sdk/utils"
import { readAaveLimits } from "./aaveLimits.js"
import { h } from "./testing.js"

// Review mend (issue 17): at send the keeper's readAaveLimits (the snapshot) and the SDK's readAaveCollateral (inside
// validateRebalance) read the same reserves and account; readAaveLimits read each reserve in ~8 calls over five batched
// rounds (requests). Now readAaveLimits reads in three rounds (a stable debt token's `getSupplyData` also gives its
// supply; the reserve data joins the account round, the prices the balances round), pinned to the snapshot's block, and
// hands the SDK's validation what it read (`collateralShare`, `sendRebalance`'s `aaveCollateral`): a validation at the
// same block sends no request for it. Counted on the transport: eth_call requests.

const ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
const POOL: Address = "0x00000000000000000000000000000000000000a0"
const PROVIDER: Address = "0x00000000000000000000000000000000000000a1"
const ORACLE: Address = "0x00000000000000000000000000000000000000a2"
const MULTICALL: Address = "0x00000000000000000000000000000000000000ca"
const WETH: Address = "0x00000000000000000000000000000000000000c1"
const USDC: Address = "0x00000000000000000000000000000000000000b1"
const SAFE: Address = "0x0000000000000000000000000000000000005afe"
const token = (asset: Address, kind: number) => `0x${asset.toLowerCase().slice(2, 38)}0${kind}${asset.toLowerCase().slice(-2)}` as Address
const MARKET = `0x${"cd".repeat(32)}` as Hex
const BLOCK = 1_234n

const abi = parseAbi([
  "function POOL() view returns (address)",
  "function marketParams(bytes32 market) view returns (address collateral, address debt, uint8 eModeCategory)",
  "function maxRepayable(bytes32 market, address account) view returns (uint256)",
  "function liquidationIncentiveFactor(bytes32 market) view returns (uint256)",
  "struct ReserveConfigurationMap { uint256 data; }",
  "struct ReserveData { ReserveConfigurationMap configuration; uint128 liquidityIndex; uint128 currentLiquidityRate; uint128 variableBorrowIndex; uint128 currentVariableBorrowRate; uint128 currentStableBorrowRate; uint40 lastUpdateTimestamp; uint16 id; address aTokenAddress; address stableDebtTokenAddress; address variableDebtTokenAddress; address interestRateStrategyAddress; uint128 accruedToTreasury; uint128 unbacked; uint128 isolationModeTotalDebt; }",
  "function getReserveData(address asset) view returns (ReserveData)",
  "function FLASHLOAN_PREMIUM_TOTAL() view returns (uint128)",
  "struct UserConfigurationMap { uint256 data; }",
  "function getUserConfiguration(address user) view returns (UserConfigurationMap)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "function ADDRESSES_PROVIDER() view returns (address)",
  "struct EModeCategory { uint16 ltv; uint16 liquidationThreshold; uint16 liquidationBonus; address priceSource; string label; }",
  "function getEModeCategoryData(uint8 id) view returns (EModeCategory)",
  "function getPriceOracle() view returns (address)",
  "function getPriceOracleSentinel() view returns (address)",
  "function getAssetPrice(address asset) view returns (uint256)",
  "function scaledTotalSupply() view returns (uint256)",
  "function getSupplyData() view returns (uint256, uint256, uint256, uint40)",
  "function balanceOf(address) view returns (uint256)",
  "function totalSupply() view returns (uint256)",
  "function getReserveAddressById(uint16 id) view returns (address)",
  "function getConfiguration(address asset) view returns (ReserveConfigurationMap)",
  "function getUserEMode(address user) view returns (uint256)",
])

/** WETH (id 0, LTV 80 %, 18 decimals) and USDC (id 1, 6 decimals), active, borrowing and flash loans on. */
const config = (ltv: bigint, decimals: bigint) => ltv | (8_600n << 16n) | (10_500n << 32n) | (decimals << 48n) | (1n << 56n) | (1n << 58n) | (1n << 63n) | (1_000n << 64n)
const RESERVES: Record<string, { id: number; configuration: bigint; decimals: number }> = {
  [WETH]: { id: 0, configuration: config(8_000n, 18n), decimals: 18 },
  [USDC]: { id: 1, configuration: config(0n, 6n), decimals: 6 },
}

/** The chain: answers each call of an `aggregate3` as Aave v3.0.2 would, for one Safe supplying WETH and borrowing USDC. */
function answer(target: Address, functionName: string, args: readonly unknown[]): unknown {
  const t = target.toLowerCase()
  const reserveOf = (kind: number) => Object.keys(RESERVES).find((a) => token(a as Address, kind).toLowerCase() === t) as Address | undefined
  switch (functionName) {
    case "POOL":
      return POOL
    case "ADDRESSES_PROVIDER":
      return PROVIDER
    case "getPriceOracleSentinel":
      return "0x0000000000000000000000000000000000000000"
    case "getPriceOracle":
      return ORACLE
    case "marketParams":
      return [WETH, USDC, 0]
    case "maxRepayable":
      return 15_000n * 10n ** 6n
    case "liquidationIncentiveFactor":
      return h(1.05)
    case "FLASHLOAN_PREMIUM_TOTAL":
      return 5n
    case "getUserConfiguration":
      return { data: (1n << 1n) | (1n << 2n) } // WETH (id 0) as collateral, USDC (id 1) borrowed
    case "getUserEMode":
      return 0n
    case "getUserAccountData":
      return [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)]
    case "getEModeCategoryData":
      return { ltv: 9_300, liquidationThreshold: 9_500, liquidationBonus: 10_100, priceSource: "0x0000000000000000000000000000000000000000", label: "eth" }
    case "getReserveData": {
      const asset = args[0] as Address
      const r = RESERVES[Object.keys(RESERVES).find((a) => a.toLowerCase() === asset.toLowerCase()) as string] as (typeof RESERVES)[string]
      return {
        configuration: { data: r.configuration }, liquidityIndex: 10n ** 27n, currentLiquidityRate: 0n, variableBorrowIndex: 10n ** 27n, currentVariableBorrowRate: 0n, currentStableBorrowRate: 0n,
        lastUpdateTimestamp: 0, id: r.id, aTokenAddress: token(asset, 1), stableDebtTokenAddress: token(asset, 2), variableDebtTokenAddress: token(asset, 3), interestRateStrategyAddress: POOL,
        accruedToTreasury: 0n, unbacked: 0n, isolationModeTotalDebt: 0n,
      }
    }
    case "getAssetPrice":
      return (args[0] as Address).toLowerCase() === WETH.toLowerCase() ? 3_000n * 10n ** 8n : 10n ** 8n
    case "balanceOf": {
      // An aToken: the Safe's supply (10 whole tokens); an underlying: the aToken's liquidity (1,000,000 whole tokens).
      const supplied = reserveOf(1)
      if (supplied !== undefined) return (args[0] as Address).toLowerCase() === SAFE.toLowerCase() ? 10n * 10n ** BigInt(RESERVES[supplied]?.decimals ?? 0) : 0n
      return 1_000_000n * 10n ** BigInt(RESERVES[t]?.decimals ?? 0)
    }
    case "totalSupply":
      return 2_000_000n * 10n ** 6n
    case "scaledTotalSupply":
      return 1_000_000n * 10n ** 6n
    case "getSupplyData":
      return [0n, 0n, 0n, 0]
    default:
      throw new Error(`unexpected ${functionName}`)
  }
}

/** A client on the mock chain, and the number of eth_call requests it sent. */
function countingClient() {
  const count = { calls: 0 }
  const client = createPublicClient({
    transport: custom({
      async request({ method, params }: { method: string; params: unknown[] }) {
        if (method === "eth_chainId") return "0x7a69"
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        count.calls += 1
        const { to, data } = params[0] as { to: Address; data: Hex }
        expect(to.toLowerCase()).toBe(MULTICALL.toLowerCase())
        const { args } = decodeFunctionData({ abi: multicall3Abi, data })
        const calls = args[0] as readonly { target: Address; callData: Hex }[]
        const results = calls.map(({ target, callData }) => {
          const call = decodeFunctionData({ abi, data: callData })
          return { success: true, returnData: encodeFunctionResult({ abi, functionName: call.functionName, result: answer(target, call.functionName, call.args ?? []) } as never) }
        })
        return encodeFunctionResult({ abi: multicall3Abi, functionName: "aggregate3", result: results })
      },
    }),
  })
  return { client, count }
}

const deployment = { adapters: { morphoBlue: "0x00000000000000000000000000000000000000ad", aaveV3: ADAPTER }, multicall3: MULTICALL } as never
const chain = [{ subAccount: `0x${"ab".repeat(32)}`, policy: { adapter: ADAPTER, market: MARKET } }] as never

describe("one read of the Aave reserves per send: the keeper's snapshot read, shared with the SDK's validation", () => {
  test("readAaveLimits: 3 requests per snapshot (5 before: reserve data, balances and prices each their own round); the SDK's readAaveCollateral at the same block: 0 (3 before), the same figures", async () => {
    const { client, count } = countingClient()
    await readAaveLimits(client, deployment, chain, SAFE, BLOCK) // the adapter's pool and its provider, read once per process
    count.calls = 0
    const limits = await readAaveLimits(client, deployment, chain, SAFE, BLOCK)
    expect(count.calls).toBe(3)
    const l = Object.values(limits)[0]
    expect(l?.ltvBorrowable).toBeGreaterThan(0n)
    expect(l?.ltvGain?.ltvBps).toBe(8_000n)
    const share = l?.collateralShare
    expect(share?.blockNumber).toBe(BLOCK)

    // The validation's own read (what it did on every send before), and with the keeper's read at the same block.
    count.calls = 0
    const read = await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK })
    const readRequests = count.calls
    expect(readRequests).toBe(3)
    count.calls = 0
    const shared = await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK, shared: share })
    expect(count.calls).toBe(0)
    expect(shared).toEqual(read)
    expect(read[0]).toEqual({ held: 10n * 10n ** 18n, enabled: true, withdrawBlocked: false })
    // At another block (a block was mined between the snapshot and the send) the validation reads for itself.
    count.calls = 0
    expect(await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK + 1n, shared: share })).toEqual(read)
    expect(count.calls).toBe(readRequests)
  })
})
