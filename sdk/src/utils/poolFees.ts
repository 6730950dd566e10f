import { type Address, erc4626Abi } from "viem"
import { poolEntryFeeBpsOf, poolFeeBpsOf } from "../rules/planRules.js"
import { type ReadResult, resultOf } from "./multicall.js"

/** A pool whose fees are read: its address and totals at the read's block. */
export type PoolFeeTarget = { address: Address; totalSupply: bigint; totalAssets: bigint }

/**
 * The reads of each pool's fees as the rule book models them, per side (review rr11f F2, rr11g G1): the exit fee
 * (`RulePool.exitFeeBps`) from `convertToAssets` and `previewRedeem` of its `totalSupply` (`poolFeeBpsOf`), the entry fee
 * (`RulePool.entryFeeBps`) from `convertToShares` and `previewDeposit` of its `totalAssets` (`poolEntryFeeBpsOf`). Four
 * per pool, in order; the keeper's snapshot and `validateRebalance` read them in one multicall with their other reads.
 *
 * @param pools - The pools, with their totals (base units of the asset, shares).
 * @returns The calls, four per pool, for `readMany` (or any multicall with failures per call).
 */
export function poolFeeCalls(pools: readonly PoolFeeTarget[]) {
  return pools.flatMap((p) => [
    { address: p.address, abi: erc4626Abi, functionName: "convertToAssets", args: [p.totalSupply] } as const,
    { address: p.address, abi: erc4626Abi, functionName: "previewRedeem", args: [p.totalSupply] } as const,
    { address: p.address, abi: erc4626Abi, functionName: "convertToShares", args: [p.totalAssets] } as const,
    { address: p.address, abi: erc4626Abi, functionName: "previewDeposit", args: [p.totalAssets] } as const,
  ])
}

/**
 * Each pool's fees from the results of {@link poolFeeCalls} for the same pools: `exitFeeBps` and `entryFeeBps` (bps), each
 * only when above 0; a side whose pair does not answer (a failed read) is left out: judged fee-free on that side.
 *
 * @param pools - The pools {@link poolFeeCalls} was given, in the same order.
 * @param reads - Its results, four per pool, in order.
 * @returns One object per pool, to spread onto its `RulePool`.
 */
export function poolFeesOf(pools: readonly PoolFeeTarget[], reads: readonly (ReadResult | undefined)[]): { entryFeeBps?: bigint; exitFeeBps?: bigint }[] {
  return pools.map((p, i) => {
    const [gross, net, sharesGross, sharesNet] = [0, 1, 2, 3].map((j) => resultOf<bigint>(reads[4 * i + j]))
    const exitFeeBps = gross === undefined || net === undefined ? undefined : poolFeeBpsOf(gross, net)
    const entryFeeBps = sharesGross === undefined || sharesNet === undefined ? undefined : poolEntryFeeBpsOf(sharesGross, sharesNet, p.totalAssets)
    return { ...(exitFeeBps !== undefined && exitFeeBps > 0n ? { exitFeeBps } : {}), ...(entryFeeBps !== undefined && entryFeeBps > 0n ? { entryFeeBps } : {}) }
  })
}
