import { EwmaVolatility } from "../risk/volatility.js"
import type { SolverInput } from "../solver/types.js"

/** How the keeper estimates each collateral price's volatility (part of a Safe's `risk` settings). */
export type VolatilitySettings = {
  /** `ewma`: estimate live from the oracle prices the keeper observes; `fixed`: always the configured `sigma`. */
  estimator: "ewma" | "fixed"
  /** EWMA decay per oracle update, in (0, 1). */
  lambda: number
  /** Oracle updates before the estimate alone is trusted; until then the configured sigma is a floor. */
  minSamples: number
  /** Lowest annualised volatility ever used once `minSamples` are in (a stale or frozen oracle reads as zero). */
  floor: number
  /** An unchanged price still counts as a (zero-return) sample after this many seconds, so calm periods decay the estimate. */
  maxIntervalSeconds: number
}

export const defaultVolatilitySettings: VolatilitySettings = { estimator: "ewma", lambda: 0.94, minSamples: 10, floor: 0.05, maxIntervalSeconds: 3_600 }

/** The estimate of one price series, as the keeper uses it, logs it and exports it. */
export type VolatilityEstimate = {
  /** The volatility the solver gets (annualised). */
  sigma: number
  /** The raw EWMA estimate (annualised); equals the prior before the first sample. */
  ewma: number
  /** Oracle updates observed. */
  samples: number
  /** Where `sigma` comes from: the configured prior (too few samples, or `fixed`), the EWMA, or the floor. */
  source: "prior" | "ewma" | "floor"
}

/** The state of a {@link LiveVolatility}, JSON-safe. */
export type LiveVolatilityState = {
  lastTime: number | undefined
  lastPrice: number | undefined
  count: number
  ewma: { variancePerSecond: number; initialised: boolean }
}

/**
 * Live volatility of one oracle price: an incremental EWMA of squared log-returns per second ({@link EwmaVolatility},
 * irregular intervals allowed) fed with every price change the keeper observes (and an unchanged price after
 * `maxIntervalSeconds`). The configured sigma is the EWMA's starting value and a floor until `minSamples` updates
 * were seen; after that the estimate is used as is, down to `floor`.
 */
export class LiveVolatility {
  private readonly ewma: EwmaVolatility
  private lastTime: number | undefined
  private lastPrice: number | undefined
  private count = 0

  constructor(
    readonly prior: number,
    readonly settings: VolatilitySettings = defaultVolatilitySettings,
  ) {
    this.ewma = new EwmaVolatility(settings.lambda, prior)
  }

  /**
   * Feeds an observed oracle price.
   *
   * @param timestamp - Unix seconds of the block it was read at.
   * @param price - The price (> 0), any unit as long as it stays the same.
   * @returns Whether it counted as a new sample (a changed price, or an unchanged one after `maxIntervalSeconds`).
   */
  observe(timestamp: number, price: number): boolean {
    if (!(price > 0) || !Number.isFinite(price)) return false
    if (this.lastTime === undefined || this.lastPrice === undefined) {
      this.lastTime = timestamp
      this.lastPrice = price
      return false
    }
    const dt = timestamp - this.lastTime
    if (!(dt > 0)) {
      // Same block seen again, or the chain went back (reorg): restart the interval from here.
      if (dt < 0) {
        this.lastTime = timestamp
        this.lastPrice = price
      }
      return false
    }
    if (price === this.lastPrice && dt < this.settings.maxIntervalSeconds) return false
    this.ewma.update(Math.log(price / this.lastPrice), dt)
    this.count += 1
    this.lastTime = timestamp
    this.lastPrice = price
    return true
  }

  /** @returns Everything the estimate depends on, as JSON, to continue it in another process ({@link LiveVolatility.restore}). */
  save(): LiveVolatilityState {
    return { lastTime: this.lastTime, lastPrice: this.lastPrice, count: this.count, ewma: this.ewma.save() }
  }

  /** @returns An estimator that continues from a {@link save}d state. */
  static restore(prior: number, settings: VolatilitySettings, state: LiveVolatilityState): LiveVolatility {
    const v = new LiveVolatility(prior, settings)
    v.lastTime = state.lastTime
    v.lastPrice = state.lastPrice
    v.count = state.count
    v.ewma.restore(state.ewma)
    return v
  }

  /** @returns The volatility to use now and where it comes from. */
  estimate(): VolatilityEstimate {
    const ewma = this.ewma.sigma()
    if (this.settings.estimator === "fixed") return { sigma: this.prior, ewma, samples: this.count, source: "prior" }
    if (this.count < this.settings.minSamples) return ewma > this.prior ? { sigma: ewma, ewma, samples: this.count, source: "ewma" } : { sigma: this.prior, ewma, samples: this.count, source: "prior" }
    return ewma >= this.settings.floor ? { sigma: ewma, ewma, samples: this.count, source: "ewma" } : { sigma: this.settings.floor, ewma, samples: this.count, source: "floor" }
  }
}

/**
 * The solver input with each sub-account's volatility replaced (the keeper's live estimates).
 *
 * @param sigmaOf - Volatility by sub-account id; undefined keeps the input's.
 * @returns A copy; the input is not modified.
 */
export function applySigma(input: SolverInput, sigmaOf: (subAccountId: string) => number | undefined): SolverInput {
  return applyRisk(input, (id) => ({ sigma: sigmaOf(id) }))
}

/**
 * The solver input with each sub-account's volatility and trend replaced (the keeper's live estimates).
 *
 * @param riskOf - Volatility, trend (annualised log drift, `TrendEstimator`), rebound (annualised log rate), gap
 *   (`TrendEstimator.gapped`: one of the latest two steps; gapLatest: the latest step) and noisy (`TrendEstimator.noisy`)
 *   by sub-account id; an undefined field keeps the input's.
 * @returns A copy; the input is not modified.
 */
export function applyRisk(
  input: SolverInput,
  riskOf: (subAccountId: string) => Partial<Pick<SolverInput["subAccounts"][number]["risk"], "sigma" | "trend" | "rebound" | "gap" | "gapLatest" | "noisy">>,
): SolverInput {
  return {
    ...input,
    subAccounts: input.subAccounts.map((s) => {
      // Only the fields given (an undefined one keeps the input's).
      const given = Object.fromEntries(Object.entries(riskOf(s.state.id)).filter(([, v]) => v !== undefined))
      return Object.keys(given).length === 0 ? s : { ...s, risk: { ...s.risk, ...given } }
    }),
  }
}
