import { describe, expect, it } from "vitest"
import { firstPassageProbability, healthForTolerance, jumpCrossingProbability, liquidationProbability } from "./firstPassage.js"
import { simulateFirstPassage } from "./jumpDiffusion.js"
import { normalCdf } from "./normal.js"

describe("normalCdf", () => {
  it("matches reference values", () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7)
    expect(normalCdf(1.959963985)).toBeCloseTo(0.975, 6)
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316, 8)
  })
})

describe("firstPassageProbability", () => {
  it("is twice the terminal tail without drift correction when nu = 0", () => {
    const sigma = 0.5
    const p = firstPassageProbability(0.1, sigma, 0.5 * sigma * sigma, 1)
    expect(p).toBeCloseTo(2 * normalCdf(-0.1 / sigma), 6)
  })

  it("is 1 at or below the barrier and 0 for a zero horizon", () => {
    expect(firstPassageProbability(0, 0.5, 0, 1)).toBe(1)
    expect(firstPassageProbability(0.1, 0.5, 0, 0)).toBe(0)
  })

  it("stays finite and in [0, 1] for extreme drifts", () => {
    for (const drift of [-50, -5, 0, 5, 50]) {
      for (const d of [1e-6, 0.01, 0.5, 3]) {
        const p = firstPassageProbability(d, 0.05, drift, 2)
        expect(p).toBeGreaterThanOrEqual(0)
        expect(p).toBeLessThanOrEqual(1)
      }
    }
  })

  it("agrees with the Monte Carlo within 3 standard errors on a grid of sigma, drift, distance and horizon", () => {
    const paths = 20_000
    let seed = 1
    const failures: string[] = []
    for (const sigma of [0.3, 0.8, 1.6]) {
      for (const drift of [-1, 0, 1]) {
        for (const horizonYears of [1 / 365, 7 / 365]) {
          for (const k of [0.5, 1.5, 3]) {
            const logDistance = k * sigma * Math.sqrt(horizonYears)
            const closed = firstPassageProbability(logDistance, sigma, drift, horizonYears)
            const mc = simulateFirstPassage({ paths, steps: 24, horizonYears, sigma, drift, logDistance, seed: seed++ })
            const se = Math.sqrt((closed * (1 - closed)) / paths)
            if (Math.abs(mc.probability - closed) > 3 * se + 1e-12)
              failures.push(`sigma=${sigma} drift=${drift} T=${horizonYears} d=${logDistance}: closed ${closed} mc ${mc.probability} se ${se}`)
          }
        }
      }
    }
    expect(failures).toEqual([])
  })
})

describe("liquidationProbability and healthForTolerance", () => {
  const model = { sigma: 0.7 }
  const horizon = 1 / 365

  it("decreases as health rises", () => {
    let last = 1
    for (let h = 1.001; h < 1.5; h += 0.01) {
      const p = liquidationProbability(h, model, horizon)
      expect(p).toBeLessThanOrEqual(last)
      last = p
    }
  })

  it("returns the lowest health whose probability meets the tolerance", () => {
    for (const tolerance of [1e-4, 1e-3, 0.01, 0.1]) {
      const h = healthForTolerance(tolerance, model, horizon)
      expect(liquidationProbability(h, model, horizon)).toBeLessThanOrEqual(tolerance)
      expect(liquidationProbability(h * (1 - 1e-6), model, horizon)).toBeGreaterThan(tolerance)
    }
  })

  it("asks for more health when volatility, horizon or jump risk grows", () => {
    const base = healthForTolerance(0.01, model, horizon)
    expect(healthForTolerance(0.01, { sigma: 1.2 }, horizon)).toBeGreaterThan(base)
    expect(healthForTolerance(0.01, model, 7 * horizon)).toBeGreaterThan(base)
    expect(healthForTolerance(0.01, { sigma: 0.7, jumps: { intensity: 20, meanLog: -0.1, sigmaLog: 0.05 } }, horizon)).toBeGreaterThan(base)
  })

  it("combines the jump crossing with the diffusion as independent events", () => {
    const jumps = { intensity: 12, meanLog: -0.08, sigmaLog: 0.04 }
    const h = 1.1
    const pd = liquidationProbability(h, model, horizon)
    const pj = jumpCrossingProbability(Math.log(h), jumps, horizon)
    expect(liquidationProbability(h, { ...model, jumps }, horizon)).toBeCloseTo(1 - (1 - pd) * (1 - pj), 12)
  })
})
