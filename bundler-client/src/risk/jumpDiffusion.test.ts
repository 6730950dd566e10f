import { describe, expect, it } from "vitest"
import { simulateFirstPassage } from "./jumpDiffusion.js"
import { liquidationProbability } from "./firstPassage.js"
import { Rng } from "./rng.js"

describe("Rng", () => {
  it("is reproducible for a seed and produces standard normals", () => {
    const a = new Rng(42)
    const b = new Rng(42)
    for (let i = 0; i < 100; i++) expect(a.nextUint32()).toBe(b.nextUint32())
    const r = new Rng(7)
    let sum = 0
    let sq = 0
    const n = 200_000
    for (let i = 0; i < n; i++) {
      const z = r.normal()
      sum += z
      sq += z * z
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01)
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.01)
  })
})

describe("simulateFirstPassage", () => {
  it("is reproducible for a seed", () => {
    const params = { paths: 2000, steps: 48, horizonYears: 1 / 365, sigma: 0.9, logDistance: 0.03, seed: 9, jumps: { intensity: 50, meanLog: -0.05, sigmaLog: 0.03 } }
    const a = simulateFirstPassage(params)
    const b = simulateFirstPassage(params)
    expect(a.probability).toBe(b.probability)
    expect(a.hitStep).toEqual(b.hitStep)
  })

  it("keeps E[S_T] = S_0 e^{mu T} under jumps (compensated drift)", () => {
    const r = simulateFirstPassage({ paths: 50_000, steps: 16, horizonYears: 0.25, sigma: 0.4, drift: 0.1, logDistance: 50, seed: 3, jumps: { intensity: 4, meanLog: -0.1, sigmaLog: 0.1 } })
    let mean = 0
    for (const x of r.terminalLogReturn) mean += Math.exp(x)
    mean /= r.terminalLogReturn.length
    expect(mean).toBeCloseTo(Math.exp(0.025), 2)
  })

  it("brackets the jump-adjusted closed form: at least the approximation, near it for rare jumps", () => {
    const jumps = { intensity: 8, meanLog: -0.12, sigmaLog: 0.04 }
    const model = { sigma: 0.6, jumps }
    const horizonYears = 7 / 365
    const logDistance = Math.log(1.15)
    const mc = simulateFirstPassage({ paths: 60_000, steps: 96, horizonYears, sigma: 0.6, jumps, logDistance, seed: 11 })
    const approx = liquidationProbability(1.15, model, horizonYears)
    expect(mc.probability).toBeGreaterThan(approx - 3 * mc.standardError)
    expect(mc.probability).toBeLessThan(approx * 1.6 + 3 * mc.standardError)
  })
})
