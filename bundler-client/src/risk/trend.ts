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
 * Least steps {@link TrendEstimator} keeps whatever its window: a median of one step is no trend. On prices sampled
 * coarser than the window (5-minute candles against five minutes), the window alone held one step: the median was
 * that step, and {@link TrendEstimator.gapped} judged every step of a fall against no trend at all (each a gap), so a
 * rescue was planned for the price holding through a steady fall. Issue 13 stop 57: `backtest:suite --step-seconds
 * 300`, no-idle crash45 (40 paths): the autopilot liquidated on 40 (as threshold; dfs-style on none) with one step, on
 * none with three (net P&L -90,357 -> -83,046 per path). One-minute prices keep five steps in the default window, so
 * nothing changes there. After a pause in the observations (a keeper that missed polls for an hour) the steps before the
 * pause stay in the median until newer ones replace them: the first read after it plans the fall from before the pause
 * (over the live inclusion window only, a fraction of a percent) and does not read the pause's move as a gap (helper
 * bk57: one-minute paths with 1-4 missing stretches of 20-240 minutes, 80 seeds, both traders: results identical to
 * one step kept).
 */
export const TREND_MIN_STEPS = 3

/**
 * Defaults of {@link TrendEstimator.rebound}: an upward step is a jump when its log-return exceeds
 * `max(minJump, threshold x sigma x sqrt(dt / year))`, the mirror of the tail calibrator's downward jump
 * (`TailCalibratorParameters`, the backtester's `risk.tail`: 4 local sigmas, at least 2 %).
 */
export const REBOUND_JUMP = { threshold: 4, minJump: 0.02 }

/**
 * Default of {@link TrendEstimator.gapped}: the latest two steps are tested, so a gap is read in the minute after it and
 * the next (issue 13 stop 55, bk54's gap that falls one more minute and holds: no-idle autopilot-only liquidations 15
 * -> 0 of 192 paths).
 */
export const GAP_STEPS = 2

/**
 * Defaults of {@link TrendEstimator.noisy}: over the last `windowSeconds` of recorded prices, the robust scale of the
 * one-minute log-returns (1.4826 x their median absolute deviation) is noise when it exceeds both `minNoise` (1 % a
 * minute) and `ratio` x the trend's fall in a minute (issue 13, helper g54), unless the latest step lies more than `outlier`
 * robust scales from their median (a gap inside the noise, issue 13 stop 55: 3, against 4, took bk54's noisy-wick grid
 * from 8 to 3 buffered autopilot-only liquidations of 180 with {@link TrendEstimator.noisy}'s other rules unchanged).
 * `minMove`: {@link TrendEstimator.moving}'s default.
 */
export const NOISE = { windowSeconds: 900, minNoise: 0.01, ratio: 0.5, outlier: 3, minMove: 0.0025 }

/**
 * The price's recent trend: the median of the log-returns per second between consecutive observations within the last
 * `windowSeconds` (and at least the latest `minSteps` steps: {@link TREND_MIN_STEPS}), annualised. A median, not a mean, so one jump (a wick's one-minute drop, its rebound) does not read as
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
  /** The recorded prices of the last {@link NOISE}.windowSeconds (at least two), for {@link noisy}. */
  private readonly past: { t: number; logPrice: number }[] = []

  /**
   * @param windowSeconds - Seconds of history the median is taken over (> 0); default {@link TREND_WINDOW_SECONDS}.
   * @param sampleSeconds - Least seconds between two recorded prices (>= 0); default {@link TREND_SAMPLE_SECONDS}.
   * @param minSteps - Least recorded steps kept however old (an integer >= 1); default {@link TREND_MIN_STEPS}.
   * @throws {RiskInputError} When `windowSeconds` is not positive, `sampleSeconds` negative or `minSteps` not an
   *   integer >= 1.
   */
  constructor(
    private readonly windowSeconds: number = TREND_WINDOW_SECONDS,
    private readonly sampleSeconds: number = TREND_SAMPLE_SECONDS,
    private readonly minSteps: number = TREND_MIN_STEPS,
  ) {
    if (!(windowSeconds > 0)) throw new RiskInputError("windowSeconds", `must be > 0, got ${windowSeconds}`)
    if (!(sampleSeconds >= 0)) throw new RiskInputError("sampleSeconds", `must be >= 0, got ${sampleSeconds}`)
    if (!(Number.isInteger(minSteps) && minSteps >= 1)) throw new RiskInputError("minSteps", `must be an integer >= 1, got ${minSteps}`)
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
    this.past.push({ t, logPrice: Math.log(price) })
    while (this.past.length > 2 && (this.past[0] as { t: number }).t < t - NOISE.windowSeconds) this.past.shift()
    const newest = t
    while (this.seen.length > this.minSteps + 1 && (this.seen[1] as { t: number }).t <= newest - this.windowSeconds) this.seen.shift()
  }

  /**
   * The rise of a rebound in progress: the latest recorded step's rate when that step is itself an upward jump
   * (log-return above `max(minJump, threshold x sigma x sqrt(dt / year))`), else 0. The median ({@link drift}) reads a
   * wick's rebound only from its third minute on; a swap boost planned for no rise in a rebound of several percent a
   * minute buys less than its fixed supply by inclusion and reverts (`ActionFailed`). A step within the noise never
   * counts, so calm prices plan no rise. Source of the jump test: the tail calibrator's, mirrored.
   *
   * @param sigma - Annualised volatility the step is judged against (the slow estimate before a wick, so the wick's own
   *   returns do not hide the rebound).
   * @param threshold - Local standard deviations; default {@link REBOUND_JUMP}.threshold.
   * @param minJump - Smallest log-rise counted; default {@link REBOUND_JUMP}.minJump.
   * @returns Annualised log rate (> 0) or 0.
   */
  rebound(sigma: number, threshold: number = REBOUND_JUMP.threshold, minJump: number = REBOUND_JUMP.minJump): number {
    const n = this.seen.length
    if (n < 2) return 0
    const [a, b] = [this.seen[n - 2] as { t: number; logPrice: number }, this.seen[n - 1] as { t: number; logPrice: number }]
    const dt = b.t - a.t
    const r = b.logPrice - a.logPrice
    if (!(dt > 0) || !(r > jumpOver(dt, sigma, threshold, minJump))) return 0
    return (r / dt) * SECONDS_PER_YEAR
  }

  /**
   * Whether one of the latest `steps` steps is a gap: a fall the trend does not explain, its log-return below the median
   * rate of the window's steps before it (0 when there are none) times its length by more than a jump (`max(minJump,
   * threshold x sigma x sqrt(dt / year))`, the mirror of {@link rebound}'s test). The median ({@link drift}) leaves one
   * such step out and still reads the fall before it; a sale planned for that fall in the minute after a gap reverts if
   * the price holds (`SaleExceedsRepayment`, issue 13 x53). So does one planned a minute later, when the gap went on one
   * more minute within the trend and then held (the re-plan after the first sale's shortfall, issue 13 bk54): by default
   * a gap is read for the step that gapped and the one after it. A steady fall (each step near the median) is no gap,
   * however steep.
   *
   * @param sigma - Annualised volatility the step is judged against (the slow estimate, as for {@link rebound}).
   * @param threshold - Local standard deviations; default {@link REBOUND_JUMP}.threshold.
   * @param minJump - Smallest log-fall beyond the trend counted; default {@link REBOUND_JUMP}.minJump.
   * @param read - The latest read (unix seconds, price > 0) when it may not be recorded (a keeper reading every block
   *   keeps one price a minute): if later than the last recorded price, the latest step is from that price to the read
   *   (judged against the median of all recorded steps), so a gap counts from the first block that reads it.
   * @param steps - How many of the latest steps are tested (>= 1); default {@link GAP_STEPS}.
   * @returns True when one of them is such a gap; false with no step to test.
   */
  gapped(sigma: number, threshold: number = REBOUND_JUMP.threshold, minJump: number = REBOUND_JUMP.minJump, read?: { t: number; price: number }, steps: number = GAP_STEPS): boolean {
    const last = this.seen[this.seen.length - 1]
    if (last === undefined) return false
    const points = read !== undefined && read.price > 0 && read.t > last.t ? [...this.seen, { t: read.t, logPrice: Math.log(read.price) }] : this.seen
    // The step ending at points[e], against the median of the recorded steps before it (steps 1 .. e - 1).
    for (let e = points.length - 1; e >= 1 && e >= points.length - steps; e--) {
      const [from, to] = [points[e - 1] as { t: number; logPrice: number }, points[e] as { t: number; logPrice: number }]
      const dt = to.t - from.t
      if (dt > 0 && to.logPrice - from.logPrice - this.medianRate(e - 1) * dt < -jumpOver(dt, sigma, threshold, minJump)) return true
    }
    return false
  }

  /**
   * Whether the price's minute-to-minute noise dominates its trend: the robust scale of the recorded steps' log-returns
   * over the last {@link NOISE}.windowSeconds (1.4826 x their median absolute deviation from their median, each step
   * scaled to one minute by sqrt(60 / its seconds)) above both `minNoise` and `ratio` x the trend's log fall in a
   * minute ({@link drift}). Then the next minute's move is a draw of that noise, not the trend: a sale sized for the
   * trend until inclusion is no likelier to land inside its window (a fixed repayment between its minimum at the
   * inclusion oracle and its output: about `maxSlippageBps` wide) than one sized at the read price, and the band rule's
   * sale, at the read price, is the draw threshold takes (issue 13, helper g54: a fall of -2 %/min with +-3 % a minute).
   * A steady fall, however steep, or a staircase of gaps every minute, has no noise; calm has the trend's scale.
   * The latest step more than `outlier` robust scales from the window's median is a gap inside the noise, not a draw of
   * it (a wick at the end of a noisy fall, bk54): then not noisy, so the gap's rules apply (`withInclusionMargin`).
   *
   * @param minNoise - Least one-minute log scale counted as noise; default {@link NOISE}.minNoise.
   * @param ratio - Times the trend's one-minute fall the scale must exceed; default {@link NOISE}.ratio.
   * @param outlier - Robust scales from the median beyond which the latest step is a gap, not noise; default
   *   {@link NOISE}.outlier.
   * @returns True when noisy; false with fewer than three steps recorded in the window.
   */
  noisy(minNoise: number = NOISE.minNoise, ratio: number = NOISE.ratio, outlier: number = NOISE.outlier): boolean {
    const newest = (this.past[this.past.length - 1] as { t: number } | undefined)?.t ?? 0
    const z = minuteSteps(this.past, newest - NOISE.windowSeconds)
    if (z.length < 3) return false
    const c = median(z)
    const scale = 1.4826 * median(z.map((x) => Math.abs(x - c)))
    if (Math.abs((z[z.length - 1] as number) - c) > outlier * scale) return false
    return scale > minNoise && scale > ratio * Math.abs(this.medianRate(this.seen.length - 1) * 60)
  }

  /**
   * Whether the price is still moving minute to minute: the median of the recorded steps' absolute log-returns over
   * the trend window (each scaled to one minute by sqrt(60 / its seconds)) above `minStep`. {@link noisy} reads its
   * longer window; a price that fell, gapped and then held flat for minutes reads noisy there (the window's steps are
   * the fall's and the flat's) but is not moving (issue 13 stop 56: a tripped guard's exit waits in a noisy fall only
   * while the price moves, engine `exitFragile`).
   *
   * @param minStep - Least median one-minute log step counted as moving; default {@link NOISE}.minMove (0.25 %: a
   *   quarter of the least noise; x52's flat price moves 0.01 % a minute, bk53's noisy fall seed 26 had five quiet
   *   minutes of 0.54 % before its next -4.5 %).
   * @returns True when moving; false with no step recorded.
   */
  moving(minStep: number = NOISE.minMove): boolean {
    const steps = minuteSteps(this.seen, Number.NEGATIVE_INFINITY).map(Math.abs)
    return steps.length > 0 && median(steps) > minStep
  }

  /** @returns The annualised log drift: the median over the window of ln(p_i / p_{i-1}) / (t_i - t_{i-1}) x seconds per year; 0 with fewer than two observations. */
  drift(): number {
    return this.medianRate(this.seen.length - 1) * SECONDS_PER_YEAR
  }

  /** The median log rate (per second) of the first `steps` recorded steps (consecutive prices); 0 with none. */
  private medianRate(steps: number): number {
    const rates: number[] = []
    for (let i = 1; i <= steps && i < this.seen.length; i++) {
      const [a, b] = [this.seen[i - 1] as { t: number; logPrice: number }, this.seen[i] as { t: number; logPrice: number }]
      rates.push((b.logPrice - a.logPrice) / (b.t - a.t))
    }
    return rates.length === 0 ? 0 : median(rates)
  }
}

/**
 * The log-returns of consecutive `points` whose first point is at or after `from` (unix seconds), each scaled to one
 * minute by sqrt(60 / its seconds), oldest first ({@link TrendEstimator.noisy}, {@link TrendEstimator.moving}).
 */
function minuteSteps(points: readonly { t: number; logPrice: number }[], from: number): number[] {
  const z: number[] = []
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1] as { t: number; logPrice: number }, points[i] as { t: number; logPrice: number }]
    if (a.t >= from) z.push((b.logPrice - a.logPrice) * Math.sqrt(60 / (b.t - a.t)))
  }
  return z
}

/** The median of `xs` (non-empty); `xs` is not modified. */
function median(xs: number[]): number {
  const r = [...xs].sort((x, y) => x - y)
  const mid = r.length >> 1
  return r.length % 2 === 1 ? (r[mid] as number) : 0.5 * ((r[mid - 1] as number) + (r[mid] as number))
}

/** The least log move over `dt` seconds counted as a jump: `max(minJump, threshold x sigma x sqrt(dt / year))` ({@link TrendEstimator.rebound}, {@link TrendEstimator.gapped}). */
function jumpOver(dt: number, sigma: number, threshold: number, minJump: number): number {
  return Math.max(minJump, threshold * Math.max(0, sigma) * Math.sqrt(dt / SECONDS_PER_YEAR))
}
