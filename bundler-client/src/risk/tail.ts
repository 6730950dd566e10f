import { RiskInputError } from "./errors.js"
import { healthForTolerance, SECONDS_PER_YEAR } from "./firstPassage.js"
import type { JumpParameters, RiskModel } from "./firstPassage.js"

/**
 * Instantaneous drop an autopilot position survives when its policy names none: the drop a position resting at the
 * policy's target health survives, `1 - 1 / targetHealth` (28.6 % at 1.4). So wherever the threshold strategy (which
 * rests at the target) survives a sudden drop, the autopilot does too.
 *
 * @param targetHealth - The policy's target health (> 1).
 * @returns The drop as a fraction (0 for a target at or below 1).
 * @example defaultTailDrop(1.4) // 0.2857
 */
export function defaultTailDrop(targetHealth: number): number {
  return targetHealth > 1 ? 1 - 1 / targetHealth : 0
}

/** Seconds from a price move to the keeper's rebalance landing, when the risk model names none. */
export const DEFAULT_REACTION_SECONDS = 60

/** Upper bound of {@link TailCalibrator.largestDrop}: a 99.9999 % fall (a factor 1e6 between two prices). */
export const MAX_LARGEST_DROP = 1 - 1e-6

/** Standard deviations of diffusion over the reaction time that the tail floor adds on top of the drop. */
export const TAIL_DEVIATIONS = 3

/**
 * The tail of a risk model: the largest instantaneous drop seen in the price history (never decays after calm
 * hours) and the time the keeper needs to react (poll interval + inclusion latency).
 */
export type TailModel = {
  /** Largest drop (fraction, 0.25 = -25 %) within one reaction window seen so far; the policy's `tailDrop` is a floor. */
  drop?: number | undefined
  /** Seconds from a move to the rebalance landing on chain (keeper poll interval + inclusion latency). */
  reactionSeconds?: number | undefined
}

/**
 * Lowest health that survives an instantaneous drop of `max(policyDrop, model.tail.drop)` and then
 * `TAIL_DEVIATIONS` standard deviations of diffusion while the keeper reacts:
 * `h = exp(TAIL_DEVIATIONS * sigma * sqrt(reactionSeconds / year)) / (1 - drop)`.
 * It does not depend on the recent calm: the drop comes from the policy and from the largest move in the history.
 *
 * @param model - Volatility (annualised) and optional tail (drop, reaction seconds).
 * @param policyDrop - The policy's "survive an instantaneous drop of X" (fraction in [0, 1); see {@link defaultTailDrop}).
 * @returns The floor health (> 1 when the drop or sigma is positive).
 * @throws {RiskInputError} When the drop is outside [0, 1) or the reaction time is negative.
 * @example tailFloorHealth({ sigma: 0.6 }, 0.3) // ~1.432
 */
export function tailFloorHealth(model: RiskModel, policyDrop: number): number {
  const drop = Math.max(policyDrop, model.tail?.drop ?? 0)
  if (!(drop >= 0 && drop < 1)) throw new RiskInputError("tailDrop", `must be in [0, 1), got ${drop}`)
  const reaction = model.tail?.reactionSeconds ?? DEFAULT_REACTION_SECONDS
  if (!(reaction >= 0)) throw new RiskInputError("reactionSeconds", `must be >= 0, got ${reaction}`)
  return Math.exp(TAIL_DEVIATIONS * model.sigma * Math.sqrt(reaction / SECONDS_PER_YEAR)) / (1 - drop)
}

/**
 * The autopilot's risk health: the larger of the lowest health whose liquidation probability within the horizon
 * is at most `tolerance` ({@link healthForTolerance}, diffusion + jumps) and the {@link tailFloorHealth}.
 *
 * @param tolerance - Acceptable liquidation probability in (0, 1).
 * @param model - Volatility, drift, jumps and tail.
 * @param horizonYears - Horizon of the probability in years.
 * @param policyDrop - The policy's tail drop ({@link defaultTailDrop} of the target when the policy names none).
 * @returns The health the autopilot may not rest below.
 * @throws {RiskInputError} On a tolerance outside (0, 1) or an invalid tail.
 */
export function autopilotRiskHealth(tolerance: number, model: RiskModel, horizonYears: number, policyDrop: number): number {
  return Math.max(healthForTolerance(tolerance, model, horizonYears), tailFloorHealth(model, policyDrop))
}

/**
 * The autopilot's tail floor for a policy ({@link tailFloorHealth}): with a `tailDrop` named, `tailFloorHealth(model,
 * tailDrop)`; without one, the larger of the policy's target and `tailFloorHealth(model, 0)` (the largest drop seen in
 * the path's own history, `model.tail.drop`, with the keeper's reaction on top). The default drop is what a position
 * resting at the target survives ({@link defaultTailDrop}), and threshold lands at the target: a default floor above it
 * by the reaction term alone (x 1.0049 at sigma 0.6, 84 s) landed the autopilot a little higher than threshold at every
 * rescue of a slow bleed, so under the same band trigger its next rescue came an oracle step or more after threshold's,
 * and a wick in that lag caught it at the band's floor while threshold had just re-landed at the target (review rr13u
 * U2). Landing at the target itself unless its risk model asks for more keeps the two in step.
 *
 * @param model - Volatility (annualised) and optional tail (drop seen, reaction seconds).
 * @param policy - `tailDrop` (optional, fraction in [0, 1)) and `targetHealth`.
 * @returns The floor health.
 * @throws {RiskInputError} As {@link tailFloorHealth}.
 * @example policyTailFloorHealth({ sigma: 0.6 }, { targetHealth: 1.4 }) // 1.4
 */
export function policyTailFloorHealth(model: RiskModel, policy: { tailDrop?: number | undefined; targetHealth: number }): number {
  if (policy.tailDrop !== undefined) return tailFloorHealth(model, policy.tailDrop)
  return Math.max(policy.targetHealth, tailFloorHealth(model, 0))
}

/**
 * {@link autopilotRiskHealth} with the policy's floor ({@link policyTailFloorHealth}): the larger of the lowest health
 * whose liquidation probability within the horizon is at most `tolerance` and that floor.
 *
 * @param tolerance - Acceptable liquidation probability in (0, 1).
 * @param model - Volatility, drift, jumps and tail.
 * @param horizonYears - Horizon of the probability in years.
 * @param policy - `tailDrop` (optional) and `targetHealth`.
 * @returns The health the autopilot aims for at least.
 * @throws {RiskInputError} On a tolerance outside (0, 1) or an invalid tail.
 */
export function policyRiskHealth(tolerance: number, model: RiskModel, horizonYears: number, policy: { tailDrop?: number | undefined; targetHealth: number }): number {
  return Math.max(healthForTolerance(tolerance, model, horizonYears), policyTailFloorHealth(model, policy))
}

/** Settings of a {@link TailCalibrator}. */
export type TailCalibratorParameters = {
  /** Window (seconds) a move must happen within to count as instantaneous: the keeper's reaction time. */
  windowSeconds: number
  /** Jump prior (Merton), or undefined for none: the calibrated jumps start from it. */
  prior?: JumpParameters | undefined
  /** Weight of the prior, in years of observation (its pseudo-count is `prior.intensity * priorYears` jumps). Default 0.1. */
  priorYears?: number | undefined
  /** A return is a jump when it falls below `-max(minJump, threshold * sigma * sqrt(dt))`. Default 4. */
  threshold?: number | undefined
  /** Smallest log-drop counted as a jump. Default 0.02. */
  minJump?: number | undefined
}

/**
 * Calibrates the tail from a price history, without forgetting: the largest drop within the reaction window seen
 * so far, and Merton jump parameters whose intensity and size are the prior's pseudo-observations pooled with every
 * downward jump observed (a count over the whole history, not an average that decays during calm hours).
 */
export class TailCalibrator {
  private readonly window: number
  private readonly prior: JumpParameters | undefined
  private readonly priorYears: number
  private readonly threshold: number
  private readonly minJump: number
  private readonly times: number[] = []
  private readonly logs: number[] = []
  private head = 0
  private first: number | undefined
  private last: number | undefined
  private worst = 0
  private count = 0
  private sum = 0
  private sumSquares = 0

  /** @param params - Window, prior and jump threshold. */
  constructor(params: TailCalibratorParameters) {
    if (!(params.windowSeconds > 0)) throw new RiskInputError("windowSeconds", `must be > 0, got ${params.windowSeconds}`)
    this.window = params.windowSeconds
    this.prior = params.prior
    this.priorYears = params.priorYears ?? 0.1
    this.threshold = params.threshold ?? 4
    this.minJump = params.minJump ?? 0.02
  }

  /**
   * Feed one price.
   *
   * @param time - Unix seconds (increasing).
   * @param price - Price (> 0).
   * @param sigma - Annualised volatility estimate before this price (classifies the return as a jump or not).
   */
  observe(time: number, price: number, sigma: number): void {
    const x = Math.log(price)
    if (this.last !== undefined) {
      const dt = time - this.last
      const previous = this.logs[this.logs.length - 1] as number
      const r = x - previous
      if (dt > 0 && r < -Math.max(this.minJump, this.threshold * sigma * Math.sqrt(dt / SECONDS_PER_YEAR))) {
        this.count++
        this.sum += r
        this.sumSquares += r * r
      }
    }
    this.first ??= time
    this.last = time
    while (this.head < this.times.length && time - (this.times[this.head] as number) > this.window) this.head++
    while (this.logs.length > this.head && (this.logs[this.logs.length - 1] as number) <= x) {
      this.logs.pop()
      this.times.pop()
    }
    const peak = this.head < this.logs.length ? (this.logs[this.head] as number) : x
    if (peak - x > this.worst) this.worst = peak - x
    this.times.push(time)
    this.logs.push(x)
    if (this.head > 1024) {
      this.times.splice(0, this.head)
      this.logs.splice(0, this.head)
      this.head = 0
    }
  }

  /**
   * @returns The largest drop (fraction) within one window seen so far; 0 before any drop. Below 1 (at most
   *   {@link MAX_LARGEST_DROP}) however large the fall: a drop of a factor 1e18 rounds to 1 (review rr13u U5b), which
   *   the tail floor refuses.
   */
  largestDrop(): number {
    return Math.min(-Math.expm1(-this.worst), MAX_LARGEST_DROP)
  }

  /** @returns Downward jumps counted so far. */
  jumpCount(): number {
    return this.count
  }

  /**
   * Jump parameters pooled from the prior and the history: intensity `(prior.intensity * priorYears + n) / (priorYears
   * + years observed)`, log-size mean and variance pooled the same way (the prior counts as `prior.intensity *
   * priorYears` observations).
   *
   * @returns The calibrated jumps, or undefined without prior and without any jump seen.
   */
  jumps(): JumpParameters | undefined {
    const years = this.first === undefined || this.last === undefined ? 0 : (this.last - this.first) / SECONDS_PER_YEAR
    const priorCount = this.prior === undefined ? 0 : this.prior.intensity * this.priorYears
    const n = priorCount + this.count
    if (n <= 0) return undefined
    const priorYears = this.prior === undefined ? 0 : this.priorYears
    const mean = ((this.prior?.meanLog ?? 0) * priorCount + this.sum) / n
    const second = (priorCount * ((this.prior?.sigmaLog ?? 0) ** 2 + (this.prior?.meanLog ?? 0) ** 2) + this.sumSquares) / n
    const intensity = n / Math.max(priorYears + years, 1 / 365.25)
    return { intensity, meanLog: mean, sigmaLog: Math.sqrt(Math.max(second - mean * mean, 0)) }
  }
}
