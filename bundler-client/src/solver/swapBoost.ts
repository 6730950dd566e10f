/**
 * Swap boost for a sub-account above its band whose policy allows boosts and swaps: borrow the loan token, buy
 * collateral with it through the module's swap adapter (`BuyCollateral`) and supply it, so exposure (not only debt)
 * rises to the target. Two shapes, both one UserOperation:
 * - one pass, `Borrow, BuyCollateral, SupplyCollateral`, when the borrow alone leaves the position healthy (Morpho
 *   checks health at the borrow, before the bought collateral arrives);
 * - flash-looped, `SupplyCollateralWithCallback { Borrow, BuyCollateral } EndCallback`: Morpho credits the collateral
 *   first, the callback borrows and buys it, Morpho collects it at the end; needed when the borrow would otherwise
 *   take health below {@link ONE_PASS_MIN_HEALTH} (large boosts), 30,000 gas dearer.
 *
 * Cost model as for the swap deleverage: fee + impact from a {@link SwapCurve} quoted on the pool's real liquidity
 * (QuoterV2, loan token -> collateral, `amountIn` in loan units), gas from the per-action figures. The borrow is capped
 * where the curve's shortfall reaches 90% of maxSlippageBps (and maxLossBps; `usableSlippageBps`), by the amount caps
 * (what the module counts as moved: the borrow plus the supplied collateral's value) and by the market's free
 * liquidity; a capped boost that does not reach the landing zone is no plan.
 */
import { FLASHABLE_USE, type SwapPlanBase, curveShortfallBps, maxSizeWithinSlippage, swapPlanMargin, usableSlippageBps } from "./swapDeleverage.js"
import { healthOf, toBaseUnits } from "./state.js"
import { CAP_BOUND_AIM, CAP_BOUND_FLOOR, CAP_BOUND_GAIN } from "./planSteps.js"
import type { ActionKind, CostModel, EpochState, Plan, PlanAction, Policy, SubAccountState, SwapCurve } from "./types.js"

/** Lowest health the borrow of a one-pass boost may leave before the bought collateral is supplied (else flash-looped). */
export const ONE_PASS_MIN_HEALTH = 1.02

/** `curve`: buying collateral with the loan token (amountIn in loan units). */
export type SwapBoostParameters = SwapPlanBase & {
  /** Allowed end interval (landing zone with the solver's margins). */
  low: number
  high: number
  /** Value this sub-account may still move in this rebalance (per-rebalance and epoch caps), loan units. */
  capLeft: number
}

/**
 * The largest borrow a swap boost of `state` can need, the span a buying curve ({@link SwapCurve}, `swapBuy`) is quoted
 * over: the borrow that takes the position to `lowestHealth` (the policy's minHealth, below every landing zone) at no
 * swap cost, `(C P lltv - lowestHealth D) / (lowestHealth - lltv)`, and never less than the collateral's value. A curve
 * quoted only up to the collateral's value caps every boost there, so a position far above its band (a debt-free
 * remnant after a liquidation, fresh collateral) could never be brought back to its target in one operation.
 *
 * @param state - Collateral (units), debt (loan units), oracle price and LLTV.
 * @param lowestHealth - Lowest health a boost may reach (> lltv), normally the policy's minHealth.
 * @returns Loan units (0 for an empty position).
 * @example swapBuySpan({ collateral: 10, debt: 0, price: 2000, lltv: 0.86 }, 1.15) // ~59,310: 2.97 x the collateral's 20,000
 */
export function swapBuySpan(state: Pick<SubAccountState, "collateral" | "debt" | "price" | "lltv">, lowestHealth: number): number {
  const value = state.collateral * state.price
  if (!(lowestHealth > state.lltv)) return value
  return Math.max(value, (value * state.lltv - lowestHealth * state.debt) / (lowestHealth - state.lltv))
}

export type SwapBoostCandidate = {
  plan: Plan
  /** Gas (loan units) + the swap's shortfall at oracle prices. */
  cost: number
  healthAfter: number
  /** Loan token borrowed and swapped, collateral expected from the swap and supplied (human units). */
  borrowed: number
  bought: number
  supplied: number
  shortfallBps: number
  shape: "one-pass" | "flash-looped"
}

/**
 * The largest `x` in [0, hi] with `x <= room(x)`, by bisection (`room(x) - x` falls as `x` grows); 0 when none.
 *
 * @returns Loan units.
 */
function largestWithin(room: (x: number) => number, hi: number): number {
  if (hi <= room(hi)) return hi
  let [lo, up] = [0, hi]
  if (!(room(0) >= 0)) return 0
  for (let i = 0; i < 100; i++) {
    const mid = 0.5 * (lo + up)
    if (mid <= room(mid)) lo = mid
    else up = mid
  }
  return lo
}

/**
 * Sizes a swap boost toward `goal`: the borrow `b` solving (C P + b (1 - s(b))(1 - m)) lltv = goal (D + b) with s(b)
 * from the curve and m = {@link swapPlanMargin} (what is supplied of the purchase; fixed point, a few rounds), capped as
 * the module requires, shaped one-pass or flash-looped.
 *
 * @returns The candidate plan (one sub-account, index 0) and its cost, or the reason there is none.
 */
export function planSwapBoost(params: SwapBoostParameters): SwapBoostCandidate | { reason: string } {
  const { state: s, policy, epoch, curve, costs, goal, low, capLeft } = params
  let high = params.high
  const bps = policy.maxSlippageBps ?? 0
  if (!policy.boostAllowed) return { reason: "the policy does not allow boosts" }
  if (bps <= 0) return { reason: "the policy does not allow swaps (maxSlippageBps 0)" }
  const { collateral: C, debt: D, price: P, lltv } = s
  // A flash-looped boost on a venue with a flash premium (Aave) supplies X and pays X (1 + p) back from the purchase;
  // the one-pass shape takes no flash loan. The borrow b decides the shape: flash-looped below ONE_PASS_MIN_HEALTH.
  const premiumBps = s.flashPremiumBps ?? 0
  // The venue's LTV room (Aave: refused "36" above it at the borrow). One pass borrows before it supplies: the room
  // before the plan. Flash-looped, the supply comes first and the callback's borrow has that room plus the supply's
  // value at the collateral's LTV (less 1 bps of the collateral for Aave's average-LTV floor): a borrow past the
  // pre-plan room is flash-looped even where health alone would allow one pass.
  const room0 = s.ltvBorrowable
  const ltv = s.collateralLtv ?? 0
  const flashed = (x: number) => healthOf({ collateral: C, debt: D + x, price: P, lltv }) < ONE_PASS_MIN_HEALTH || (room0 !== undefined && ltv > 0 && x > room0)
  const premiumOf = (x: number) => (flashed(x) ? premiumBps : 0)
  let shortfall = curveShortfallBps(curve, 0) / 10_000
  let b = 0
  for (let round = 0; round < 6; round++) {
    b = (C * P * lltv - goal * D) / (goal - lltv * (1 - shortfall) * (1 - swapPlanMargin(bps, shortfall * 10_000, premiumOf(Math.max(b, 0)))))
    shortfall = curveShortfallBps(curve, Math.max(b, 0)) / 10_000
  }
  if (!(b > 0)) return { reason: "already at or below the goal" }
  const usable = usableSlippageBps(policy, premiumBps)
  const bySlippage = maxSizeWithinSlippage(curve, usable)
  // The module counts the borrow and the supplied collateral's value (about b (1 - s)) against the caps.
  const byCaps = capLeft / (2 - shortfall)
  const byLiquidity = s.borrowable ?? Number.POSITIVE_INFINITY
  // Flash-looped (Aave): the supply X is flash-borrowed of the collateral reserve, at most what it can lend now.
  const byFlash =
    s.flashableCollateral !== undefined && flashed(b)
      ? (s.flashableCollateral * FLASHABLE_USE * P) / ((1 - shortfall) * (1 - swapPlanMargin(bps, shortfall * 10_000, premiumBps)))
      : Number.POSITIVE_INFINITY
  // The supply the borrow buys, b (1 - s(b)) (1 - m) / P, within the venue's supply-cap room (Aave `suppliable`: a
  // supply above it reverts SUPPLY_CAP_EXCEEDED, and the clamp's cut would leave bought collateral idle, IdleInflow),
  // either shape: b <= room x P / (1 - s(0)) keeps it there (the shortfall only grows with the size, the margin m >= 0).
  const bySupplyCap =
    s.suppliable === undefined ? Number.POSITIVE_INFINITY : (Math.max(0, s.suppliable) * FLASHABLE_USE * P) / Math.max(1e-12, 1 - curveShortfallBps(curve, 0) / 10_000)
  const landing = (x: number) => {
    const sh = curveShortfallBps(curve, x) / 10_000
    const got = (x / P) * (1 - sh)
    const put = got * (1 - swapPlanMargin(bps, sh * 10_000, premiumOf(x)))
    return { shortfall: sh, bought: got, supplied: put, premium: (put * premiumOf(x)) / 10_000, health: healthOf({ collateral: C + put, debt: D + x, price: P, lltv }) }
  }
  /** The LTV room at the borrow of a boost borrowing `x`: the pre-plan room, plus (flash-looped) its own supply at the LTV. */
  const roomAt = (x: number): number => {
    if (room0 === undefined) return Number.POSITIVE_INFINITY
    if (!flashed(x) || ltv <= 0) return room0
    const put = landing(x).supplied
    return room0 + ltv * put * P - 1e-4 * (C + put) * P
  }
  // The largest borrow within its own room at the borrow, x <= roomAt(x) (the room grows slower than the borrow:
  // ltv (1 - s)(1 - m) < 1), by bisection from the uncapped borrow.
  const byLtv = room0 === undefined ? Number.POSITIVE_INFINITY : b <= roomAt(b) ? Number.POSITIVE_INFINITY : largestWithin(roomAt, Math.max(b, 0))
  const limit = Math.min(bySlippage, byCaps, byLiquidity, byFlash, bySupplyCap, byLtv)
  const capped = b > limit
  if (capped) b = limit
  const ltvName = "the venue's LTV room (Aave availableBorrowsBase)"
  if (!(b > 0)) return { reason: bySlippage <= 0 ? `even the smallest quoted swap loses more than ${usable.toFixed(1)} bps` : limit === byFlash ? "no flash left under the reserve's flash liquidity" : limit === bySupplyCap ? "no supply left under the venue's supply-cap room" : `no borrow left under the caps or ${limit === byLtv ? ltvName : "the market's liquidity"}` }
  // Where the curve is steep (a thin pool after a shock) the fixed point above need not converge, and its last borrow
  // lands off the goal, at times just past the zone's edge: bisect the borrow for the goal (health falls as it grows).
  if (!capped && Math.abs(landing(b).health / goal - 1) > 1e-9) {
    let [lo, hi] = [0, limit]
    if (landing(hi).health > goal) b = hi
    else {
      for (let i = 0; i < 80; i++) {
        const mid = 0.5 * (lo + hi)
        if (landing(mid).health > goal) lo = mid
        else hi = mid
      }
      b = hi
    }
  }
  let landed = landing(b)
  // Cap-bound boost (module `_checkPostConditions`, rule book `isCapBoundMove`; issue 13, stop 65): above the band by
  // more than one rebalance's amount cap can move, a boost at the cap lands above the zone's top and none was planned
  // (no-idle after a +50 % rally: health 2.1 and up, for hours; helper hunt65). The module takes a boost from above the
  // band whose counted move is at least 99 % of `maxAmountPerRebalance` landing above the band, at least MIN_BAND_GAP
  // under where it was. Its counted move is its net move (the borrow and the supplied collateral's value) up to the
  // honest one for the health it reaches (`_caps`: a plan losing l = min(maxSlippageBps, maxLossBps) moves (2 - l) gap /
  // min(lltv, h - (1 - l) lltv), gap = |h D - C P lltv|, at most gap / lltv + 2 x its swaps' input): the borrow is sized
  // (bisection) for a counted move of CAP_BOUND_AIM of the cap, within every other limit, and kept when that move is
  // at least CAP_BOUND_FLOOR of it, the swap clause holds (twice the purchase, or the plain move to that health, at
  // least that), and the landing is CAP_BOUND_GAIN under the health before (the rest is the price move until
  // inclusion).
  const h0 = healthOf(s)
  const cap = policy.maxAmountPerRebalance
  // Only where the boost at the cap lands above the band itself (not merely above the margined aim `high`: there the
  // caller's plan at the read price reaches the zone, `solveAimed`; taken first, bk51's no-idle boost lost a poll).
  if (capped && limit === byCaps && landed.health > Math.max(high, policy.maxHealth) * (1 + 1e-9) && h0 > policy.maxHealth && capLeft >= CAP_BOUND_AIM * cap) {
    const l = Math.min(bps, policy.maxLossBps ?? 10_000) / 10_000
    // What the module counts of a boost borrowing x: min(its net move, the honest move for the health it reaches).
    const countedAt = (x: number): number => {
      const at = landing(x)
      const gap = Math.abs(at.health * D - C * P * lltv)
      const honest = Math.min(((2 - l) * gap) / Math.min(lltv, at.health - (1 - l) * lltv), gap / lltv + 2 * x)
      return Math.min(x + at.supplied * P, honest)
    }
    const most = Math.min(bySlippage, byLiquidity, byFlash, bySupplyCap, byLtv)
    const aim = CAP_BOUND_AIM * cap
    let [lo, hi] = [0, Math.min(most, cap)]
    if (countedAt(hi) >= aim) {
      for (let i = 0; i < 80; i++) {
        const mid = 0.5 * (lo + hi)
        if (countedAt(mid) < aim) lo = mid
        else hi = mid
      }
      // countedAt(hi) >= aim > CAP_BOUND_FLOOR x cap throughout the search. `_capBound`'s swap clause: the sale's honesty
      // (twice the swapped input) or the buffers' (a plain move to the health).
      const at = landing(hi)
      const honestSwap = 2 * hi >= CAP_BOUND_FLOOR * cap || Math.abs(at.health * D - C * P * lltv) / lltv >= CAP_BOUND_FLOOR * cap
      if (honestSwap && at.health <= h0 - CAP_BOUND_GAIN && at.health >= low) {
        b = hi
        landed = at
        high = Number.POSITIVE_INFINITY
      }
    }
  }
  const { bought, supplied, health: healthAfter } = landed
  shortfall = landed.shortfall
  // The goal is often the zone's edge itself (which the keeper's landing margin already keeps inside the module's
  // zone): a landing a rounding error past it is on it.
  if (healthAfter > high * (1 + 1e-9) || healthAfter < low * (1 - 1e-9)) {
    // maxSizeWithinSlippage stops at the curve's largest quote when every quote is within the bound: no size beyond it is trusted.
    const last = curve.points[curve.points.length - 1]
    const byCurve = last !== undefined && bySlippage === last.amountIn && last.shortfallBps <= usable
    const cap = limit === bySlippage ? (byCurve ? "the buying curve's largest quote" : "maxSlippageBps") : limit === byCaps ? "the amount caps" : limit === byFlash ? "the reserve's flash liquidity" : limit === bySupplyCap ? "the venue's supply-cap room" : limit === byLtv ? ltvName : "the market's liquidity"
    return { reason: `a swap boost ${capped ? `capped by ${cap} ` : ""}reaches health ${healthAfter.toFixed(3)}, outside [${low.toFixed(3)}, ${high.toFixed(3)}]` }
  }
  // The swap's shortfall plus, flash-looped on Aave, the premium on the supply (collateral units at the oracle price).
  const loss = b * shortfall + landed.premium * P
  const equity = s.equity ?? C * P - D // the adapter's equity (the module's epoch budget base), else the fields'
  const epochRoom = ((policy.maxEpochLossBps ?? 10_000) / 10_000 - (epoch.lossPpbInEpoch ?? 0) / 1e9) * equity
  if (!(loss <= epochRoom * 0.999)) return { reason: `the swap's loss ${loss.toFixed(2)} exceeds the epoch loss budget left (${epochRoom.toFixed(2)})` }
  const onePass = !flashed(b)
  const action = (kind: ActionKind, amount: number, asset: string, decimals: number, extra: Partial<PlanAction> = {}): PlanAction => ({
    kind,
    subAccount: 0,
    pool: undefined,
    asset,
    amount,
    amountBase: toBaseUnits(amount, decimals),
    ...extra,
  })
  const borrow = action("Borrow", b, s.loanAsset, s.loanDecimals)
  const buy = action("BuyCollateral", b, s.loanAsset, s.loanDecimals, { route: curve.route, expectedOut: bought })
  const actions = onePass
    ? [borrow, buy, action("SupplyCollateral", supplied, s.collateralAsset, s.collateralDecimals)]
    : [action("SupplyCollateralWithCallback", supplied, s.collateralAsset, s.collateralDecimals), borrow, buy, action("EndCallback", 0, s.loanAsset, s.loanDecimals)]
  const gas = costs.baseGas + actions.reduce((g, a) => g + costs.gasPerAction[a.kind], 0)
  return {
    plan: { loanAsset: s.loanAsset, subAccounts: [s.id], gas, actions },
    cost: gas * costs.gasPrice + loss,
    healthAfter,
    borrowed: b,
    bought,
    supplied,
    shortfallBps: shortfall * 10_000,
    shape: onePass ? "one-pass" : "flash-looped",
  }
}
