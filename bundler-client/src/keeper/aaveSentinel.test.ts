import { type Address, type Hex, createPublicClient, getAddress, custom, decodeFunctionData, encodeFunctionResult, multicall3Abi, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { readAaveLimits } from "./aaveLimits.js"
import { h } from "./testing.js"

// Break-it review brk17b (issue 17): Aave v3.0.2's validateBorrow refuses EVERY borrow while the pool's price oracle
// sentinel (PoolAddressesProvider.getPriceOracleSentinel(), set on the L2 deployments: Arbitrum, Optimism, Base, ...)
// answers isBorrowAllowed() == false (sequencer down, or within the grace period after it is back):
// `require(params.priceOracleSentinel == address(0) || IPriceOracleSentinel(...).isBorrowAllowed(),
// Errors.PRICE_ORACLE_SENTINEL_CHECK_FAILED)` ("59"), checked before the caps, isolation, e-mode and LTV rules the keeper
// applies. readAaveLimits never reads the sentinel: the debt reserve's `borrowable` stays its free liquidity, so the
// solver plans boosts and donor borrows (a donor-funded rescue of another sub-account) that revert in every block of
// the outage and grace period, instead of planning the rescue without the Aave donor. Repay, supply and withdraw are
// not gated by it (validateRepay/validateSupply/validateWithdraw/validateHFAndLtv do not read the sentinel).

const SENTINEL: Address = getAddress("0x00000000000000000000000000000000000000e5")
const ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
const POOL: Address = getAddress("0x00000000000000000000000000000000000000a0")
const PROVIDER: Address = "0x00000000000000000000000000000000000000a1"
const ORACLE: Address = "0x00000000000000000000000000000000000000a2"
const MULTICALL: Address = "0x00000000000000000000000000000000000000ca"
const WETH: Address = getAddress("0x00000000000000000000000000000000000000c1")
const USDC: Address = getAddress("0x00000000000000000000000000000000000000b1")
const DUST: Address = getAddress("0x00000000000000000000000000000000000000d1")
const SAFE: Address = "0x0000000000000000000000000000000000005afe"
const token = (asset: Address, kind: number) => `0x${asset.toLowerCase().slice(2, 38)}0${kind}${asset.toLowerCase().slice(-2)}` as Address
const MARKET = `0x${"cd".repeat(32)}` as Hex

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
  "function getUserEMode(address user) view returns (uint256)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "function ADDRESSES_PROVIDER() view returns (address)",
  "function getPriceOracle() view returns (address)",
  "function getAssetPrice(address asset) view returns (uint256)",
  "function scaledTotalSupply() view returns (uint256)",
  "function getSupplyData() view returns (uint256, uint256, uint256, uint40)",
  "function balanceOf(address) view returns (uint256)",
  "function totalSupply() view returns (uint256)",
  "function getReserveAddressById(uint16 id) view returns (address)",
  "function getConfiguration(address asset) view returns (ReserveConfigurationMap)",
  "function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)",
  "function getPriceOracleSentinel() view returns (address)",
  "function isBorrowAllowed() view returns (bool)",
])

/** Reserve configuration: LTV, liquidation threshold 86 %, bonus 105 %, decimals, active, borrowing and flash loans on. */
const config = (ltv: bigint, decimals: bigint) => ltv | (8_600n << 16n) | (10_500n << 32n) | (decimals << 48n) | (1n << 56n) | (1n << 58n) | (1n << 63n)
const RESERVES: Record<string, { id: number; configuration: bigint; decimals: number; price: bigint }> = {
  [WETH]: { id: 0, configuration: config(8_000n, 18n), decimals: 18, price: 3_000n * 10n ** 8n },
  [USDC]: { id: 1, configuration: config(0n, 6n), decimals: 6, price: 10n ** 8n },
  [DUST]: { id: 2, configuration: config(7_000n, 18n), decimals: 18, price: 10n ** 8n },
}
const reserveAt = (asset: Address) => RESERVES[Object.keys(RESERVES).find((a) => a.toLowerCase() === asset.toLowerCase()) as string] as (typeof RESERVES)[string]

/** The mock chain: the Safe supplies 10 WETH, borrows USDC, and holds `dust` wei of aDUST, used as collateral when `enabled`. */
function chainOf(state: { dust: bigint; enabled: boolean; borrowAllowed: boolean }) {
  return (target: Address, functionName: string, args: readonly unknown[]): unknown => {
    const t = target.toLowerCase()
    const reserveOf = (kind: number) => Object.keys(RESERVES).find((a) => token(a as Address, kind).toLowerCase() === t) as Address | undefined
    switch (functionName) {
      case "POOL":
        return POOL
      case "ADDRESSES_PROVIDER":
        return PROVIDER
      case "getPriceOracleSentinel":
        return SENTINEL
      case "isBorrowAllowed":
        return state.borrowAllowed
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
      case "getUserEMode":
        return 0n
      case "getUserConfiguration":
        // WETH (id 0) as collateral, USDC (id 1) borrowed, DUST (id 2) as collateral when enabled.
        return { data: (1n << 1n) | (1n << 2n) | (state.enabled ? 1n << 5n : 0n) }
      case "getUserAccountData": {
        const dustValue = state.enabled ? (state.dust * 10n ** 8n) / 10n ** 18n : 0n
        return [30_000n * 10n ** 8n + dustValue, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)]
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
        const supplied = reserveOf(1)
        if (supplied !== undefined) {
          if ((args[0] as Address).toLowerCase() !== SAFE.toLowerCase()) return 0n
          return supplied.toLowerCase() === DUST.toLowerCase() ? state.dust : supplied.toLowerCase() === WETH.toLowerCase() ? 10n * 10n ** 18n : 0n
        }
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
}

/** A client on the mock chain, and the number of eth_call requests it sent. */
function clientOf(state: { dust: bigint; enabled: boolean; borrowAllowed: boolean }) {
  const answer = chainOf(state)
  const count = { calls: 0 }
  const client = createPublicClient({
    transport: custom({
      async request({ method, params }: { method: string; params: unknown[] }) {
        if (method === "eth_chainId") return "0x7a69"
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        count.calls += 1
        const { data } = params[0] as { to: Address; data: Hex }
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
const SUB = `0x${"ab".repeat(32)}` as Hex
const chain = [{ subAccount: SUB, policy: { adapter: ADAPTER, market: MARKET } }] as never

describe("readAaveLimits: the pool's price oracle sentinel", () => {
  test("isBorrowAllowed() true: the debt reserve lends its free liquidity (control)", async () => {
    const { client } = clientOf({ dust: 0n, enabled: false, borrowAllowed: true })
    const limits = await readAaveLimits(client, deployment, chain, SAFE, 7n)
    expect(limits[SUB]?.debt.borrowable).toBeGreaterThan(0n)
  })
  test("isBorrowAllowed() false (sequencer down / grace period): no borrow is lendable, repay/supply/withdraw untouched (FAILS on c88250c: borrowable = liquidity)", async () => {
    const { client } = clientOf({ dust: 0n, enabled: false, borrowAllowed: false })
    const limits = await readAaveLimits(client, deployment, chain, SAFE, 7n)
    const open = await readAaveLimits(clientOf({ dust: 0n, enabled: false, borrowAllowed: true }).client, deployment, chain, SAFE, 7n)
    expect(limits[SUB]?.collateral.withdrawable).toBe(open[SUB]?.collateral.withdrawable)
    expect(limits[SUB]?.debt.borrowable).toBe(0n)
  })
})
