import { RiskInputError } from "./errors.js"
import { SECONDS_PER_YEAR } from "./firstPassage.js"
import { fitGarch, garchForecastVolatility } from "./volatility.js"
import type { GarchFit } from "./volatility.js"

/** Settings of a {@link GarchRegime}. */
export type GarchRegimeParameters = {
  /** Annualised volatility before any fit (the long-run prior). */
  initialSigma: number
  /** GARCH(1,1) reaction and persistence before the first fit. Defaults 0.05 and 0.94. */
  alpha?: number | undefined
  beta?: number | undefined
  /** Refit by maximum likelihood every this many seconds of history. Default 86,400. */
  refitSeconds?: number | undefined
  /** Refit on at most this many seconds of trailing history. Default 86,400. */
  windowSeconds?: number | undefined
  /** Weight of the prior's long-run variance against a fit, in observations. Default 288 (one day of samples). */
  priorWeight?: number | undefined
  /** The model runs on prices sampled at least this many seconds apart (5-minute returns by default): cheaper fits, less microstructure noise. */
  sampleSeconds?: number | undefined
}

/**
 * Volatility clustering for the autopilot: a GARCH(1,1) conditional variance updated on every return and refitted
 * periodically on the trailing history ({@link fitGarch}), whose forecast over the policy horizon mean-reverts to a
 * long-run variance that pools the fit with the prior (so a calm day does not pull the long run to the calm).
 * After a turbulent spell the forecast stays high for as long as the fitted persistence says.
 */
export class GarchRegime {
  private alpha: number
  private beta: number
  private longRun: number
  private variance: number
  private step: number
  private readonly sampleSeconds: number
  private readonly priorVariance: number
  private readonly priorWeight: number
  private readonly refitSeconds: number
  private readonly windowSeconds: number
  private readonly times: number[] = []
  private readonly prices: number[] = []
  private nextFit: number | undefined
  private lastFit: GarchFit | undefined

  /** @param params - Prior volatility and refit schedule. */
  constructor(params: GarchRegimeParameters) {
    if (!(params.initialSigma > 0)) throw new RiskInputError("initialSigma", `must be > 0, got ${params.initialSigma}`)
    this.alpha = params.alpha ?? 0.05
    this.beta = params.beta ?? 0.94
    if (!(this.alpha > 0 && this.beta >= 0 && this.alpha + this.beta < 1)) throw new RiskInputError("alpha/beta", "need alpha > 0, beta >= 0, alpha + beta < 1")
    this.priorVariance = (params.initialSigma * params.initialSigma) / SECONDS_PER_YEAR
    this.longRun = this.priorVariance
    this.variance = this.priorVariance
    this.priorWeight = params.priorWeight ?? 288
    this.sampleSeconds = params.sampleSeconds ?? 300
    this.step = this.sampleSeconds
    this.refitSeconds = params.refitSeconds ?? 86_400
    this.windowSeconds = params.windowSeconds ?? 86_400
  }

  /**
   * Feed one price (prices less than `sampleSeconds` after the last sample are skipped).
   *
   * @param time - Unix seconds (increasing).
   * @param price - Price (> 0).
   */
  observe(time: number, price: number): void {
    const n = this.prices.length
    if (n > 0) {
      const dt = time - (this.times[n - 1] as number)
      if (dt < this.sampleSeconds) return
      {
        const r = Math.log(price / (this.prices[n - 1] as number))
        const omega = this.longRun * (1 - this.alpha - this.beta)
        this.variance = omega + this.alpha * ((r * r) / dt) + this.beta * this.variance
        this.step = dt
      }
    }
    this.times.push(time)
    this.prices.push(price)
    this.nextFit ??= time + this.refitSeconds
    if (time >= this.nextFit) {
      this.nextFit = time + this.refitSeconds
      this.refit(time)
    }
  }

  private refit(time: number): void {
    let from = 0
    while (from < this.times.length && time - (this.times[from] as number) > this.windowSeconds) from++
    if (from > 0) {
      this.times.splice(0, from)
      this.prices.splice(0, from)
    }
    if (this.prices.length < 31) return
    let fit: GarchFit
    try {
      fit = fitGarch({ timestamps: this.times, prices: this.prices })
    } catch (error) {
      if (error instanceof RiskInputError) return
      throw error
    }
    const n = this.prices.length - 1
    this.lastFit = fit
    this.alpha = fit.alpha
    this.beta = fit.beta
    this.longRun = (fit.longRunVariance * n + this.priorVariance * this.priorWeight) / (n + this.priorWeight)
    this.step = fit.stepSeconds
    this.variance = fit.nextVariance
  }

  /** @returns The last maximum-likelihood fit (undefined before the first refit). */
  fit(): GarchFit | undefined {
    return this.lastFit
  }

  /**
   * Annualised volatility forecast averaged over the next `horizonSeconds` ({@link garchForecastVolatility}).
   *
   * @param horizonSeconds - Forecast horizon (> 0).
   * @returns The forecast.
   */
  forecastSigma(horizonSeconds: number): number {
    return garchForecastVolatility(
      { omega: this.longRun * (1 - this.alpha - this.beta), alpha: this.alpha, beta: this.beta, logLikelihood: 0, nextVariance: this.variance, longRunVariance: this.longRun, stepSeconds: this.step },
      horizonSeconds,
    )
  }
}
