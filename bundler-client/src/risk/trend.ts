import { SECONDS_PER_YEAR } from "./firstPassage.js"
import { RiskInputError } from "./errors.js"

/** Default window of {@link TrendEstimator}: five minutes of prices. */
export const TREND_WINDOW_SECONDS = 300

/**
 * Default sampling interval of {@link TrendEstimator}: one price a minute. The backtester observes the oracle once per
 * one-minute step, the keeper at every block (12 s); an oracle that moves in deviation steps is unchanged at most blocks,
 * so per-block samples would make the median of a steady fall 0 (four zero returns for each step). Sampling both once
 * a minute gives the keeper the estimate the backtester's autopilot decided with.
 */
export const TREND_SAMPLE_SECONDS = 60

/**
 * The price's recent trend: the median of the log-returns per second between consecutive observations within the last
 * `windowSeconds`, annualised. A median, not a mean, so one jump (a wick's one-minute drop, its rebound) does not read as
 * a trend; a sustained fall (a crash of 1 % a minute) does after half the window. Used for the price move expected until
 * a plan's inclusion (`withInclusionMargin`'s `inclusionDrift`): a rescue planned at the quote's price in a market that
 * keeps falling pays less than its fixed repayment by the time it lands, and reverts at every attempt.
 *
 * @example
 * const trend = new TrendEstimator()
 * trend.observe(t, price) // every poll or block (one price a minute is kept)
 * trend.drift() // annualised log drift, 0 until two observations
 */
export class TrendEstimator {
  private readonly seen: { t: number; logPrice: number }[] = []

  /**
   * @param windowSeconds - Seconds of history the median is taken over (> 0); default {@link TREND_WINDOW_SECONDS}.
   * @param sampleSeconds - Least seconds between two recorded prices (>= 0); default {@link TREND_SAMPLE_SECONDS}.
   * @throws {RiskInputError} When `windowSeconds` is not positive or `sampleSeconds` negative.
   */
  constructor(
    private readonly windowSeconds: number = TREND_WINDOW_SECONDS,
    private readonly sampleSeconds: number = TREND_SAMPLE_SECONDS,
  ) {
    if (!(windowSeconds > 0)) throw new RiskInputError("windowSeconds", `must be > 0, got ${windowSeconds}`)
    if (!(sampleSeconds >= 0)) throw new RiskInputError("sampleSeconds", `must be >= 0, got ${sampleSeconds}`)
  }

  /**
   * Records a price at unix time `t` (seconds); an observation not after the last recorded one, or less than
   * `sampleSeconds` after it, is ignored.
   *
   * @param t - Unix seconds.
   * @param price - Price (> 0; other values are ignored).
   */
  observe(t: number, price: number): void {
    if (!(price > 0)) return
    const last = this.seen[this.seen.length - 1]
    if (last !== undefined && !(t > last.t && t - last.t >= this.sampleSeconds)) return
    this.seen.push({ t, logPrice: Math.log(price) })
    const newest = t
    while (this.seen.length > 2 && (this.seen[1] as { t: number }).t <= newest - this.windowSeconds) this.seen.shift()
  }

  /** @returns The annualised log drift: the median over the window of ln(p_i / p_{i-1}) / (t_i - t_{i-1}) x seconds per year; 0 with fewer than two observations. */
  drift(): number {
    const rates: number[] = []
    for (let i = 1; i < this.seen.length; i++) {
      const [a, b] = [this.seen[i - 1] as { t: number; logPrice: number }, this.seen[i] as { t: number; logPrice: number }]
      rates.push((b.logPrice - a.logPrice) / (b.t - a.t))
    }
    if (rates.length === 0) return 0
    rates.sort((x, y) => x - y)
    const mid = rates.length >> 1
    const median = rates.length % 2 === 1 ? (rates[mid] as number) : 0.5 * ((rates[mid - 1] as number) + (rates[mid] as number))
    return median * SECONDS_PER_YEAR
  }
}
