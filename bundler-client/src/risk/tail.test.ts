import { describe, expect, it } from "vitest"
import { healthForTolerance, SECONDS_PER_YEAR } from "./firstPassage.js"
import { Rng } from "./rng.js"
import { autopilotRiskHealth, defaultTailDrop, policyRiskHealth, policyTailFloorHealth, TailCalibrator, tailFloorHealth, TAIL_DEVIATIONS } from "./tail.js"

describe("tailFloorHealth", () => {
  it("survives the drop, then TAIL_DEVIATIONS sigma of diffusion over the reaction time", () => {
    const h = tailFloorHealth({ sigma: 0.6, tail: { reactionSeconds: 84 } }, 0.3)
    expect(h).toBeCloseTo(Math.exp(TAIL_DEVIATIONS * 0.6 * Math.sqrt(84 / SECONDS_PER_YEAR)) / 0.7, 12)
    expect(h * (1 - 0.3)).toBeGreaterThan(1)
  })

  it("uses the larger of the policy's drop and the largest drop in the history", () => {
    expect(tailFloorHealth({ sigma: 0, tail: { drop: 0.4 } }, 0.3)).toBeCloseTo(1 / 0.6, 12)
    expect(tailFloorHealth({ sigma: 0, tail: { drop: 0.1 } }, 0.3)).toBeCloseTo(1 / 0.7, 12)
  })

  it("defaults the drop to what a position at the target survives", () => {
    expect(defaultTailDrop(1.4)).toBeCloseTo(1 - 1 / 1.4, 12)
    expect(tailFloorHealth({ sigma: 0 }, defaultTailDrop(1.4))).toBeCloseTo(1.4, 12)
    expect(defaultTailDrop(1)).toBe(0)
  })

  it("never falls when sigma, drop or reaction time rise", () => {
    let last = 0
    for (const sigma of [0, 0.1, 0.5, 1, 3]) {
      const h = tailFloorHealth({ sigma }, 0.2)
      expect(h).toBeGreaterThanOrEqual(last)
      last = h
    }
    expect(tailFloorHealth({ sigma: 1, tail: { reactionSeconds: 600 } }, 0.2)).toBeGreaterThan(tailFloorHealth({ sigma: 1, tail: { reactionSeconds: 60 } }, 0.2))
  })

  it("names the bad input", () => {
    expect(() => tailFloorHealth({ sigma: 0.5 }, 1)).toThrow(/"tailDrop": must be in \[0, 1\)/)
    expect(() => tailFloorHealth({ sigma: 0.5, tail: { reactionSeconds: -1 } }, 0.2)).toThrow(/"reactionSeconds"/)
  })

  it("the autopilot's risk health is never below the floor nor the tolerance health, however calm", () => {
    for (const sigma of [0.01, 0.05, 0.6, 2]) {
      const model = { sigma, tail: { reactionSeconds: 84 } }
      const h = autopilotRiskHealth(0.01, model, 1 / 365, 0.3)
      expect(h).toBeGreaterThanOrEqual(tailFloorHealth(model, 0.3))
      expect(h).toBeGreaterThanOrEqual(healthForTolerance(0.01, model, 1 / 365))
      expect(h).toBeGreaterThan(1 / 0.7)
    }
  })
})

describe("policyTailFloorHealth (f13n, review rr13u U2)", () => {
  it("without a tailDrop: the target itself unless the drop seen in the history (with the reaction) asks for more", () => {
    const model = { sigma: 0.6, tail: { reactionSeconds: 84 } }
    // The reaction term alone no longer lifts the default floor above the target (threshold's landing).
    expect(tailFloorHealth(model, defaultTailDrop(1.4))).toBeGreaterThan(1.4)
    expect(policyTailFloorHealth(model, { targetHealth: 1.4 })).toBe(1.4)
    // A drop seen in the history still counts, with the keeper's reaction on top.
    const seen = { sigma: 0.6, tail: { reactionSeconds: 84, drop: 0.35 } }
    expect(policyTailFloorHealth(seen, { targetHealth: 1.4 })).toBeCloseTo(tailFloorHealth(seen, 0), 12)
    expect(policyTailFloorHealth(seen, { targetHealth: 1.4 })).toBeGreaterThan(1 / 0.65)
  })
  it("with a tailDrop: tailFloorHealth of it, unchanged", () => {
    const model = { sigma: 0.6, tail: { reactionSeconds: 84 } }
    expect(policyTailFloorHealth(model, { targetHealth: 1.4, tailDrop: 0.3 })).toBe(tailFloorHealth(model, 0.3))
    expect(policyTailFloorHealth(model, { targetHealth: 1.4, tailDrop: 0 })).toBe(tailFloorHealth(model, 0))
  })
  it("the risk health is the larger of the tolerance health and that floor", () => {
    for (const sigma of [0.01, 0.6, 3]) {
      const model = { sigma, tail: { reactionSeconds: 84 } }
      const h = policyRiskHealth(0.001, model, 1 / 365, { targetHealth: 1.4 })
      expect(h).toBe(Math.max(healthForTolerance(0.001, model, 1 / 365), 1.4))
    }
  })
})

describe("TailCalibrator", () => {
  const calm = (c: TailCalibrator, from: number, n: number, price: number, rng: Rng): void => {
    for (let i = 0; i < n; i++) c.observe(from + 60 * i, price * (1 + 0.0005 * rng.normal()), 0.3)
  }

  it("records a one-minute wick as the largest drop and does not forget it after calm days", () => {
    const rng = new Rng(1)
    const c = new TailCalibrator({ windowSeconds: 84 })
    calm(c, 0, 360, 3000, rng)
    expect(c.largestDrop()).toBeLessThan(0.005)
    c.observe(360 * 60, 2250, 0.3)
    expect(c.largestDrop()).toBeCloseTo(0.25, 2)
    calm(c, 361 * 60, 3 * 1440, 2990, rng)
    expect(c.largestDrop()).toBeCloseTo(0.25, 2)
  })

  it("does not count a fall spread over more than the reaction window as instantaneous", () => {
    const c = new TailCalibrator({ windowSeconds: 84 })
    for (let i = 0; i <= 60; i++) c.observe(60 * i, 3000 * Math.exp((Math.log(0.7) * i) / 60), 0.6)
    expect(c.largestDrop()).toBeLessThan(0.02)
    expect(c.largestDrop()).toBeGreaterThan(0.005)
  })

  it("pools observed jumps with the prior: a -25 % jump raises the intensity and deepens the mean size, and they do not decay", () => {
    const prior = { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 }
    const c = new TailCalibrator({ windowSeconds: 84, prior, priorYears: 0.1 })
    const rng = new Rng(2)
    calm(c, 0, 1440, 3000, rng)
    const before = c.jumps()!
    expect(before.meanLog).toBeCloseTo(-0.04, 9)
    expect(c.jumpCount()).toBe(0)
    c.observe(1440 * 60, 2250, 0.3)
    calm(c, 1441 * 60, 1440, 2250, rng)
    const after = c.jumps()!
    expect(c.jumpCount()).toBe(1)
    expect(after.intensity).toBeGreaterThan(before.intensity)
    expect(after.meanLog).toBeLessThan(-0.08)
    expect(after.sigmaLog).toBeGreaterThan(0.04)
    expect(new TailCalibrator({ windowSeconds: 84 }).jumps()).toBeUndefined()
  })
})
