/**
 * Swap deleverage for a sub-account with no buffer: sell collateral for the loan token inside the venue's repay
 * callback (`RepayWithCallback { WithdrawCollateral, SellCollateral } EndCallback`, one UserOperation, no idle funds).
 *
 * Cost model: the swap's shortfall against its oracle value (fee + price impact) comes from a {@link SwapCurve} quoted
 * on the pool's real liquidity (QuoterV2 by eth_call, `quotePriceImpact`), interpolated between the quoted sizes; gas
 * from the cost model's per-action figures. The size is capped where the curve's shortfall reaches 90% of the policy's
 * `maxSlippageBps` (the module's on-chain minimum, kept 10% back for the block or two until inclusion), so the solver
 * never proposes a swap the module would refuse; a capped unwind that does not reach the landing zone is no plan.
 * Amounts here are floats in human units (the solver's convention); the keeper re-quotes the chosen size exactly and
 * sends base-unit integers.
 */
import { healthOf, toBaseUnits } from "./state.js"
import type { CostModel, EpochState, Plan, Policy, SubAccountState, SwapCurve } from "./types.js"

/**
 * Shares of the position's collateral (for a purchase, of its oracle value in the loan token) a swap cost curve is
 * quoted at: by the keeper on QuoterV2, by the backtester on its liquidity model.
 */
export const SWAP_CURVE_FRACTIONS = [0.005, 0.05, 0.2, 0.4, 0.7, 1] as const

/** Share of `maxSlippageBps` the solver lets a swap's quoted shortfall use (the rest absorbs drift until inclusion). */
export const SWAP_SLIPPAGE_USE = 0.9
/** The keeper lowers what the venue takes from a swap's output to the swap's exact quote at sending less this fraction. */
export const SWAP_REPAY_MARGIN = 2e-4

/**
 * Share of a swap's oracle value the venue takes from its output (a swap deleverage's repayment, a swap boost's
 * supply): the least the module lets the swap pay (its minimum output, `1 - maxSlippageBps / 10,000` of the oracle
 * value, never more than the expected output less {@link SWAP_REPAY_MARGIN}) after the price has moved against the
 * swap by the inclusion margin `m` (`SubAccountInput.landingMargin`, log price; 0 without one): `e^-m` times that.
 * The venue pulls a fixed amount at the end of the operation, so sized on the expected output less a couple of bps it
 * reverts as soon as the price moves against the swap by that much before inclusion (one block of a falling market
 * is enough, and that is when a rescue is needed); sized so, it still pays after a move of `maxSlippageBps` less the
 * swap's shortfall, plus `m`. What the swap pays above it stays in the Safe (idle loan token after a deleverage, idle
 * collateral after a boost): no loss, and the next plan's first buffer.
 *
 * @param shortfall - The swap's expected shortfall against its oracle value (fee + impact), fraction.
 * @param maxSlippageBps - The policy's maxSlippageBps.
 * @param inclusionMargin - Adverse price move until inclusion to allow for, log price (>= 0); default 0.
 * @returns Fraction of the swap's oracle value, in (0, 1].
 * @example swapTakeShare(0.0006, 100) // 0.99: a 1 % slippage bound leaves 94 bps of headroom over a 6 bp swap
 */
export function swapTakeShare(shortfall: number, maxSlippageBps: number, inclusionMargin = 0): number {
  return Math.exp(-Math.max(0, inclusionMargin)) * Math.min(1 - maxSlippageBps / 10_000, (1 - shortfall) * (1 - SWAP_REPAY_MARGIN))
}

/**
 * Shortfall (bps) of selling `amountIn` along `curve`: linear between quoted sizes, the first point's below it, and the
 * last segment's slope beyond the last point (impact keeps growing).
 *
 * @returns Shortfall in basis points (fee + impact).
 */
export function curveShortfallBps(curve: SwapCurve, amountIn: number): number {
  const pts = curve.points
  const first = pts[0]
  if (first === undefined) return Number.POSITIVE_INFINITY
  if (amountIn <= first.amountIn || pts.length === 1) return first.shortfallBps
  for (let k = 1; k < pts.length; k++) {
    const a = pts[k - 1] as (typeof pts)[number]
    const b = pts[k] as (typeof pts)[number]
    if (amountIn <= b.amountIn || k === pts.length - 1) {
      const slope = (b.shortfallBps - a.shortfallBps) / (b.amountIn - a.amountIn)
      return a.shortfallBps + slope * (amountIn - a.amountIn)
    }
  }
  return Number.POSITIVE_INFINITY
}

/**
 * The largest input whose interpolated shortfall stays within `maxBps` (0 when even the smallest quote exceeds it).
 *
 * @returns Collateral units.
 */
export function maxSizeWithinSlippage(curve: SwapCurve, maxBps: number): number {
  const pts = curve.points
  const first = pts[0]
  if (first === undefined || first.shortfallBps > maxBps) return 0
  let best = first.amountIn
  for (let k = 1; k < pts.length; k++) {
    const a = pts[k - 1] as (typeof pts)[number]
    const b = pts[k] as (typeof pts)[number]
    if (b.shortfallBps <= maxBps) {
      best = b.amountIn
      continue
    }
    best = a.amountIn + ((maxBps - a.shortfallBps) / (b.shortfallBps - a.shortfallBps)) * (b.amountIn - a.amountIn)
    return best
  }
  return best
}

/** What both swap planners ({@link planSwapDeleverage}, `planSwapBoost`) take about one sub-account. */
export type SwapPlanBase = {
  state: SubAccountState
  policy: Policy
  /** Epoch bookkeeping, already rolled to the current epoch (`effectiveEpoch`). */
  epoch: EpochState
  /** The pool's cost curve in the trade's direction (amountIn in the input token's units). */
  curve: SwapCurve
  costs: CostModel
  /** Health to aim for (the solver's goal for this sub-account). */
  goal: number
  /** Adverse price move until inclusion the venue's take allows for (`SubAccountInput.landingMargin`, log); default 0. */
  inclusionMargin?: number | undefined
}

export type SwapDeleverageParameters = SwapPlanBase & {
  /** Lowest health the plan may end at (landing zone low edge, with the solver's margin). */
  low: number
  /**
   * Value this sub-account may still move in this rebalance (per-rebalance and epoch caps, loan units); default
   * `maxAmountPerRebalance`. The module counts the repayment and the withdrawn collateral's value.
   */
  capLeft?: number | undefined
}

export type SwapDeleverageCandidate = {
  plan: Plan
  /** Gas (loan units) + the swap's shortfall at oracle prices. */
  cost: number
  healthAfter: number
  /** Collateral sold and loan token repaid (human units). */
  sold: number
  repaid: number
  shortfallBps: number
}

/**
 * Sizes a swap deleverage toward `goal`: the collateral `c` solving (C - c) P lltv = goal (D - c P k(c)), with the
 * repaid share k = {@link swapTakeShare} of the swap's shortfall s(c) from the curve (fixed-point, a few rounds), capped by {@link SWAP_SLIPPAGE_USE} x maxSlippageBps and by the
 * amount caps (a capped sale is kept when it still reaches the landing zone), within the per-rebalance and per-epoch
 * loss limits.
 *
 * @returns The candidate plan and its cost, or the reason there is none.
 */
export function planSwapDeleverage(params: SwapDeleverageParameters): SwapDeleverageCandidate | { reason: string } {
  const { state: s, policy, epoch, curve, costs, goal, low } = params
  const bps = policy.maxSlippageBps ?? 0
  const take = (shortfall: number) => swapTakeShare(shortfall, bps, params.inclusionMargin)
  if (bps <= 0) return { reason: "the policy does not allow swaps (maxSlippageBps 0)" }
  const { collateral: C, debt: D, price: P, lltv } = s
  if (!(D > 0)) return { reason: "no debt to repay" }
  if (s.repayable === 0 || s.withdrawable === 0) return { reason: "the venue refuses the repayment or the collateral withdrawal now (paused reserve)" }
  let shortfall = curveShortfallBps(curve, 0) / 10_000
  let c = 0
  for (let round = 0; round < 6; round++) {
    c = (goal * D - C * P * lltv) / (P * (goal * take(shortfall) - lltv))
    shortfall = curveShortfallBps(curve, c) / 10_000
  }
  if (!(c > 0)) return { reason: "already at or above the goal" }
  // The module refuses a swap past maxSlippageBps and a loss past maxLossBps of what the positions move (about c P).
  const usable = Math.min(bps * SWAP_SLIPPAGE_USE, policy.maxLossBps * 0.999)
  const withinSlippage = Math.min(maxSizeWithinSlippage(curve, usable), C * 0.999)
  const withdrawable = s.withdrawable ?? Number.POSITIVE_INFINITY
  const bySlippage = Math.min(withinSlippage, withdrawable)
  // What the module counts as moved: the repayment (about c P (1 - s)) plus the withdrawn collateral's value (c P).
  const capLeft = params.capLeft ?? policy.maxAmountPerRebalance
  const byCaps = (capLeft * (1 - 1e-9)) / (P * (2 - shortfall))
  const capped = c > Math.min(bySlippage, byCaps)
  const cappedBy = bySlippage > byCaps ? "the amount caps" : withinSlippage <= withdrawable ? "maxSlippageBps" : "the venue's withdrawable collateral"
  if (capped) c = Math.min(bySlippage, byCaps)
  if (!(c > 0)) return { reason: bySlippage <= 0 ? `even the smallest quoted swap loses more than ${usable.toFixed(1)} bps` : "no value left to move under the amount caps" }
  shortfall = curveShortfallBps(curve, c) / 10_000
  const out = c * P * (1 - shortfall)
  const repaid = Math.min(c * P * take(shortfall), D)
  const after = { collateral: C - c, debt: D - repaid, price: P, lltv }
  const healthAfter = healthOf(after)
  if (healthAfter < low) return { reason: `a swap ${capped ? `capped by ${cappedBy} ` : ""}reaches only health ${healthAfter.toFixed(3)} < ${low.toFixed(3)}` }
  const moved = repaid + c * P
  if (moved > capLeft) return { reason: `a swap deleverage moves ${moved.toFixed(2)}, above the amount caps (${capLeft.toFixed(2)} left)` }
  // Fee and impact at oracle prices; the unrepaid part of the output stays idle in the Safe and is no loss.
  const loss = c * P * shortfall
  const equity = C * P - D
  const epochRoom = ((policy.maxEpochLossBps ?? 10_000) / 10_000 - (epoch.lossPpbInEpoch ?? 0) / 1e9) * equity
  if (!(loss <= epochRoom * 0.999)) return { reason: `the swap's loss ${loss.toFixed(2)} exceeds the epoch loss budget left (${epochRoom.toFixed(2)})` }
  const kinds = ["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"] as const
  const gas = costs.baseGas + kinds.reduce((g, k) => g + costs.gasPerAction[k], 0)
  const plan: Plan = {
    loanAsset: s.loanAsset,
    subAccounts: [s.id],
    gas,
    actions: [
      { kind: "RepayWithCallback", subAccount: 0, pool: undefined, asset: s.loanAsset, amount: repaid, amountBase: toBaseUnits(repaid, s.loanDecimals) },
      { kind: "WithdrawCollateral", subAccount: 0, pool: undefined, asset: s.collateralAsset, amount: c, amountBase: toBaseUnits(c, s.collateralDecimals) },
      {
        kind: "SellCollateral",
        subAccount: 0,
        pool: undefined,
        asset: s.collateralAsset,
        amount: c,
        amountBase: toBaseUnits(c, s.collateralDecimals),
        route: curve.route,
        expectedOut: out,
      },
      { kind: "EndCallback", subAccount: 0, pool: undefined, asset: s.loanAsset, amount: 0, amountBase: 0n },
    ],
  }
  return { plan, cost: gas * costs.gasPrice + loss, healthAfter, sold: c, repaid, shortfallBps: shortfall * 10_000 }
}
