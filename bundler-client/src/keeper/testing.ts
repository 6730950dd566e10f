import type { Address } from "viem"
import { WAD } from "@levpilot/sdk/constants"
import type { RulePolicy } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"

// The clamp tests' shared fixture (chainBounds.{flows,aave,settle,property}.test.ts): placeholder addresses, one
// route, the policy every case is judged under. Test-only (excluded from the package build).

/** The loan token every sub-account of a fixture shares. */
export const LOAN: Address = "0x00000000000000000000000000000000000000b1"
export const ADAPTER: Address = "0x00000000000000000000000000000000000000ad"
export const SWAP_ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
/** An encoded Uniswap v3 route of fee tier 500 (the last 3 bytes). */
export const ROUTE = `0x${"0".repeat(61)}1f4` as const
export const ZERO: Address = "0x0000000000000000000000000000000000000000"
/** An ERC-4626 pool holding the loan token. */
export const POOL: Address = "0x00000000000000000000000000000000000000f1"
/** The policy's `maxSlippageBps`. */
export const SLIP = 50
/** LLTV 0.8 (WAD). */
export const LLTV = (8n * WAD) / 10n
/** A health factor as WAD, to 6 decimals (`h(1.3)` = 1.3e18). */
export const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n

/**
 * The rule-book policy of every clamp fixture: band [1.1, 1.5], target 1.3, maxLossBps and maxEpochLossBps 300,
 * `SLIP` slippage, boost allowed, no amount caps, no cooldown.
 *
 * @param pools - The allowed ERC-4626 pools.
 */
export function policy(pools: readonly Address[]): RulePolicy {
  return {
    adapter: ADAPTER, minHealth: h(1.1), cooldown: 0, market: `0x${"00".repeat(32)}`, priceFeed: ZERO, targetHealth: h(1.3), epochLength: 86_400,
    maxHealth: h(1.5), maxGasPerEpoch: 10n ** 12n, maxOracleAge: 3_600, maxLossBps: 300, maxEpochLossBps: 300, maxRebalancesPerEpoch: 100,
    maxOracleDeviationBps: 100, boostAllowed: true, maxSlippageBps: SLIP, maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
    minFeedAnswer: 0n, maxFeedAnswer: 0n, pools,
  }
}

/**
 * A flash deleverage block on sub-account index `subAccount`: repay `repaid` inside the callback, withdraw `sold`
 * collateral, sell it on `ROUTE`, end the callback (the sale's output settles the repayment).
 *
 * @param subAccount - The plan's sub-account index.
 * @param repaid - Loan token repaid, base units.
 * @param sold - Collateral withdrawn and sold, base units.
 */
export function flashSale(subAccount: number, repaid: bigint, sold: bigint): ChainPlan["actions"] {
  return [
    { kind: "RepayWithCallback", subAccount, amount: repaid },
    { kind: "WithdrawCollateral", subAccount, amount: sold },
    { kind: "SellCollateral", subAccount, route: ROUTE, amount: sold },
    { kind: "EndCallback", subAccount, amount: 0n },
  ]
}
