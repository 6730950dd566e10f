import { logNormalCdf, normalCdf } from "./normal.js"
import { RiskInputError } from "./errors.js"
import type { TailModel } from "./tail.js"

/** Seconds in a (Julian) year; every annualised quantity in the risk engine uses it. */
export const SECONDS_PER_YEAR = 31_557_600

/** Compound-Poisson jumps in the log-price (Merton): intensity per year, log-jump ~ N(meanLog, sigmaLog^2). */
export type JumpParameters = {
  /** Expected number of jumps per year. */
  intensity: number
  /** Mean of the log jump size (negative for crashes). */
  meanLog: number
  /** Standard deviation of the log jump size. */
  sigmaLog: number
}

/** Price dynamics the liquidation probability is computed under (all annualised). */
export type RiskModel = {
  /** Annualised volatility of the collateral price in the loan numeraire. */
  sigma: number
  /** Annualised drift of the price (GBM mu); 0 is the conservative default. */
  drift?: number | undefined
  /** Optional jump component; the probability then adds the chance of a jump across the barrier. */
  jumps?: JumpParameters | undefined
  /** Optional tail (largest instantaneous drop seen, keeper reaction time); used by the autopilot's tail floor (`tail.ts`). */
  tail?: TailModel | undefined
  /**
   * Optional recent trend of the price, annualised log drift (`TrendEstimator`, the median of the last minutes' returns).
   * Not used by the probabilities (`drift` is); the keeper turns a falling trend into the price move expected until a
   * plan's inclusion (`withInclusionMargin`: `inclusionDrift`).
   */
  trend?: number | undefined
  /**
   * Optional rise of a rebound in progress, annualised log rate (`TrendEstimator.rebound`: the latest step when it is an
   * upward jump, else 0). Not used by the probabilities; a swap boost's purchase is planned for the larger of it and a
   * rising `trend` (`withInclusionMargin`), and its value counts the rise (the solver's `reboundValue`).
   */
  rebound?: number | undefined
  /**
   * Optional: one of the latest two steps is a gap (`TrendEstimator.gapped`: a fall beyond the trend by more than a
   * jump), so the trend still reads the fall before it. Not used by the probabilities; a falling `trend` is then not planned for until
   * inclusion (`withInclusionMargin`: the sale is sized for the price holding).
   */
  gap?: boolean | undefined
  /**
   * Optional: the latest step itself is a gap (`TrendEstimator.gapped` over one step). Not used by the probabilities;
   * in that minute a rescue after a fall is aimed under its zone's top by the band's cap (`withInclusionMargin`'s
   * `landingMarginTop`, a rebound before inclusion). Undefined: `gap` is used.
   */
  gapLatest?: boolean | undefined
  /**
   * Optional: the price's minute-to-minute noise dominates its trend (`TrendEstimator.noisy`). Not used by the
   * probabilities; a sale is then sized at the read price (`withInclusionMargin` sets `saleAtRead`, `solveAimed` plans it).
   */
  noisy?: boolean | undefined
}

/**
 * Probability that a GBM price `S_t = S_0 exp((mu - sigma^2/2) t + sigma W_t)` touches a lower barrier
 * `L = S_0 e^{-d}` at least once within `T` years (reflection principle, continuous monitoring):
 * `Phi((-d - nu T)/(sigma sqrt T)) + exp(-2 nu d / sigma^2) Phi((-d + nu T)/(sigma sqrt T))`, `nu = mu - sigma^2/2`.
 *
 * @param logDistance - d = ln(S_0 / L); d <= 0 means the barrier is already touched.
 * @param sigma - Annualised volatility (>= 0).
 * @param drift - Annualised drift mu.
 * @param horizonYears - Horizon T in years (>= 0).
 * @returns The first-passage probability in [0, 1].
 * @example firstPassageProbability(Math.log(1.2), 0.8, 0, 1 / 365) // ~1.3e-12
 */
export function firstPassageProbability(logDistance: number, sigma: number, drift: number, horizonYears: number): number {
  if (logDistance <= 0) return 1
  if (horizonYears <= 0) return 0
  const nu = drift - 0.5 * sigma * sigma
  if (sigma <= 0) return nu * horizonYears <= -logDistance ? 1 : 0
  const s = sigma * Math.sqrt(horizonYears)
  const nuT = nu * horizonYears
  const first = normalCdf((-logDistance - nuT) / s)
  const exponent = (-2 * nu * logDistance) / (sigma * sigma)
  const b = (-logDistance + nuT) / s
  const second = exponent < 50 && b > -8 ? Math.exp(exponent) * normalCdf(b) : Math.exp(exponent + logNormalCdf(b))
  const p = first + second
  return p > 1 ? 1 : p
}

/**
 * Probability that at least one jump alone carries the log-price across a barrier `d` below it
 * within `T` years: `1 - exp(-lambda T Phi((-d - meanLog)/sigmaLog))`.
 *
 * @param logDistance - d = ln(S_0 / L).
 * @param jumps - Jump intensity and log-size distribution.
 * @param horizonYears - Horizon T in years.
 * @returns The probability in [0, 1].
 */
export function jumpCrossingProbability(logDistance: number, jumps: JumpParameters, horizonYears: number): number {
  if (logDistance <= 0) return 1
  if (jumps.intensity <= 0 || horizonYears <= 0) return 0
  const q = jumps.sigmaLog > 0 ? normalCdf((-logDistance - jumps.meanLog) / jumps.sigmaLog) : jumps.meanLog <= -logDistance ? 1 : 0
  return -Math.expm1(-jumps.intensity * horizonYears * q)
}

/**
 * Liquidation probability of a sub-account within a horizon. Liquidation price = price / health,
 * so the log-distance to liquidation is ln(health). With jumps the diffusion and single-jump
 * crossings are combined as independent events, `1 - (1 - p_diffusion)(1 - p_jump)`: exact for
 * GBM, a close lower-bound approximation of the Merton model (see `jumpDiffusion.ts` for its Monte Carlo).
 *
 * @param health - Current health (collateral value x LLTV / debt); <= 1 means already liquidatable.
 * @param model - Volatility, drift and optional jumps.
 * @param horizonYears - Horizon in years.
 * @returns The probability in [0, 1].
 * @example liquidationProbability(1.1, { sigma: 0.6 }, 1 / 365)
 */
export function liquidationProbability(health: number, model: RiskModel, horizonYears: number): number {
  if (!(health > 1)) return 1
  const d = Math.log(health)
  const pd = firstPassageProbability(d, model.sigma, model.drift ?? 0, horizonYears)
  if (model.jumps === undefined) return pd
  const pj = jumpCrossingProbability(d, model.jumps, horizonYears)
  return 1 - (1 - pd) * (1 - pj)
}

/**
 * Lowest health (highest leverage) whose liquidation probability within the horizon is at most
 * `tolerance`. The probability is strictly decreasing in health, so a bisection on ln(health) finds it.
 *
 * @param tolerance - Acceptable liquidation probability in (0, 1).
 * @param model - Volatility, drift and optional jumps.
 * @param horizonYears - Horizon in years.
 * @returns Health >= 1 with `liquidationProbability(h) <= tolerance` (to 1e-9 in ln h); `Infinity` if none exists.
 * @example healthForTolerance(0.01, { sigma: 0.6 }, 1 / 365) // ~1.084
 */
export function healthForTolerance(tolerance: number, model: RiskModel, horizonYears: number): number {
  if (!(tolerance > 0 && tolerance < 1)) throw new RiskInputError("tolerance", `must be in (0, 1), got ${tolerance}`)
  if (!(model.sigma >= 0) || !Number.isFinite(model.sigma)) throw new RiskInputError("sigma", `must be a finite number >= 0, got ${model.sigma}`)
  let lo = 0
  let hi = Math.max(1e-4, 4 * model.sigma * Math.sqrt(Math.max(horizonYears, 0)))
  let guard = 0
  while (liquidationProbability(Math.exp(hi), model, horizonYears) > tolerance) {
    lo = hi
    hi *= 2
    if (++guard > 60) return Number.POSITIVE_INFINITY
  }
  while (hi - lo > 1e-9) {
    const mid = 0.5 * (lo + hi)
    if (liquidationProbability(Math.exp(mid), model, horizonYears) > tolerance) lo = mid
    else hi = mid
  }
  return Math.exp(hi)
}
