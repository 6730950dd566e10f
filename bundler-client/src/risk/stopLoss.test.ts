import { describe, expect, it } from "vitest"
import { DEFAULT_STOP_LOSS_CONFIRM_SECONDS, DrawdownGuard } from "./stopLoss.js"

describe("DrawdownGuard", () => {
  it("trips at the drawdown from the high-water mark and resets below half of it", () => {
    const g = new DrawdownGuard(0.2)
    expect(g.confirmSeconds).toBe(DEFAULT_STOP_LOSS_CONFIRM_SECONDS)
    expect(g.update(0, 100)).toBe(false)
    expect(g.update(60, 120)).toBe(false)
    expect(g.update(120, 97)).toBe(false)
    expect(g.drawdown()).toBeCloseTo(1 - 97 / 120, 12)
    expect(g.update(180, 95)).toBe(true)
    expect(g.update(240, 104)).toBe(true)
    expect(g.update(300, 109)).toBe(false)
    expect(g.tripped()).toBe(false)
  })

  it("re-arms on a recovery from the trough (a wick whose loss was realised at its bottom): up maxDrawdown x resetFraction, from there as the new high-water mark", () => {
    const g = new DrawdownGuard(0.3)
    g.update(0, 100)
    // The wick's bottom: tripped; a sale there realises the loss, so the old high-water mark is out of reach.
    expect(g.update(60, 40)).toBe(true)
    expect(g.update(120, 38)).toBe(true)
    // Up 14 % from the trough of 38: still tripped (hysteresis).
    expect(g.update(180, 43.3)).toBe(true)
    // Up 15 %: re-armed from 43.7, no longer tripped though 56 % below the old high-water mark.
    expect(g.update(240, 38 * 1.15)).toBe(false)
    expect(g.drawdown()).toBe(0)
    expect(g.update(300, 50)).toBe(false)
    // A new 30 % drawdown, from the new high-water mark (50), trips it again.
    expect(g.update(360, 36)).toBe(false)
    expect(g.update(420, 35)).toBe(true)
  })

  it("a grind with no recovery of 15 % from its trough stays tripped", () => {
    const g = new DrawdownGuard(0.3)
    g.update(0, 100)
    let v = 100
    let t = 0
    for (let step = 0; step < 10; step++) {
      v *= 0.9
      t += 1800
      g.update(t, v)
      // Bounces of 10 % between the steps.
      g.update(t + 600, v * 1.1)
    }
    expect(g.tripped()).toBe(true)
  })

  it("with confirmSeconds, trips only on a drawdown that holds: a wick back inside the limit before it never trips it", () => {
    const g = new DrawdownGuard(0.3, { confirmSeconds: 3600 })
    g.update(0, 100)
    // A one-minute wick to -60 % that recovers within five minutes.
    expect(g.update(60, 40)).toBe(false)
    expect(g.update(120, 55)).toBe(false)
    expect(g.update(300, 98)).toBe(false)
    // A fall that holds from t = 1,000: tripped once it has held for an hour, not a second before.
    expect(g.update(1_000, 65)).toBe(false)
    expect(g.update(1_000 + 3_599, 60)).toBe(false)
    // A value back inside the limit restarts the clock.
    expect(g.update(1_000 + 3_600, 71)).toBe(false)
    expect(g.update(5_000, 69)).toBe(false)
    expect(g.update(5_000 + 3_600, 69)).toBe(true)
  })

  it("rebase restarts the high-water mark from the value left (a liquidation repaid the whole debt), untripped", () => {
    const g = new DrawdownGuard(0.3)
    g.update(0, 100)
    expect(g.update(60, 15)).toBe(true)
    g.rebase(15)
    expect(g.tripped()).toBe(false)
    expect(g.drawdown()).toBe(0)
    expect(g.update(180, 16.5)).toBe(false)
    expect(g.update(240, 11.5)).toBe(true)
    expect(g.drawdown()).toBeCloseTo(1 - 11.5 / 16.5, 12)
  })

  it("names a bad limit", () => {
    expect(() => new DrawdownGuard(0)).toThrow(/"stopLoss": must be in \(0, 1\)/)
    expect(() => new DrawdownGuard(0.2, { resetFraction: 2 })).toThrow(/resetFraction/)
    expect(() => new DrawdownGuard(0.2, { confirmSeconds: -1 })).toThrow(/"stopLossConfirmSeconds": must be >= 0/)
  })
})
