/**
 * Swap deleverage: sell collateral for the loan token inside the venue's repay callback
 * (`RepayWithCallback { WithdrawCollateral, SellCollateral... } EndCallback`, one UserOperation), for the part of a
 * rescue the Safe's own funds do not cover. The callback's repayment also carries the loan token the plan already has
 * in hand for the same sub-account (idle balance, pool withdrawals, borrows on donors), so a Safe with some idle funds
 * sells only the remainder, and nothing a swap delivers stays idle beyond its drift margin.
 *
 * Cost model: each swap's shortfall against its oracle value (fee + price impact) comes from a {@link SwapCurve} quoted
 * on the pool's real liquidity (QuoterV2 by eth_call, `quotePriceImpact`), interpolated between the quoted sizes; gas
 * from the cost model's per-action figures. Every sale is capped where its curve's shortfall reaches 90% of the
 * policy's `maxSlippageBps` (the module's on-chain minimum, kept 10% back for the block or two until inclusion), so the
 * solver never proposes a swap the module would refuse. A sale larger than one pool takes within that bound is split
 * across the sub-account's routes (one pool each: the adapter's other fee tiers), each route taking the next slice
 * where its marginal cost is lowest. Amounts here are floats in human units (the solver's convention); the keeper
 * re-quotes every chosen size exactly and sends base-unit integers.
 */
import { toBaseUnits } from "./state.js"
import type { CostModel, EpochState, Plan, PlanAction, Policy, SubAccountState, SwapCurve } from "./types.js"

/**
 * Shares of the position's collateral (for a purchase, of its oracle value in the loan token) a swap cost curve is
 * quoted at: by the keeper on QuoterV2, by the backtester on its liquidity model.
 */
export const SWAP_CURVE_FRACTIONS = [0.005, 0.05, 0.2, 0.4, 0.7, 1] as const

/** Share of `maxSlippageBps` the solver lets a swap's quoted shortfall use (the rest absorbs drift until inclusion). */
export const SWAP_SLIPPAGE_USE = 0.9
/** The swap's expected output is repaid less this fraction, so a pool that moves slightly before inclusion still pays. */
export const SWAP_REPAY_MARGIN = 2e-4

/**
 * Where between a swap's on-chain minimum output m and its expected output less {@link swapRepayMargin},
 * E' = E (1 - r), the solver plans the amount X the venue collects from it (a swap deleverage's repayment, a swap
 * boost's supply): X = m + b (E' - m), with b this bias (0 at the minimum, 1 at E'). See {@link swapPlanTake}.
 *
 * Why X must sit strictly between them: X is fixed when the keeper quotes, but the module computes m from the oracle
 * price at inclusion (a sale whose minimum exceeds the repayment is `SaleExceedsRepayment`, a purchase's
 * `PurchaseExceedsSupply`, a swap output left idle `IdleInflow`), and the venue pulls X after the swap at the pool price
 * of inclusion (`ActionFailed(0, "transferFrom reverted")` when the swap paid less). Between quote and inclusion the
 * operation therefore survives
 * - a pool move against the swap (a fall for a sale) of up to (E - X) / E = r + (1 - b)(E' - m) / E,
 * - an oracle move the other way (a rise for a sale) of up to (X - m) / m = b (E' - m) / m,
 * where E' - m, the slack, is about `maxSlippageBps` less the swap's fee and impact less r. Measured through
 * `EntryPoint.handleOps` on real Uniswap v3 + Morpho Blue (modules/test/integration/SwapInclusionWindow.t.sol), a sale
 * with 14.5 bp of fee and impact: 28 bp of pool drop and 6.6 bp of oracle rise under a 50 bp bound, 68 bp and 16.8 bp
 * under 100 bp.
 *
 * Why b = 0.2: a swap deleverage is a rescue, planned while the price falls, so the move that threatens it is the
 * pool falling further before inclusion (and the oracle, which lags the pool, rising back is the rarer case, in which
 * the rescue is less needed); b near 0 gives the pool almost the whole slack, but b = 0 would refuse the rescue at any
 * oracle tick up. Measured on the backtester's no-idle trader (900 paths, the backtester executes one minute after
 * deciding): with the take at the expected output less 10 % of the bound (main's rule before, about b = 0.9), threshold
 * was liquidated 267 times (crash30 75, depeg 85: its rescues reverted at every attempt through a falling market); at
 * b = 0.5 still 25 times on crash30, at 0.2 never there. A boost (a purchase) is the mirror case: it fails on a pool
 * rise of (1 - b) of the slack or an oracle fall of b of it, and a failed boost costs nothing but gas.
 *
 * A move larger than these between quote and inclusion (a devnet crash step of about 4 % does it) reverts the operation
 * without moving anything; the keeper quotes again in the block it sees the revert (test/swap.e2e.test.ts,
 * test/swapInclusion.e2e.test.ts).
 */
export const SWAP_PLAN_TAKE_BIAS = 0.2

/**
 * The take rule, the one place it is computed (the solver's {@link swapPlanMargin} in floats, the keeper's
 * `settleSwapAmounts` in base units): X = m + {@link SWAP_PLAN_TAKE_BIAS} (top - m), or `top` when `top <= minimum`.
 *
 * @param minimum - The swap's on-chain minimum output m (oracle value less maxSlippageBps), in the output token.
 * @param top - Its expected output less {@link swapRepayMargin}, E', same unit.
 * @returns X in the same unit (bigint: base units, rounded down; number: exact).
 * @example swapPlanTake(9_950n, 9_978n) // 9_955n: 5 units above the minimum, 23 below the top
 */
export function swapPlanTake(minimum: bigint, top: bigint): bigint
export function swapPlanTake(minimum: number, top: number): number
export function swapPlanTake(minimum: bigint | number, top: bigint | number): bigint | number {
  if (typeof minimum === "bigint" && typeof top === "bigint")
    return top <= minimum ? top : minimum + ((top - minimum) * BigInt(Math.round(SWAP_PLAN_TAKE_BIAS * 1e6))) / 1_000_000n
  const [m, t] = [Number(minimum), Number(top)]
  return t <= m ? t : m + SWAP_PLAN_TAKE_BIAS * (t - m)
}

/**
 * The margin the solver plans a swap's repayment (or supply) with, as a fraction of the swap's expected output E:
 * 1 - X / E with X = {@link swapPlanTake}(m, E (1 - r)), per unit of oracle value m = 1 - b, E = 1 - s (b the bound,
 * s the swap's shortfall, r = {@link swapRepayMargin}). The operation then lands after a pool move against the swap of
 * up to r + (1 - k)(E' - m) / E and an oracle move in its favour of up to k (E' - m) / m (k = SWAP_PLAN_TAKE_BIAS; see
 * there). A swap sized within {@link SWAP_SLIPPAGE_USE} of the bound (s <= 0.9 b, r <= 0.05 b) is never planned below
 * its on-chain minimum. The keeper's settlement applies the same rule to the exact quotes (`settleSwapAmounts`).
 *
 * On a venue whose callbacks are flash-funded at a premium (Aave v3: `flashPremiumBps`, the pool's
 * `FLASHLOAN_PREMIUM_TOTAL`), the swap's output pays back X plus the premium on X, so the top is E' / (1 + p) (p the
 * premium as a fraction): X = m + b (E' / (1 + p) - m), and the window between quote and inclusion narrows by p (a sale
 * needs a shortfall below about maxSlippageBps - p - r for any X to exist; {@link usableSlippageBps} keeps it there).
 *
 * @param maxSlippageBps - The policy's bound, bps.
 * @param shortfallBps - The swap's expected shortfall against its oracle value (fee + impact), bps; default 0.
 * @param premiumBps - The venue's flash premium on what the callback's opener moves, bps; default 0 (Morpho Blue).
 * @returns A fraction of the swap's expected output, in [0, 1).
 * @example swapPlanMargin(100, 10) // ~0.0072: a 10 bp sale under a 1 % bound repays 72 bp less than it should return
 * @example swapPlanMargin(100, 10, 5) // ~0.0081: on Aave the repayment also leaves room for the 5 bp premium on it
 */
export function swapPlanMargin(maxSlippageBps: number, shortfallBps = 0, premiumBps = 0): number {
  const expected = 1 - shortfallBps / 10_000
  const take = swapPlanTake(1 - maxSlippageBps / 10_000, (expected * (1 - swapRepayMargin(maxSlippageBps))) / (1 + premiumBps / 10_000))
  return Math.max(0, 1 - take / expected)
}

/**
 * The repay (or supply) margin for a policy's `maxSlippageBps`: {@link SWAP_REPAY_MARGIN}, but never more than 5% of
 * the slippage bound. The module refuses a plan whose swap output at its on-chain minimum (oracle value less
 * maxSlippageBps) exceeds what the plan repays or supplies with it (`IdleInflow`); a swap quoted within
 * {@link SWAP_SLIPPAGE_USE} of the bound and settled less this margin stays above that minimum for any bound.
 *
 * @param maxSlippageBps - The policy's bound, bps.
 * @returns A fraction of the swap's output.
 */
export function swapRepayMargin(maxSlippageBps: number): number {
  return Math.min(SWAP_REPAY_MARGIN, (0.05 * maxSlippageBps) / 10_000)
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

/** A swap's fill at inclusion: its output (human units of the output token) and the fee and impact paid (loan units). */
export type SwapFill = { out: number; fee: number; impact: number }

/**
 * A plan's swap actions as they fill at inclusion (the backtester's fill of a plan it executes, the band rule on paper's
 * fill of a plan it lands; issue 13, helper y52): each `SellCollateral` / `BuyCollateral` gets `expectedOut` replaced by
 * `fill`'s output, and is refused as the router refuses it (`amountOutMinimum`) when that output is below its on-chain
 * minimum, the oracle value at inclusion (`sub.price`) less `maxSlippageBps`. The rest of the window
 * ({@link SWAP_PLAN_TAKE_BIAS}) is the module's rule book, run by the caller on the returned plan
 * (`checkPlanAgainstPolicy`, pre-state at the inclusion prices): a sale whose minimum at the inclusion oracle exceeds its
 * repayment is `SaleExceedsRepayment`, a fill short of the callback's fixed repayment (or supply) is `ActionFailed`
 * (the venue's pull reverts); a fill above it leaves the excess idle (`applyPlan`).
 *
 * @param plan - The plan as decided (its swaps' `amount` in the input token, human units; `route`; quoted `expectedOut`).
 * @param subs - The sub-accounts at inclusion (oracle `price`, loan units per collateral unit), found by the plan's ids.
 * @param maxSlippageBps - Each sub-account's bound (bps), by id.
 * @param fill - The fill of one swap action on its sub-account at inclusion; undefined keeps the action's quote.
 * @returns The plan with the filled outputs and the fee and impact paid (loan units, summed), or the reason it reverts.
 */
/**
 * A swap's on-chain minimum output (the module's `_swapMinOut` in floats): its oracle value less `maxSlippageBps`, in
 * the output token (a sale's in the loan token, a purchase's in the collateral token).
 *
 * @param action - A `SellCollateral` (amount in collateral) or `BuyCollateral` (amount in the loan token).
 * @param price - Oracle price, loan units per collateral unit.
 * @param maxSlippageBps - The policy's bound, bps.
 * @returns Output-token units.
 */
export function swapMinOut(action: Pick<PlanAction, "kind" | "amount">, price: number, maxSlippageBps: number): number {
  return (action.kind === "SellCollateral" ? action.amount * price : action.amount / price) * (1 - maxSlippageBps / 10_000)
}

/**
 * `swap.repayment: "sale-minimum"` (LeverageModule's sale-minimum repayment mode, as the keeper sends it with the same
 * option; docs/sale-minimum-repayment.md). Each `RepayWithCallback` of a venue without a flash premium (Morpho
 * Blue; an Aave block keeps the fixed take, as the keeper sends it) whose block sells collateral repays, instead of the fixed amount the keeper quoted (the sales'
 * take, `swapPlanTake`, plus what the plan brings to it), what the plan brings to it besides its sales (its
 * `PlanAction.brought`, which the solver and the stop exit record under the sale-minimum repayment: idle, pool withdrawals, donors'
 * borrows; else the pool withdrawals for the same sub-account) plus the block's sales at their on-chain minimum output
 * at the inclusion oracle (collateral sold x oracle price x (1 - maxSlippageBps)), rounded up in base units: the amount the module would compute at
 * inclusion. A sale then lands whatever the price does between quote and inclusion as long as the pool pays its
 * on-chain minimum (else `SlippageExceeded`, as today) and the repayment stays within the debt, where a fixed repayment
 * lands only inside a window about `maxSlippageBps` wide (an oracle fall past it: the callback is short,
 * `ActionFailed`; a rise past it: `SaleExceedsRepayment`). The sales' output above their minimum stays idle in the Safe
 * (the module's one slack).
 *
 * @param plan - The plan as decided (floats and base units).
 * @param subs - Sub-accounts at inclusion (their `price` is the oracle's).
 * @param maxSlippageBps - Each sub-account's swap bound, bps.
 * @returns The plan with each such repayment replaced (others unchanged).
 */
export function repayAtSaleMinimum(plan: Plan, subs: readonly SubAccountState[], maxSlippageBps: (id: string) => number): Plan {
  if (!plan.actions.some((a) => a.kind === "SellCollateral")) return plan
  const actions = plan.actions.map((a, i) => {
    if (a.kind !== "RepayWithCallback") return a
    const id = plan.subAccounts[a.subAccount] as string
    const s = subs.find((x) => x.id === id)
    // A flash-funded callback (Aave) keeps the fixed take, as the keeper sends it (the module adds the minimum whole, the
    // flash premium would come out of the plan's own funds).
    if (s === undefined || !repaysAtSaleMinimum(true, s)) return a
    let minimum = 0
    for (let j = i + 1; j < plan.actions.length && plan.actions[j]?.kind !== "EndCallback"; j++) {
      const b = plan.actions[j] as PlanAction
      if (b.kind === "SellCollateral" && b.subAccount === a.subAccount) minimum += swapMinOut(b, s.price, maxSlippageBps(id))
    }
    if (!(minimum > 0)) return a
    // What the plan brings besides the sales: as the solver recorded it, else the pool withdrawals for this sub-account.
    const pools = plan.actions.reduce((sum, b) => (b.kind === "WithdrawFromPool" && b.subAccount === a.subAccount && b.asset === s.loanAsset ? sum + b.amount : sum), 0)
    const repaid = (a.brought ?? pools) + minimum
    const amountBase = BigInt(Math.ceil(repaid * (1 + 1e-9) * 10 ** s.loanDecimals))
    return { ...a, amount: Number(amountBase) / 10 ** s.loanDecimals, amountBase }
  })
  return { ...plan, actions }
}

export function fillSwapActions(
  plan: Plan,
  subs: readonly SubAccountState[],
  maxSlippageBps: (id: string) => number,
  fill: (action: PlanAction, sub: SubAccountState) => SwapFill | undefined,
): { plan: Plan; fee: number; impact: number } | { reason: string } {
  let fee = 0
  let impact = 0
  const actions: PlanAction[] = []
  for (const [index, a] of plan.actions.entries()) {
    const id = plan.subAccounts[a.subAccount]
    const s = subs.find((x) => x.id === id)
    if ((a.kind !== "SellCollateral" && a.kind !== "BuyCollateral") || s === undefined || id === undefined) {
      actions.push(a)
      continue
    }
    const q = fill(a, s)
    if (q === undefined) {
      actions.push(a)
      continue
    }
    const minOut = swapMinOut(a, s.price, maxSlippageBps(id))
    if (q.out < minOut) return { reason: `action ${index} (${a.kind}) pays ${q.out}, below its minimum ${minOut} (SlippageExceeded)` }
    fee += q.fee
    impact += q.impact
    actions.push({ ...a, expectedOut: q.out })
  }
  return { plan: { ...plan, actions }, fee, impact }
}

/**
 * One swap action's fill read off a quoted cost curve (the paper's: the curves of the solver input read at inclusion):
 * the output is the oracle value at `price` less the curve's shortfall at the action's size ({@link curveShortfallBps});
 * the curve does not split fee from impact, so the whole shortfall is reported as impact.
 *
 * @param curve - The route's curve quoted at inclusion (shortfall against the oracle value at `price`).
 * @param action - A `SellCollateral` (amount in collateral) or `BuyCollateral` (amount in the loan token).
 * @param price - Oracle price at inclusion, loan units per collateral unit.
 * @returns The fill (output in the output token; impact in loan units).
 */
export function curveSwapFill(curve: SwapCurve, action: Pick<PlanAction, "kind" | "amount">, price: number): SwapFill {
  const sell = action.kind === "SellCollateral"
  const value = sell ? action.amount * price : action.amount / price
  const out = value * (1 - curveShortfallBps(curve, action.amount) / 10_000)
  return { out, fee: 0, impact: sell ? value - out : action.amount - out * price }
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

/** What both swap planners (the solver's swap deleverage step, {@link planSwapBoost}) take about one sub-account. */
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
}

/**
 * The largest shortfall (bps) a swap of a sub-account with this policy may be sized to: 90% of maxSlippageBps, within
 * maxLossBps. With a flash premium (`premiumBps`, Aave's callbacks) both bounds shrink by it: the swap's output must
 * return the opener's amount plus the premium while the module's minimum stays at the oracle value less
 * maxSlippageBps, and the premium is lost with the shortfall (maxLossBps counts both).
 *
 * @param premiumBps - The venue's flash premium, bps; default 0.
 * @returns bps (0 or less: no swap fits).
 */
export function usableSlippageBps(policy: Pick<Policy, "maxSlippageBps" | "maxLossBps">, premiumBps = 0): number {
  return Math.min(((policy.maxSlippageBps ?? 0) - premiumBps) * SWAP_SLIPPAGE_USE, (policy.maxLossBps - premiumBps) * 0.999)
}

/**
 * How a sale of `total` collateral is split across independent routes (distinct pools): per route its input and the
 * shortfall it pays there (bps), and the sale's whole shortfall in collateral units (Σ input x shortfall).
 */
export type SaleSplit = { parts: number[]; shortfallBps: number[]; loss: number }

/**
 * Splits a sale of `total` across `curves` (each its own pool), none beyond its `caps` entry: the cheapest single route,
 * or, when it pays less in fee and impact by more than `extraRouteCost` (collateral units per additional route: its
 * gas), slices of `total / 64` each given to the route whose marginal cost (d(x s(x))/dx on its curve) is lowest.
 *
 * @returns The split, or undefined when the routes' caps together are below `total`.
 */
export function splitSale(curves: readonly SwapCurve[], caps: readonly number[], total: number, extraRouteCost = 0): SaleSplit | undefined {
  const cost = (k: number, x: number) => (x > 0 ? (x * curveShortfallBps(curves[k] as SwapCurve, x)) / 10_000 : 0)
  const slack = total * 1e-9
  let best: SaleSplit | undefined
  curves.forEach((curve, k) => {
    if ((caps[k] ?? 0) + slack < total) return
    const loss = cost(k, total)
    if (best === undefined || loss < best.loss) {
      const parts = curves.map((_, j) => (j === k ? total : 0))
      best = { parts, shortfallBps: parts.map((x, j) => (x > 0 ? curveShortfallBps(curves[j] as SwapCurve, x) : 0)), loss }
    }
  })
  if (curves.length < 2 && best !== undefined) return best
  const parts = curves.map(() => 0)
  let left = total
  const step = total / 64
  while (left > slack) {
    let pick = -1
    let pickRate = Number.POSITIVE_INFINITY
    let pickSize = 0
    for (let k = 0; k < curves.length; k++) {
      const x = parts[k] as number
      const size = Math.min(step, left, (caps[k] ?? 0) - x)
      if (!(size > slack)) continue
      const rate = (cost(k, x + size) - cost(k, x)) / size
      if (rate < pickRate) [pick, pickRate, pickSize] = [k, rate, size]
    }
    if (pick < 0) break
    parts[pick] = (parts[pick] as number) + pickSize
    left -= pickSize
  }
  if (left > slack) return best
  const used = parts.filter((x) => x > 0).length
  const loss = parts.reduce((sum, x, k) => sum + cost(k, x), 0)
  if (best !== undefined && best.loss <= loss + (used - 1) * extraRouteCost) return best
  return { parts, shortfallBps: parts.map((x, k) => (x > 0 ? curveShortfallBps(curves[k] as SwapCurve, x) : 0)), loss }
}

export type SizeSwapDeleverageParameters = {
  /** The position as the plan leaves it so far (human units; `debt` before the repayment below). */
  collateral: number
  debt: number
  price: number
  lltv: number
  collateralDecimals: number
  /** Loan token already in the Safe for this repayment (idle, withdrawn from pools, borrowed on donors): repaid in the same callback. */
  prefunded: number
  /** Selling routes, one pool each (`swap` first, then `swapRoutes`). */
  curves: readonly SwapCurve[]
  /** Health to aim for. */
  goal: number
  /** Largest shortfall a sale may be sized to, bps ({@link usableSlippageBps}). */
  usableBps: number
  /** `maxSlippageBps`: the module's minimum output is the sale's oracle value less this. */
  maxSlippageBps: number
  /** Collateral the venue lets go now (undefined: no limit). */
  withdrawable?: number | undefined
  /** Debt the venue takes as repayment now (undefined: no limit). */
  repayable?: number | undefined
  /** Value left under the amount caps, loan units (the module counts the repayment and the withdrawn collateral's value). */
  capLeft: number
  /** Cost of one more route (gas of a SellCollateral), loan units. */
  extraRouteCost?: number | undefined
  /**
   * The venue's flash premium on the callback's repayment, bps (Aave v3's `FLASHLOAN_PREMIUM_TOTAL`; default 0): the
   * sales return the repayment plus the premium on it, and `prefunded` pays its own share of the premium.
   */
  premiumBps?: number | undefined
  /**
   * What the venue can flash of the debt reserve now, loan units (Aave v3: `SubAccountState.flashable`, the reserve's
   * free liquidity, 0 when it is paused, inactive or has flash loans disabled); undefined: no limit (Morpho Blue). The
   * callback's repayment is the flash: it is sized at most to this (else `FlashLiquidityShort`).
   */
  flashable?: number | undefined
  /**
   * The module's sale-minimum repayment mode (`SolverInput.saleMinimumRepayment`, docs/sale-minimum-repayment.md): the
   * callback repays the sales at their on-chain minimum (oracle value less `maxSlippageBps`), so the sale is sized on
   * that repayment instead of {@link swapPlanMargin}'s take. Default false.
   */
  repayAtMinimum?: boolean | undefined
  /**
   * Size the amount caps on the repayment the module counts, prefunded + c P (1 - s) (1 - m), instead of (the default)
   * on the sale's expected output c P (1 - s). The default over-counts the repayment by the take m (about
   * `maxSlippageBps` under the sale-minimum repayment), and that share of a capped sale's move is its headroom for the
   * price rising before inclusion (the module's `AmountCapExceeded` values the collateral at the inclusion oracle).
   * A cap-bound rescue sets it (planSteps `CAP_BOUND_AIM` keeps its own headroom both ways): with the over-count its
   * move came out at about 99.04 % of the cap at the default 100 bps, under the solver's cap-bound floor of 99.1 %, and
   * no cap-bound sale was planned under the sale-minimum repayment (issue 13, hunt63 class E). Default false.
   */
  capsOnRepayment?: boolean | undefined
}

/** Share of `flashable` the solver sizes a flash to: its float amounts come back a few base units high at worst. */
export const FLASHABLE_USE = 1 - 1e-9

/** One sale of a swap deleverage: its route, input (human and base units), expected output and shortfall. */
export type SwapSale = { route: string; amountIn: number; amountBase: bigint; expectedOut: number; shortfallBps: number }

export type SwapDeleverageSizing = {
  /** The sales, one per route used; their inputs add up to `sold` (and, in base units, to `soldBase`). */
  sales: SwapSale[]
  sold: number
  soldBase: bigint
  /**
   * The callback's repayment: `prefunded` plus the sales' expected output less {@link swapPlanMargin} (at their
   * shortfall and the premium), with a premium each less its share of it: (prefunded + takes) / (1 + p) in all.
   */
  repaid: number
  /** The flash premium on `repaid` (loan units; 0 without one): lost, paid to the venue's suppliers with the repayment. */
  premium: number
  /**
   * The repayment's part the sales do not pay: `prefunded` less the flash premium's share on it, prefunded / (1 + p)
   * (what `repayAtMinimum` records as `PlanAction.brought`).
   */
  brought: number
  /** Health after the repayment and the withdrawal. */
  healthAfter: number
  /** Fee and impact at oracle prices plus the premium (loan units), and the fee and impact's share of the sale's value (bps). */
  loss: number
  shortfallBps: number
  /** What stopped the sale short of the goal: "maxSlippageBps", "the venue's withdrawable collateral", ... */
  cappedBy: string | undefined
}

/**
 * Sizes the sale of a swap deleverage toward `goal`, given `prefunded` loan token repaid alongside: the collateral `c`
 * solving (C - c) P lltv = goal (D - prefunded - c P (1 - s(c)) (1 - m)), with s(c) the average shortfall of the
 * cheapest split of `c` over the routes ({@link splitSale}, fixed point over a few rounds) and m =
 * {@link swapPlanMargin}(maxSlippageBps, s); capped by the routes' slippage bounds, the collateral, the venue's withdrawable collateral
 * and repayable debt, what the venue can flash of the debt reserve (`flashable`, Aave), the amount caps and the debt itself (the module counts a repayment only up to the debt, so a sale
 * whose minimum output exceeds what is left to repay would leave swap output idle).
 *
 * @returns The sizing, or the reason there is no sale.
 */
export function sizeSwapDeleverage(params: SizeSwapDeleverageParameters): SwapDeleverageSizing | { reason: string } {
  const { collateral: C, debt: D, price: P, lltv, curves, goal, usableBps } = params
  const premiumBps = params.premiumBps ?? 0
  // With a premium the prefunded loan token pays its own share of it: it repays prefunded / (1 + p).
  const x = params.prefunded / (1 + premiumBps / 10_000)
  if (curves.length === 0) return { reason: "no swap route quoted" }
  if (!(D > x)) return { reason: "nothing left to repay" }
  // What-if (`repayAtMinimum`): the repayment per unit of expected output is the minimum's share of it, 1e-9 over it so
  // the repayment's base units (rounded down) are not a unit under the module's minimum (`SaleExceedsRepayment`).
  const margin = (shortfall: number) =>
    params.repayAtMinimum === true
      ? Math.max(0, 1 - ((1 - params.maxSlippageBps / 10_000) * (1 + 1e-9)) / ((1 - shortfall) * (1 + premiumBps / 10_000)))
      : swapPlanMargin(params.maxSlippageBps, shortfall * 10_000, premiumBps)
  const caps = curves.map((curve) => maxSizeWithinSlippage(curve, usableBps))
  const extra = (params.extraRouteCost ?? 0) / P
  const average = (split: SaleSplit | undefined, c: number) => (split !== undefined && c > 0 ? split.loss / c : Math.min(...curves.map((k) => curveShortfallBps(k, 0) / 10_000)))
  let c = 0
  let split: SaleSplit | undefined
  let s = average(undefined, 0)
  for (let round = 0; round < 8; round++) {
    c = (D - x - (C * P * lltv) / goal) / (P * ((1 - s) * (1 - margin(s)) - lltv / goal))
    if (!(c > 0)) return { reason: "already at or above the goal" }
    split = splitSale(curves, caps, c, extra) ?? splitSale(curves, caps, caps.reduce((a, b) => a + b, 0), extra)
    s = average(split, Math.min(c, caps.reduce((a, b) => a + b, 0)))
  }
  const limits: [string, number][] = [
    ["maxSlippageBps", caps.reduce((a, b) => a + b, 0)],
    ["the collateral", C * 0.999],
    ["the venue's withdrawable collateral", params.withdrawable ?? Number.POSITIVE_INFINITY],
    // The module counts the repayment (prefunded + c P (1 - s) (1 - m)) and the withdrawn collateral (c P); by default
    // the repayment is counted at the sale's expected output c P (1 - s) ({@link SizeSwapDeleverageParameters.capsOnRepayment}).
    ["the amount caps", ((params.capLeft - x) * (1 - 1e-9)) / (P * (params.capsOnRepayment === true ? 1 + (1 - s) * (1 - margin(s)) : 2 - s))],
    ["the venue's repayable debt", ((params.repayable ?? Number.POSITIVE_INFINITY) - x) / (P * (1 - s) * (1 - margin(s)))],
    // The repayment is flash-borrowed (Aave: the router's flashLoanSimple): no more than the reserve can lend.
    ["the reserve's flash liquidity", ((params.flashable ?? Number.POSITIVE_INFINITY) * FLASHABLE_USE - x) / (P * (1 - s) * (1 - margin(s)))],
    // Even at its on-chain minimum the sale's output is spent on the debt.
    ["the debt", ((D - x) * (1 - 1e-6)) / (P * (1 - params.maxSlippageBps / 10_000))],
  ]
  let cappedBy: string | undefined
  for (const [name, limit] of limits) {
    if (c > limit) {
      c = limit
      cappedBy = name
    }
  }
  if (!(c > 0)) return { reason: cappedBy === "maxSlippageBps" ? `even the smallest quoted swap loses more than ${usableBps.toFixed(1)} bps` : `no sale left under ${cappedBy}` }
  if (cappedBy !== undefined) split = splitSale(curves, caps, c, extra)
  const flashCap = (params.flashable ?? Number.POSITIVE_INFINITY) * FLASHABLE_USE
  let sales: SwapSale[] = []
  let sold = 0
  let out = 0
  let loss = 0
  let repaid = 0
  // The flash cap above uses the fixed point's shortfall; a smaller sale's own split may lose less and repay a little
  // more: shrink the sale until the repayment (the flash) is within the reserve's liquidity.
  for (let round = 0; ; round++) {
    if (split === undefined) return { reason: "no split of the sale fits the routes' slippage bounds" }
    const parts = split
    sales = []
    parts.parts.forEach((amountIn, k) => {
      const amountBase = toBaseUnits(amountIn, params.collateralDecimals)
      if (amountBase === 0n) return
      const shortfallBps = parts.shortfallBps[k] as number
      sales.push({ route: (curves[k] as SwapCurve).route, amountIn, amountBase, expectedOut: amountIn * P * (1 - shortfallBps / 10_000), shortfallBps })
    })
    if (sales.length === 0) return { reason: "the sale rounds to zero base units" }
    sold = sales.reduce((a, b) => a + b.amountIn, 0)
    out = sales.reduce((a, b) => a + b.expectedOut, 0)
    loss = sold * P - out
    // The take is linear in each sale's output, so the sales' average shortfall gives their summed take exactly.
    repaid = Math.min(x + out * (1 - margin(loss / (sold * P))), D)
    if (repaid <= flashCap || round >= 8) break
    c = sold * ((flashCap - x) / (repaid - x)) * (1 - 1e-9)
    cappedBy = "the reserve's flash liquidity"
    if (!(c > 0)) return { reason: "no sale left under the reserve's flash liquidity" }
    split = splitSale(curves, caps, c, extra)
  }
  if (repaid > flashCap) return { reason: "no sale fits the reserve's flash liquidity" }
  const premium = (repaid * premiumBps) / 10_000
  const after = D - repaid
  return {
    sales,
    sold,
    soldBase: sales.reduce((a, b) => a + b.amountBase, 0n),
    repaid,
    premium,
    brought: x,
    healthAfter: after > 0 ? ((C - sold) * P * lltv) / after : Number.POSITIVE_INFINITY,
    loss: loss + premium,
    shortfallBps: (loss / (sold * P)) * 10_000,
    cappedBy,
  }
}

/**
 * Whether a sub-account's sale blocks repay at the sales' on-chain minimum (the module's sale-minimum repayment mode,
 * docs/sale-minimum-repayment.md): the mode asked for (`SolverInput.saleMinimumRepayment`, the keeper's and the
 * backtester's `swap.repayment`) on a venue without a flash premium (Morpho Blue); a flash-funded venue (Aave v3,
 * `flashPremiumBps` > 0) keeps the fixed take, as the keeper sends it. The one test every reader of the mode shares.
 *
 * @param mode - Whether the mode is asked for.
 * @param s - The sub-account's state (its `flashPremiumBps`, bps; undefined: 0).
 */
export function repaysAtSaleMinimum(mode: boolean | undefined, s: { flashPremiumBps?: number | undefined }): boolean {
  return mode === true && !((s.flashPremiumBps ?? 0) > 0)
}
