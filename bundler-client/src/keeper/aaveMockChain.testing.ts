/**
 * A mock Aave v3.0.2 chain for the keeper's and the SDK's Aave read tests (aaveDustCollateral, aaveDustEMode,
 * aaveDustLtvZeroOrder, aaveReadsShared, aaveSentinel): one Safe on one Aave sub-account (market: WETH collateral, USDC
 * debt), its adapter, pool, provider, oracle and (optionally) price oracle sentinel, answering each call of a multicall3
 * `aggregate3` decoded with the ABI the code under test reads with (`aaveReadAbi`). Test-only: not exported by the package.
 */
import { type Address, type Hex, createPublicClient, custom, decodeFunctionData, encodeFunctionResult, erc20Abi, getAddress, multicall3Abi, zeroAddress } from "viem"
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
 * Reserve configuration (Aave v3.0.2 bitmap): LTV (bps; 0: an LTV-0 reserve), liquidation threshold (bps, 86 % by
 * default), bonus 105 %, decimals, active, borrowing and flash loans on, reserve factor (bps, 0 by default), e-mode
 * category (bits 168-175, 0 by default).
 */
export const reserveConfig = (ltv: bigint, decimals: bigint, reserveFactorBps = 0n, { liquidationThresholdBps = 8_600n, eModeCategory = 0n }: { liquidationThresholdBps?: bigint; eModeCategory?: bigint } = {}) =>
  ltv | (liquidationThresholdBps << 16n) | (10_500n << 32n) | (decimals << 48n) | (1n << 56n) | (1n << 58n) | (1n << 63n) | (reserveFactorBps << 64n) | (eModeCategory << 168n)

/** An e-mode category as `getEModeCategoryData` returns it (LTV and thresholds in bps). */
export type MockEModeCategory = { ltv: number; liquidationThreshold: number; liquidationBonus: number; priceSource: Address; label: string }

/** E-mode category 1 ("ETH correlated"): LTV 93 %, liquidation threshold 95 %, no price source. */
export const ETH_CATEGORY: MockEModeCategory = { ltv: 9_300, liquidationThreshold: 9_500, liquidationBonus: 10_100, priceSource: zeroAddress, label: "ETH correlated" }

/**
 * `getUserAccountData` as Aave v3.0.2's GenericLogic.calculateUserAccountData computes it when every collateral is
 * weighted at `weights` (an e-mode category all of them are in): each valued floor(price x balance / 10^decimals) (base
 * currency), the average LTV and threshold floored (bps), health = percentMul(total, avgLT) x 1e18 / debt (wadDiv, half
 * up, WAD), available borrows = percentMul(total, avgLtv) - debt, 0 below.
 *
 * @returns The figures and `data`, the `getUserAccountData` tuple ({@link MockAaveChainOptions.accountData}).
 */
export function aaveAccountData(collaterals: readonly { price: bigint; balance: bigint; decimals: number }[], weights: Pick<MockEModeCategory, "ltv" | "liquidationThreshold">, debtBase: bigint) {
  const values = collaterals.map((r) => (r.price * r.balance) / 10n ** BigInt(r.decimals))
  const total = values.reduce((s, v) => s + v, 0n)
  const avgLt = total === 0n ? 0n : values.reduce((s, v) => s + v * BigInt(weights.liquidationThreshold), 0n) / total
  const avgLtv = total === 0n ? 0n : values.reduce((s, v) => s + v * BigInt(weights.ltv), 0n) / total
  const health = (((total * avgLt + 5_000n) / 10_000n) * 10n ** 18n + debtBase / 2n) / debtBase
  const ltvRoom = (total * avgLtv + 5_000n) / 10_000n
  const available = ltvRoom > debtBase ? ltvRoom - debtBase : 0n
  return { total, avgLt, avgLtv, health, available, data: [total, debtBase, available, avgLt, avgLtv, health] as const }
}

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
  /** The Safe's `getUserEMode` (0 by default) and the category `getEModeCategoryData` answers (default {@link ETH_CATEGORY}). */
  userEMode?: bigint
  eModeCategory?: MockEModeCategory
  /** The pool's price oracle sentinel and its `isBorrowAllowed()`; none (address 0, an L1 pool) by default. */
  sentinel?: { address: Address; borrowAllowed: boolean }
}

/**
 * The chain's answer to `functionName(args)` on `target`, as Aave v3.0.2 would: the adapter's market (WETH / USDC,
 * e-mode 0), 15,000 USDC repayable, incentive 1.05, flash premium 5 bps; the reserves, prices, Safe's configuration,
 * e-mode, account data and aToken balances of `options`, its e-mode category and sentinel; an underlying's balance (the
 * aToken's liquidity) 1,000,000 whole tokens.
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
        return options.sentinel?.address ?? zeroAddress // no sentinel: an L1 pool
      case "isBorrowAllowed":
        if (options.sentinel === undefined || t !== options.sentinel.address.toLowerCase()) throw new Error(`isBorrowAllowed on ${target}, not the sentinel`)
        return options.sentinel.borrowAllowed
      case "marketParams":
        return [WETH, USDC, 0]
      case "maxRepayable":
        return 15_000n * 10n ** 6n
      case "liquidationIncentiveFactor":
        return h(1.05)
      case "FLASHLOAN_PREMIUM_TOTAL":
        return 5n
      case "getUserEMode":
        return options.userEMode ?? 0n
      case "getUserConfiguration":
        return { data: options.userConfiguration }
      case "getUserAccountData":
        return options.accountData
      case "getEModeCategoryData":
        return options.eModeCategory ?? ETH_CATEGORY
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
