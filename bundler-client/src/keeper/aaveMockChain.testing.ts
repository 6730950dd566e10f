/**
 * A mock Aave v3.0.2 chain for the keeper's Aave read tests (aaveDustCollateral, aaveReadsShared): one Safe on one Aave
 * sub-account (market: WETH collateral, USDC debt), its adapter, pool, provider and oracle, answering each call of a
 * multicall3 `aggregate3` decoded with the ABIs the code under test reads with. Test-only: not exported by the package.
 */
import { type Address, type Hex, createPublicClient, custom, decodeFunctionData, encodeFunctionResult, erc20Abi, getAddress, multicall3Abi } from "viem"
import { aaveReadAbi } from "@levpilot/sdk/utils"
import { h } from "./testing.js"

export const ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
export const POOL: Address = getAddress("0x00000000000000000000000000000000000000a0")
export const PROVIDER: Address = "0x00000000000000000000000000000000000000a1"
export const ORACLE: Address = "0x00000000000000000000000000000000000000a2"
export const MULTICALL: Address = "0x00000000000000000000000000000000000000ca"
export const WETH: Address = getAddress("0x00000000000000000000000000000000000000c1")
export const USDC: Address = getAddress("0x00000000000000000000000000000000000000b1")
export const SAFE: Address = "0x0000000000000000000000000000000000005afe"
export const MARKET = `0x${"cd".repeat(32)}` as Hex
export const SUB = `0x${"ab".repeat(32)}` as Hex
/** A reserve's token: `kind` 1 its aToken, 2 its stable debt token, 3 its variable debt token. */
export const token = (asset: Address, kind: number) => `0x${asset.toLowerCase().slice(2, 38)}0${kind}${asset.toLowerCase().slice(-2)}` as Address

/** readAaveLimits' `deployment` and `chain` (the Safe's one Aave sub-account, SUB on MARKET). */
export const deployment = { adapters: { morphoBlue: "0x00000000000000000000000000000000000000ad", aaveV3: ADAPTER }, multicall3: MULTICALL } as never
export const chain = [{ subAccount: SUB, policy: { adapter: ADAPTER, market: MARKET } }] as never

/** Every call the mock decodes: the SDK's and the keeper's Aave reads, and ERC-20's. */
const abi = [...aaveReadAbi, ...erc20Abi]

/**
 * Reserve configuration: LTV, liquidation threshold 86 %, bonus 105 %, decimals, active, borrowing and flash loans on,
 * reserve factor (bps, 0 by default).
 */
export const reserveConfig = (ltv: bigint, decimals: bigint, reserveFactorBps = 0n) =>
  ltv | (8_600n << 16n) | (10_500n << 32n) | (decimals << 48n) | (1n << 56n) | (1n << 58n) | (1n << 63n) | (reserveFactorBps << 64n)

export type MockAaveReserve = { id: number; configuration: bigint; decimals: number; price: bigint }

export type MockAaveChainOptions = {
  /** The listed reserves, by underlying token: id, configuration ({@link reserveConfig}), decimals, oracle price (8 decimals). */
  reserves: Record<Address, MockAaveReserve>
  /** The Safe's `getUserConfiguration().data` (bit 2 id + 1: collateral, bit 2 id: borrowed). */
  userConfiguration: bigint
  /** The Safe's `getUserAccountData`: collateral, debt, available borrows (base), liquidation threshold, LTV (bps), health (WAD). */
  accountData: readonly [bigint, bigint, bigint, bigint, bigint, bigint]
  /** The Safe's aToken balances (base units), by underlying token; 0 for the others and for any other holder. */
  supplied: Record<Address, bigint>
}

/**
 * The chain's answer to `functionName(args)` on `target`, as Aave v3.0.2 would: the adapter's market (WETH / USDC,
 * e-mode 0), 15,000 USDC repayable, incentive 1.05, flash premium 5 bps; the reserves, prices, Safe's configuration,
 * account data and aToken balances of `options`; an underlying's balance (the aToken's liquidity) 1,000,000 whole tokens.
 */
export function mockAaveChain(options: MockAaveChainOptions) {
  const { reserves } = options
  const assetOf = (address: Address) => Object.keys(reserves).find((a) => a.toLowerCase() === address.toLowerCase()) as Address | undefined
  const reserveAt = (asset: Address) => reserves[assetOf(asset) as Address] as MockAaveReserve
  return (target: Address, functionName: string, args: readonly unknown[]): unknown => {
    const t = target.toLowerCase()
    const reserveOf = (kind: number) => (Object.keys(reserves) as Address[]).find((a) => token(a, kind).toLowerCase() === t)
    switch (functionName) {
      case "POOL":
        return POOL
      case "ADDRESSES_PROVIDER":
        return PROVIDER
      case "getPriceOracle":
        return ORACLE
      case "getPriceOracleSentinel":
        return "0x0000000000000000000000000000000000000000" // no sentinel (an L1 pool)
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
        return { data: options.userConfiguration }
      case "getUserAccountData":
        return options.accountData
      case "getEModeCategoryData":
        return { ltv: 9_300, liquidationThreshold: 9_500, liquidationBonus: 10_100, priceSource: "0x0000000000000000000000000000000000000000", label: "eth" }
      case "getReserveAddressById":
        return (Object.keys(reserves) as Address[]).find((a) => reserveAt(a).id === Number(args[0]))
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
        // An aToken: the Safe's supply; an underlying: the aToken's liquidity (1,000,000 whole tokens).
        const supplied = reserveOf(1)
        if (supplied !== undefined) {
          if ((args[0] as Address).toLowerCase() !== SAFE.toLowerCase()) return 0n
          return Object.entries(options.supplied).find(([a]) => a.toLowerCase() === supplied.toLowerCase())?.[1] ?? 0n
        }
        const asset = assetOf(target)
        return 1_000_000n * 10n ** BigInt(asset === undefined ? 0 : reserveAt(asset).decimals)
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

/**
 * A client on a mock chain ({@link mockAaveChain}) reached through MULTICALL, and the number of eth_call requests it sent.
 * `failing`: functions whose every call fails in its batch (`aggregate3` entry `success: false`, no return data).
 */
export function mockAaveClient(answer: ReturnType<typeof mockAaveChain>, { failing = [] }: { failing?: readonly string[] } = {}) {
  const count = { calls: 0 }
  const client = createPublicClient({
    transport: custom({
      async request({ method, params }: { method: string; params: unknown[] }) {
        if (method === "eth_chainId") return "0x7a69"
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        count.calls += 1
        const { to, data } = params[0] as { to: Address; data: Hex }
        if (to.toLowerCase() !== MULTICALL.toLowerCase()) throw new Error(`eth_call to ${to}, not multicall3`)
        const { args } = decodeFunctionData({ abi: multicall3Abi, data })
        const calls = args[0] as readonly { target: Address; callData: Hex }[]
        const results = calls.map(({ target, callData }) => {
          const call = decodeFunctionData({ abi, data: callData })
          if (failing.includes(call.functionName)) return { success: false, returnData: "0x" as Hex }
          return { success: true, returnData: encodeFunctionResult({ abi, functionName: call.functionName, result: answer(target, call.functionName, call.args ?? []) } as never) }
        })
        return encodeFunctionResult({ abi: multicall3Abi, functionName: "aggregate3", result: results })
      },
    }),
  })
  return { client, count }
}
