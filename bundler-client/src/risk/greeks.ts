import { liquidationProbability } from "./firstPassage.js"
import type { RiskModel } from "./firstPassage.js"

/** The position figures the sensitivities are taken of, in human units. */
export type MarginPosition = {
  /** Collateral amount (collateral-token units). */
  collateral: number
  /** Debt (loan-token units). */
  debt: number
  /** Liquidation LTV (Morpho LLTV) in (0, 1). */
  lltv: number
  /** Collateral price in loan units. */
  price: number
}

/** Sensitivities of a sub-account's margin to its collateral price P. */
export type MarginGreeks = {
  /** Margin (equity) = collateral x P - debt, in loan units. */
  margin: number
  /** d margin / dP = collateral (loan units per unit of price). */
  marginDelta: number
  /** d^2 margin / dP^2 = 0 while the position is alive (the margin is linear in P). */
  marginGamma: number
  /** Liquidation buffer = collateral x P x LLTV - debt; liquidation when it is negative. */
  buffer: number
  /** d buffer / dP = collateral x LLTV. */
  bufferDelta: number
  /** Health = collateral x P x LLTV / debt. */
  health: number
  /** d health / dP = collateral x LLTV / debt. */
  healthDelta: number
  /** Effective leverage = collateral x P / margin. */
  leverage: number
  /** d leverage / dP = -collateral x debt / margin^2. */
  leverageDelta: number
  /** d^2 leverage / dP^2 = 2 collateral^2 x debt / margin^3. */
  leverageGamma: number
  /** Liquidation probability within the horizon (closed form). */
  liquidationProbability: number
  /** d probability / dP (central finite difference). */
  liquidationProbabilityDelta: number
  /** d^2 probability / dP^2 (central finite difference). */
  liquidationProbabilityGamma: number
}

/**
 * Delta and gamma of a sub-account's margin, health, leverage and liquidation probability with
 * respect to its collateral price. Margin and health are linear in P (gamma 0); leverage and the
 * liquidation probability are convex, which is what makes a static position dangerous.
 *
 * @param position - Collateral, debt, LLTV and price.
 * @param model - Volatility model for the probability terms.
 * @param horizonYears - Horizon of the probability in years.
 * @returns The sensitivities.
 * @example marginGreeks({ collateral: 10, debt: 20_000, lltv: 0.86, price: 3000 }, { sigma: 0.7 }, 1 / 365)
 */
export function marginGreeks(position: MarginPosition, model: RiskModel, horizonYears: number): MarginGreeks {
  const { collateral: c, debt: d, lltv, price: p } = position
  const margin = c * p - d
  const health = d > 0 ? (c * p * lltv) / d : Number.POSITIVE_INFINITY
  const h = p * 1e-4
  const prob = (price: number): number => (d > 0 ? liquidationProbability((c * price * lltv) / d, model, horizonYears) : 0)
  const p0 = prob(p)
  const up = prob(p + h)
  const down = prob(p - h)
  return {
    margin,
    marginDelta: c,
    marginGamma: 0,
    buffer: c * p * lltv - d,
    bufferDelta: c * lltv,
    health,
    healthDelta: d > 0 ? (c * lltv) / d : 0,
    leverage: margin > 0 ? (c * p) / margin : Number.POSITIVE_INFINITY,
    leverageDelta: margin > 0 ? (-c * d) / (margin * margin) : Number.NaN,
    leverageGamma: margin > 0 ? (2 * c * c * d) / (margin * margin * margin) : Number.NaN,
    liquidationProbability: p0,
    liquidationProbabilityDelta: (up - down) / (2 * h),
    liquidationProbabilityGamma: (up - 2 * p0 + down) / (h * h),
  }
}
