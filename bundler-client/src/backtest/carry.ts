import { AdaptiveCurveIrmLib } from "@morpho-org/blue-sdk"

const WAD = 1e18
/** Seconds per year of Morpho's per-second rates (365 days; `borrowAprOf` in the devnet uses the same). */
const MORPHO_YEAR = 365 * 86_400

/** Settings of a borrow market's AdaptiveCurveIrm. */
export type IrmMarket = {
  /** Utilisation (borrowed / supplied, 0..1) over the path: the market is much larger than the Safe, so it is exogenous. */
  utilization: number
  /** Rate at target utilisation (APR) at the start; Morpho's initial value is 0.04. */
  rateAtTarget: number
  /** Share of interest the market keeps (Morpho fee), 0..1; lowers the supply rate. */
  fee: number
}

/**
 * Borrow and supply APRs of a Morpho Blue market with the AdaptiveCurveIrm at a fixed utilisation, per interval:
 * Morpho's own math (`AdaptiveCurveIrmLib.getBorrowRate` from `@morpho-org/blue-sdk`: the average rate over the
 * interval and the adapted rate at target), so the rate at target drifts as it does on chain (up above 90 %
 * utilisation, down below). The supply APR is `borrow x utilisation x (1 - fee)`.
 */
export class IrmRatePath {
  private rateAtTarget: bigint
  private readonly utilization: bigint

  /** @param market - Utilisation, starting rate at target, fee. */
  constructor(private readonly market: IrmMarket) {
    this.utilization = BigInt(Math.round(market.utilization * WAD))
    this.rateAtTarget = BigInt(Math.round((market.rateAtTarget / MORPHO_YEAR) * WAD))
  }

  /**
   * Advance by `seconds` and return the average APRs over that interval.
   *
   * @param seconds - Interval length (integer seconds, >= 0).
   * @returns `{ borrowApr, supplyApr }` as fractions (0.04 = 4 %).
   */
  advance(seconds: number): { borrowApr: number; supplyApr: number } {
    const { avgBorrowRate, endRateAtTarget } = AdaptiveCurveIrmLib.getBorrowRate(this.utilization, this.rateAtTarget, BigInt(Math.max(0, Math.round(seconds))))
    this.rateAtTarget = endRateAtTarget
    const borrowApr = (Number(avgBorrowRate) * MORPHO_YEAR) / WAD
    return { borrowApr, supplyApr: borrowApr * this.market.utilization * (1 - this.market.fee) }
  }
}

/**
 * Per-step borrow and supply APRs for a timestamp grid, the IRM advanced every `intervalSeconds` (the rate path is
 * the same for every strategy: the Safe's borrowing is too small to move the market's utilisation).
 *
 * @param timestamps - Unix seconds, increasing.
 * @param market - IRM settings.
 * @param intervalSeconds - How often the IRM is evaluated (default 3,600).
 * @returns Per-step APRs; entry k applies to the interval (t_{k-1}, t_k].
 */
export function irmRates(timestamps: ArrayLike<number>, market: IrmMarket, intervalSeconds = 3600): { borrow: Float64Array; supply: Float64Array } {
  const n = timestamps.length
  const borrow = new Float64Array(n)
  const supply = new Float64Array(n)
  const irm = new IrmRatePath(market)
  let current = irm.advance(0)
  let next = (timestamps[0] as number) + intervalSeconds
  let last = timestamps[0] as number
  for (let k = 0; k < n; k++) {
    const t = timestamps[k] as number
    if (t >= next) {
      current = irm.advance(t - last)
      last = t
      next = t + intervalSeconds
    }
    borrow[k] = current.borrowApr
    supply[k] = current.supplyApr
  }
  return { borrow, supply }
}

/** Growth factor of a balance at `apr` (per-second rate x 365 days) over `seconds`, continuously compounded as Morpho's e^(rt). */
export function growth(apr: number, seconds: number): number {
  return Math.exp((apr * seconds) / MORPHO_YEAR)
}

/** Gas fee distribution: the base fee of each `slotSeconds` slot is log-uniform in [minGwei, maxGwei]. */
export type GasMarket = {
  /** Lowest and highest gas price (gwei). Mainnet: 1 and 100. */
  minGwei: number
  maxGwei: number
  /** Native token price in loan units. */
  nativePrice: number
  /** Fixed fee per operation in loan units (an L2's L1 data fee). */
  l1FeePerOp: number
  /** Length of a slot with one gas price (seconds). */
  slotSeconds: number
}

/** Gas markets the backtester knows: Ethereum mainnet (1-100 gwei) and an L2 (0.005-0.1 gwei plus 0.05 USD of L1 data per op). */
export const GAS_MARKETS = {
  mainnet: { minGwei: 1, maxGwei: 100, nativePrice: 3000, l1FeePerOp: 0, slotSeconds: 600 },
  l2: { minGwei: 0.005, maxGwei: 0.1, nativePrice: 3000, l1FeePerOp: 0.05, slotSeconds: 600 },
} as const satisfies Record<string, GasMarket>

/** @returns The mean gas price of a market in loan units per gas unit (log-uniform mean `(max - min) / ln(max / min)` gwei). */
export function meanGasPrice(market: GasMarket): number {
  const gwei = market.maxGwei > market.minGwei ? (market.maxGwei - market.minGwei) / Math.log(market.maxGwei / market.minGwei) : market.minGwei
  return gwei * 1e-9 * market.nativePrice
}

function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * Cost of `gas` units at time `t` (loan units): the slot's gas price, drawn log-uniformly from a hash of (seed, slot),
 * so every strategy on the same path pays the same price at the same time.
 *
 * @param market - Fee distribution.
 * @param seed - Path seed.
 * @param t - Unix seconds.
 * @param gas - Gas units.
 * @returns The cost including the per-operation L1 fee.
 */
export function gasCostAt(market: GasMarket, seed: number, t: number, gas: number): number {
  const u = hash32(seed | 0, Math.floor(t / market.slotSeconds)) / 4_294_967_296
  const gwei = market.minGwei * (market.maxGwei / market.minGwei) ** u
  return gas * gwei * 1e-9 * market.nativePrice + market.l1FeePerOp
}
