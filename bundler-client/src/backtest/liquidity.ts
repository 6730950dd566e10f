/**
 * Swap execution against a concentrated-liquidity pool (Uniswap v3 math within one range of constant liquidity `L`,
 * token0 = collateral, token1 = loan token, price P = loan per collateral):
 * selling `a` collateral moves sqrt(P) to `L sqrt(P) / (L + a' sqrt(P))` and pays `L (sqrt(P) - sqrt(P'))`; buying with
 * `b` loan tokens moves sqrt(P) to `sqrt(P) + b' / L` and pays `L (1/sqrt(P) - 1/sqrt(P'))`, where `a' = a (1 - fee)`
 * (the fee is taken from the input, as in `SwapMath.computeSwapStep`). Floats: these are risk and cost estimates.
 */

import { SWAP_CURVE_FRACTIONS } from "../solver/swapDeleverage.js"
import type { SwapCurve } from "../solver/types.js"

/** A pool as the backtester sees it. */
export type SwapPool = {
  /** Liquidity L of the active range (sqrt-price units). */
  liquidity: number
  /** Pool fee in basis points (5 = the 0.05 % tier). */
  feeBps: number
}

/** Fees and price impact of one swap, in loan units. */
export type SwapQuote = {
  /** Output amount (loan tokens for a sale, collateral for a purchase). */
  out: number
  /** Pool fee paid, valued at the pre-trade price (loan units). */
  fee: number
  /** Price impact: value at the pre-trade price of what the input would buy without impact, minus what it bought (loan units). */
  impact: number
}

/**
 * Liquidity L whose sale down to `(1 - 2 %)` of `price` takes `depth2Percent` loan tokens: `depth / (sqrt(P) (1 - sqrt(0.98)))`.
 *
 * @param depth2Percent - Loan tokens a seller receives before the price falls 2 % (the "-2 % depth").
 * @param price - Pool price (loan per collateral).
 * @returns L.
 * @example liquidityForDepth(10_000_000, 3000) // ~1.8e7
 */
export function liquidityForDepth(depth2Percent: number, price: number): number {
  return depth2Percent / (Math.sqrt(price) * (1 - Math.sqrt(0.98)))
}

/**
 * Sell `amountIn` collateral into the pool at `price`.
 *
 * @param amountIn - Collateral sold (>= 0).
 * @param price - Pool price before the trade.
 * @param pool - Liquidity and fee.
 * @returns Loan tokens out, fee and impact.
 */
export function quoteSell(amountIn: number, price: number, pool: SwapPool): SwapQuote {
  const net = amountIn * (1 - pool.feeBps / 10_000)
  const root = Math.sqrt(price)
  const after = (pool.liquidity * root) / (pool.liquidity + net * root)
  const out = pool.liquidity * (root - after)
  return { out, fee: amountIn * price * (pool.feeBps / 10_000), impact: net * price - out }
}

/**
 * Buy collateral with `amountIn` loan tokens at `price`.
 *
 * @param amountIn - Loan tokens spent (>= 0).
 * @param price - Pool price before the trade.
 * @param pool - Liquidity and fee.
 * @returns Collateral out, fee and impact (loan units).
 */
export function quoteBuy(amountIn: number, price: number, pool: SwapPool): SwapQuote {
  const net = amountIn * (1 - pool.feeBps / 10_000)
  const root = Math.sqrt(price)
  const after = root + net / pool.liquidity
  const out = pool.liquidity * (1 / root - 1 / after)
  return { out, fee: amountIn * (pool.feeBps / 10_000), impact: net - out * price }
}

/** A position as the sizing functions see it. */
export type Position = { collateral: number; debt: number; lltv: number }

/**
 * Collateral to sell so that repaying with the proceeds (times `keep`, what is left after service fees) brings health
 * at `oraclePrice` to `goal`: bisection on the amount (health rises with it while the sale repays debt).
 *
 * @param position - Collateral, debt, LLTV.
 * @param goal - Health to reach.
 * @param oraclePrice - Price health is measured at (the module's oracle).
 * @param poolPrice - Pool price the sale executes at.
 * @param pool - Liquidity and fee.
 * @param keep - Fraction of the proceeds that repays debt (1 minus service fees); default 1.
 * @returns Collateral to sell, or undefined when no sale reaches `goal`.
 */
export function sellForHealth(position: Position, goal: number, oraclePrice: number, poolPrice: number, pool: SwapPool, keep = 1): number | undefined {
  const health = (a: number): number => {
    const repaid = Math.min(position.debt, quoteSell(a, poolPrice, pool).out * keep)
    const debt = position.debt - repaid
    return debt > 0 ? ((position.collateral - a) * oraclePrice * position.lltv) / debt : Number.POSITIVE_INFINITY
  }
  if (health(0) >= goal) return 0
  let lo = 0
  let hi = position.collateral
  if (!(health(hi * (1 - 1e-12)) >= goal)) {
    let best = 0
    let bestHealth = health(0)
    for (let k = 1; k <= 64; k++) {
      const a = (position.collateral * k) / 64
      const h = health(a * (1 - 1e-12))
      if (h > bestHealth) {
        bestHealth = h
        best = a
      }
    }
    if (bestHealth < goal) return undefined
    hi = best
  }
  for (let i = 0; i < 80 && hi - lo > 1e-12 * position.collateral; i++) {
    const mid = 0.5 * (lo + hi)
    if (health(mid) >= goal) hi = mid
    else lo = mid
  }
  return hi
}

/**
 * Loan tokens to borrow so that buying collateral with them (times `keep`, after service fees) and supplying it brings
 * health at `oraclePrice` down to `goal`: bisection (health falls as the borrow grows).
 *
 * @param position - Collateral, debt, LLTV.
 * @param goal - Health to reach (below the current health).
 * @param oraclePrice - Price health is measured at.
 * @param poolPrice - Pool price the purchase executes at.
 * @param pool - Liquidity and fee.
 * @param keep - Fraction of the borrowed amount that buys collateral; default 1.
 * @returns Amount to borrow (0 when already at or below `goal`), or undefined when no finite borrow reaches it.
 */
export function borrowForHealth(position: Position, goal: number, oraclePrice: number, poolPrice: number, pool: SwapPool, keep = 1): number | undefined {
  const health = (b: number): number => {
    const debt = position.debt + b
    return debt > 0 ? ((position.collateral + quoteBuy(b * keep, poolPrice, pool).out) * oraclePrice * position.lltv) / debt : Number.POSITIVE_INFINITY
  }
  if (health(0) <= goal) return 0
  let lo = 0
  let hi = Math.max(1, position.collateral * oraclePrice)
  let guard = 0
  while (health(hi) > goal) {
    lo = hi
    hi *= 2
    if (++guard > 60) return undefined
  }
  for (let i = 0; i < 80 && hi - lo > 1e-9 * hi; i++) {
    const mid = 0.5 * (lo + hi)
    if (health(mid) > goal) lo = mid
    else hi = mid
  }
  return lo
}

/**
 * The solver's swap cost curve ({@link SwapCurve}) quoted on this pool, as the keeper quotes QuoterV2: at
 * `SWAP_CURVE_FRACTIONS` of `collateral` (a sale) or of its oracle value (a purchase), each size's output shortfall
 * against its value at `oraclePrice` (fee + impact, plus any gap between the pool and the oracle), in bps.
 *
 * @param side - "sell" (collateral -> loan token, `SubAccountInput.swap`) or "buy" (loan token -> collateral, `swapBuy`).
 * @param collateral - The position's collateral (sizes scale with it).
 * @param oraclePrice - Price the module values swaps at (its minimum output).
 * @param poolPrice - Pool price the swap executes at.
 * @param pool - Liquidity and fee.
 * @param route - Route word the plan carries.
 * @param span - Largest size quoted, input-token units (a buying curve: `swapBuySpan`); default the collateral (sale) or its oracle value (purchase).
 * @returns The curve, sizes in the input token's units.
 */
export function poolSwapCurve(side: "sell" | "buy", collateral: number, oraclePrice: number, poolPrice: number, pool: SwapPool, route: string, span?: number): SwapCurve {
  const sell = side === "sell"
  const whole = span ?? (sell ? collateral : collateral * oraclePrice)
  const points = SWAP_CURVE_FRACTIONS.map((f) => whole * f)
    .filter((a) => a > 0)
    .map((amountIn) => {
      const out = sell ? quoteSell(amountIn, poolPrice, pool).out : quoteBuy(amountIn, poolPrice, pool).out
      const fair = sell ? amountIn * oraclePrice : amountIn / oraclePrice
      return { amountIn, shortfallBps: Math.max(0, (1 - out / fair) * 10_000) }
    })
  return { route, points }
}
