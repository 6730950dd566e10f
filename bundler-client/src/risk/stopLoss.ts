import { RiskInputError } from "./errors.js"

/**
 * The owner's stop-loss: a drawdown of the account's net value from its high-water mark beyond `maxDrawdown` trips
 * it; it resets once the drawdown is back under `maxDrawdown x resetFraction` (hysteresis, so one noisy price does not
 * flip it). While tripped the autopilot reduces exposure (swap deleverage to the top of the allowed band) instead of
 * adding margin, and does not boost.
 */
export class DrawdownGuard {
  private peak = Number.NEGATIVE_INFINITY
  private current = 0
  private isTripped = false

  /**
   * @param maxDrawdown - Loss from the high-water mark that trips the guard, fraction in (0, 1).
   * @param resetFraction - The guard resets below `maxDrawdown x resetFraction`; default 0.5.
   * @throws {RiskInputError} When `maxDrawdown` is outside (0, 1) or `resetFraction` outside [0, 1].
   */
  constructor(
    readonly maxDrawdown: number,
    readonly resetFraction = 0.5,
  ) {
    if (!(maxDrawdown > 0 && maxDrawdown < 1)) throw new RiskInputError("stopLoss", `must be in (0, 1), got ${maxDrawdown}`)
    if (!(resetFraction >= 0 && resetFraction <= 1)) throw new RiskInputError("resetFraction", `must be in [0, 1], got ${resetFraction}`)
  }

  /**
   * Feed the account's net value.
   *
   * @param netValue - Net value in loan units (any sign).
   * @returns Whether the guard is tripped after this value.
   */
  update(netValue: number): boolean {
    if (netValue > this.peak) this.peak = netValue
    this.current = this.peak > 0 ? Math.max(0, 1 - netValue / this.peak) : 0
    if (this.current >= this.maxDrawdown) this.isTripped = true
    else if (this.current < this.maxDrawdown * this.resetFraction) this.isTripped = false
    return this.isTripped
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
