import { RiskInputError } from "./errors.js"
import { SECONDS_PER_YEAR } from "./firstPassage.js"

/** A price series sampled at (possibly irregular) unix timestamps in seconds. */
export type PriceSeries = {
  /** Unix seconds, strictly increasing. */
  timestamps: ArrayLike<number>
  /** Prices (> 0), same length as `timestamps`. */
  prices: ArrayLike<number>
}

/** Log-returns normalised to one second of variance: r_i / sqrt(dt_i) and the mean interval. */
type NormalisedReturns = { scaled: Float64Array; meanDt: number }

function normalisedReturns(series: PriceSeries): NormalisedReturns {
  const n = series.prices.length
  if (n !== series.timestamps.length) throw new RiskInputError("series", "timestamps and prices differ in length")
  if (n < 2) throw new RiskInputError("series", "needs at least two prices")
  const scaled = new Float64Array(n - 1)
  for (let i = 1; i < n; i++) {
    const dt = (series.timestamps[i] as number) - (series.timestamps[i - 1] as number)
    const p0 = series.prices[i - 1] as number
    const p1 = series.prices[i] as number
    if (!(dt > 0)) throw new RiskInputError("series", `timestamps must increase (index ${i})`)
    if (!(p0 > 0 && p1 > 0)) throw new RiskInputError("series", `prices must be > 0 (index ${i})`)
    scaled[i - 1] = Math.log(p1 / p0) / Math.sqrt(dt)
  }
  const first = series.timestamps[0] as number
  const last = series.timestamps[n - 1] as number
  return { scaled, meanDt: (last - first) / (n - 1) }
}

/**
 * Incremental EWMA variance estimator (RiskMetrics), robust to irregular sampling: each squared
 * log-return is divided by its interval, so the state is a variance per second.
 */
export class EwmaVolatility {
  private variancePerSecond: number
  private initialised: boolean

  /**
   * @param lambda - Decay per observation in (0, 1); RiskMetrics uses 0.94 for daily data.
   * @param initialSigma - Optional annualised volatility to start from (otherwise the first return seeds it).
   */
  constructor(
    readonly lambda: number,
    initialSigma?: number,
  ) {
    if (!(lambda > 0 && lambda < 1)) throw new RiskInputError("lambda", `must be in (0, 1), got ${lambda}`)
    this.initialised = initialSigma !== undefined
    this.variancePerSecond = initialSigma === undefined ? 0 : (initialSigma * initialSigma) / SECONDS_PER_YEAR
  }

  /**
   * Feed one log-return observed over `dtSeconds`.
   *
   * @param logReturn - ln(P_t / P_{t-1}).
   * @param dtSeconds - Interval in seconds (> 0).
   */
  update(logReturn: number, dtSeconds: number): void {
    if (!(dtSeconds > 0)) return
    const v = (logReturn * logReturn) / dtSeconds
    if (!this.initialised) {
      this.variancePerSecond = v
      this.initialised = true
      return
    }
    this.variancePerSecond = this.lambda * this.variancePerSecond + (1 - this.lambda) * v
  }

  /** @returns The current annualised volatility estimate. */
  sigma(): number {
    return Math.sqrt(this.variancePerSecond * SECONDS_PER_YEAR)
  }

  /** @returns The estimator's state (variance per second, seeded or not), to continue it elsewhere with {@link restore}. */
  save(): { variancePerSecond: number; initialised: boolean } {
    return { variancePerSecond: this.variancePerSecond, initialised: this.initialised }
  }

  /** Continues from a {@link save}d state. */
  restore(state: { variancePerSecond: number; initialised: boolean }): void {
    this.variancePerSecond = state.variancePerSecond
    this.initialised = state.initialised
  }
}

/**
 * EWMA volatility of a price series.
 *
 * @param series - Timestamps (s) and prices.
 * @param lambda - Decay per observation; default 0.94.
 * @returns The annualised volatility after the last observation.
 * @example ewmaVolatility({ timestamps: [0, 60, 120], prices: [100, 101, 100.5] })
 */
export function ewmaVolatility(series: PriceSeries, lambda = 0.94): number {
  const { scaled } = normalisedReturns(series)
  const seedCount = Math.min(scaled.length, 20)
  let seed = 0
  for (let i = 0; i < seedCount; i++) seed += (scaled[i] as number) ** 2
  let v = seed / seedCount
  for (let i = seedCount; i < scaled.length; i++) v = lambda * v + (1 - lambda) * (scaled[i] as number) ** 2
  return Math.sqrt(v * SECONDS_PER_YEAR)
}

/** Fitted GARCH(1,1) on per-second normalised returns: sigma^2_t = omega + alpha r^2_{t-1} + beta sigma^2_{t-1}. */
export type GarchFit = {
  /** Constant term (variance per second). */
  omega: number
  /** Reaction to the last squared return. */
  alpha: number
  /** Persistence of the last variance. */
  beta: number
  /** Gaussian log-likelihood at the fit. */
  logLikelihood: number
  /** Conditional variance per second for the next observation. */
  nextVariance: number
  /** Long-run variance per second, omega / (1 - alpha - beta). */
  longRunVariance: number
  /** Mean sampling interval of the series in seconds (the GARCH step). */
  stepSeconds: number
}

function garchLogLikelihood(r: Float64Array, alpha: number, beta: number, sampleVar: number): { ll: number; next: number } {
  const omega = sampleVar * (1 - alpha - beta)
  let v = sampleVar
  let ll = 0
  for (let i = 0; i < r.length; i++) {
    const x = r[i] as number
    ll -= Math.log(v) + (x * x) / v
    v = omega + alpha * x * x + beta * v
  }
  return { ll: 0.5 * ll, next: v }
}

/**
 * Fit GARCH(1,1) by maximum likelihood with variance targeting (omega = sampleVar (1 - alpha - beta)):
 * a coarse grid over (alpha, beta) followed by a shrinking-step pattern search.
 *
 * @param series - Timestamps (s) and prices; at least 30 observations for a meaningful fit.
 * @returns The fitted parameters and the next-step variance.
 */
export function fitGarch(series: PriceSeries): GarchFit {
  const { scaled, meanDt } = normalisedReturns(series)
  if (scaled.length < 30) throw new RiskInputError("series", `GARCH needs at least 31 prices, got ${scaled.length + 1}`)
  let sampleVar = 0
  for (let i = 0; i < scaled.length; i++) sampleVar += (scaled[i] as number) ** 2
  sampleVar /= scaled.length
  if (!(sampleVar > 0)) throw new RiskInputError("series", "prices never move, volatility is zero")
  let best = { alpha: 0.05, beta: 0.9, ll: Number.NEGATIVE_INFINITY }
  for (let a = 0.01; a <= 0.3; a += 0.02) {
    for (let b = 0.5; b < 0.999 - a; b += 0.03) {
      const { ll } = garchLogLikelihood(scaled, a, b, sampleVar)
      if (ll > best.ll) best = { alpha: a, beta: b, ll }
    }
  }
  let step = 0.02
  while (step > 1e-4) {
    let improved = false
    for (const [da, db] of [
      [step, 0],
      [-step, 0],
      [0, step],
      [0, -step],
      [step, -step],
      [-step, step],
    ] as const) {
      const a = best.alpha + da
      const b = best.beta + db
      if (a <= 1e-6 || b < 0 || a + b >= 0.9999) continue
      const { ll } = garchLogLikelihood(scaled, a, b, sampleVar)
      if (ll > best.ll) {
        best = { alpha: a, beta: b, ll }
        improved = true
      }
    }
    if (!improved) step /= 2
  }
  const { next } = garchLogLikelihood(scaled, best.alpha, best.beta, sampleVar)
  return {
    omega: sampleVar * (1 - best.alpha - best.beta),
    alpha: best.alpha,
    beta: best.beta,
    logLikelihood: best.ll,
    nextVariance: next,
    longRunVariance: sampleVar,
    stepSeconds: meanDt,
  }
}

/**
 * Annualised volatility a GARCH(1,1) fit forecasts on average over the next `horizonSeconds`:
 * the k-step variance mean-reverts as `V + (alpha + beta)^(k-1) (sigma^2_{t+1} - V)`.
 *
 * @param fit - A {@link GarchFit}.
 * @param horizonSeconds - Forecast horizon in seconds.
 * @returns Annualised volatility averaged over the horizon.
 */
export function garchForecastVolatility(fit: GarchFit, horizonSeconds: number): number {
  const steps = Math.max(1, Math.round(horizonSeconds / fit.stepSeconds))
  const persistence = fit.alpha + fit.beta
  const gap = fit.nextVariance - fit.longRunVariance
  const geometric = persistence >= 1 ? steps : (1 - persistence ** steps) / (1 - persistence)
  const meanVariance = fit.longRunVariance + (gap * geometric) / steps
  return Math.sqrt(Math.max(meanVariance, 0) * SECONDS_PER_YEAR)
}
