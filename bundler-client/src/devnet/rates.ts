import { type Address, type PublicClient, zeroAddress } from "viem"
import { adaptiveCurveIrmAbi, borrowAprOf } from "@levpilot/devnet/irm"
import { type DevnetMarket, morphoAbi } from "@levpilot/devnet/leverage"

const WAD = 10n ** 18n

/** A Morpho Blue market's borrow side at one block, interest accrued to that block (what Morpho would store next). */
export type MarketRate = {
  /** The IRM's borrow rate per second (WAD), from `borrowRateView`; 0 without an IRM. */
  borrowRate: bigint
  /** Simple borrow APR, 0.04 = 4%. */
  borrowApr: number
  /** Borrowed / supplied, 0..1, with interest to the block. */
  utilization: number
  totalBorrowAssets: bigint
  totalBorrowShares: bigint
  totalSupplyAssets: bigint
  /** Block the figures are for, and its timestamp. */
  blockNumber: bigint
  timestamp: bigint
}

/**
 * e^(rate * elapsed) - 1 as Morpho Blue approximates it (third-order Taylor expansion, WAD, rounded down).
 *
 * @returns The growth factor minus one, WAD.
 */
export function taylorCompounded(rate: bigint, elapsed: bigint): bigint {
  const first = rate * elapsed
  const second = (first * first) / (2n * WAD)
  const third = (second * first) / (3n * WAD)
  return first + second + third
}

/**
 * Reads a market at one block and accrues its interest to that block the way Morpho's `_accrueInterest` does (the
 * IRM's `borrowRateView` over the time since `lastUpdate`), so debts computed from it match what `repay` or
 * `liquidate` would charge in that block. The reads are pinned to `blockNumber` (latest by default).
 *
 * @returns {@link MarketRate}
 */
export async function readMarketRate(client: PublicClient, morpho: Address, market: DevnetMarket, blockNumber?: bigint | undefined): Promise<MarketRate> {
  const block = await client.getBlock(blockNumber === undefined ? { blockTag: "latest" } : { blockNumber })
  const at = { blockNumber: block.number }
  const [totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares, lastUpdate, fee] = await client.readContract({
    address: morpho,
    abi: morphoAbi,
    functionName: "market",
    args: [market.id],
    ...at,
  })
  const irm = market.params.irm
  const borrowRate =
    irm === zeroAddress
      ? 0n
      : await client.readContract({
          address: irm,
          abi: adaptiveCurveIrmAbi,
          functionName: "borrowRateView",
          args: [market.params, { totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares, lastUpdate, fee }],
          ...at,
        })
  const elapsed = block.timestamp > lastUpdate ? block.timestamp - lastUpdate : 0n
  const interest = (totalBorrowAssets * taylorCompounded(borrowRate, elapsed)) / WAD
  const borrowed = totalBorrowAssets + interest
  const supplied = totalSupplyAssets + interest
  return {
    borrowRate,
    borrowApr: borrowAprOf(borrowRate),
    utilization: supplied === 0n ? 0 : Number((borrowed * 10n ** 12n) / supplied) / 1e12,
    totalBorrowAssets: borrowed,
    totalBorrowShares,
    totalSupplyAssets: supplied,
    blockNumber: block.number,
    timestamp: block.timestamp,
  }
}
