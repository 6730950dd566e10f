import { describe, expect, it } from "vitest"
import { DrawdownGuard } from "./stopLoss.js"

describe("DrawdownGuard", () => {
  it("trips at the drawdown from the high-water mark and resets below half of it", () => {
    const g = new DrawdownGuard(0.2)
    expect(g.update(100)).toBe(false)
    expect(g.update(120)).toBe(false)
    expect(g.update(97)).toBe(false)
    expect(g.drawdown()).toBeCloseTo(1 - 97 / 120, 12)
    expect(g.update(95)).toBe(true)
    expect(g.update(105)).toBe(true)
    expect(g.update(109)).toBe(false)
    expect(g.tripped()).toBe(false)
  })

  it("names a bad limit", () => {
    expect(() => new DrawdownGuard(0)).toThrow(/"stopLoss": must be in \(0, 1\)/)
    expect(() => new DrawdownGuard(0.2, 2)).toThrow(/resetFraction/)
  })
})
