import { RiskInputError } from "./errors.js"

/**
 * Seconds a drawdown past the stop-loss must hold before it trips, when the policy names none: 0, the first value past
 * the limit trips it (what a flash wick does to the guard is undone by the recovery re-arm, see {@link DrawdownGuard}).
 */
export const DEFAULT_STOP_LOSS_CONFIRM_SECONDS = 0

/** Settings of a {@link DrawdownGuard} besides its limit. */
export type DrawdownGuardOptions = {
  /** The guard resets below `maxDrawdown x resetFraction`, fraction in [0, 1]; default 0.5. */
  resetFraction?: number | undefined
  /**
   * Seconds the drawdown must stay at or past `maxDrawdown`, at every value fed, before the guard trips (a confirmed
   * move, not a one-minute wick); default {@link DEFAULT_STOP_LOSS_CONFIRM_SECONDS}; 0 trips on the first value past it.
   */
  confirmSeconds?: number | undefined
}

/**
 * The owner's stop-loss: a drawdown of the account's net value from its high-water mark of `maxDrawdown` or more (held
 * for `confirmSeconds`, 0 by default) trips it. While tripped the autopilot reduces exposure (swap deleverage to the top
 * of the allowed band) instead of adding margin, and does not boost. It re-arms (hysteresis both ways):
 * - when the drawdown is back under `maxDrawdown x resetFraction` (the loss has healed), or
 * - when the net value has risen `maxDrawdown x resetFraction` above its lowest point since the trip: the high-water mark
 *   then restarts from the current value. A flash wick that tripped it at its bottom, where a rescue had to sell collateral
 *   (or a liquidation seized some), leaves a realised loss, so the first rule alone would never re-arm it and the account
 *   would stay out of the recovery for good, a recovering wick turned into a locked-in loss. A grind or a crash does not
 *   bounce that far from its trough, so there it stays tripped.
 * After a liquidation has repaid the whole debt there is no exposure left to cut: {@link DrawdownGuard.rebase} restarts
 * the high-water mark from what is left.
 */
export class DrawdownGuard {
  private peak = Number.NEGATIVE_INFINITY
  private current = 0
  private isTripped = false
  /** Time the drawdown last went past `maxDrawdown` (undefined while it is not past it). */
  private breachSince: number | undefined
  /** Lowest net value since the guard tripped. */
  private trough = Number.POSITIVE_INFINITY
  readonly resetFraction: number
  readonly confirmSeconds: number

  /**
   * @param maxDrawdown - Loss from the high-water mark that trips the guard, fraction in (0, 1).
   * @param options - Reset fraction and confirmation time.
   * @throws {RiskInputError} When `maxDrawdown` is outside (0, 1), `resetFraction` outside [0, 1] or `confirmSeconds` negative.
   */
  constructor(
    readonly maxDrawdown: number,
    options: DrawdownGuardOptions = {},
  ) {
    this.resetFraction = options.resetFraction ?? 0.5
    this.confirmSeconds = options.confirmSeconds ?? DEFAULT_STOP_LOSS_CONFIRM_SECONDS
    if (!(maxDrawdown > 0 && maxDrawdown < 1)) throw new RiskInputError("stopLoss", `must be in (0, 1), got ${maxDrawdown}`)
    if (!(this.resetFraction >= 0 && this.resetFraction <= 1)) throw new RiskInputError("resetFraction", `must be in [0, 1], got ${this.resetFraction}`)
    if (!(this.confirmSeconds >= 0)) throw new RiskInputError("stopLossConfirmSeconds", `must be >= 0 seconds, got ${this.confirmSeconds}`)
  }

  /**
   * Feed the account's net value.
   *
   * @param time - Unix seconds (non-decreasing).
   * @param netValue - Net value in loan units (any sign).
   * @returns Whether the guard is tripped after this value.
   */
  update(time: number, netValue: number): boolean {
    if (netValue > this.peak) this.peak = netValue
    this.current = this.peak > 0 ? Math.max(0, 1 - netValue / this.peak) : 0
    if (this.isTripped) {
      if (netValue < this.trough) this.trough = netValue
      if (this.current < this.maxDrawdown * this.resetFraction) this.isTripped = false
      else if (this.trough > 0 && netValue >= this.trough * (1 + this.maxDrawdown * this.resetFraction)) this.rebase(netValue)
      return this.isTripped
    }
    if (this.current >= this.maxDrawdown) {
      this.breachSince ??= time
      if (time - this.breachSince >= this.confirmSeconds) {
        this.isTripped = true
        this.trough = netValue
      }
    } else this.breachSince = undefined
    return this.isTripped
  }

  /**
   * Restart from `netValue` as the high-water mark, untripped: the exposure the guard watched is gone (a liquidation
   * repaid the whole debt), its loss realised.
   *
   * @param netValue - Net value now, loan units.
   */
  rebase(netValue: number): void {
    this.peak = netValue
    this.current = 0
    this.isTripped = false
    this.breachSince = undefined
    this.trough = Number.POSITIVE_INFINITY
  }

  /** @returns The drawdown from the high-water mark after the last update, fraction. */
  drawdown(): number {
    return this.current
  }

  /** @returns Whether the guard is tripped. */
  tripped(): boolean {
    return this.isTripped
  }
}
