import { describe, expect, it } from "vitest"
import { SECONDS_PER_YEAR } from "./firstPassage.js"
import { GarchRegime } from "./regime.js"
import { Rng } from "./rng.js"
import { EwmaVolatility } from "./volatility.js"

function feed(g: GarchRegime, ewma: EwmaVolatility, rng: Rng, from: number, minutes: number, sigma: number, price: number): number {
  let p = price
  const s = sigma * Math.sqrt(60 / SECONDS_PER_YEAR)
  for (let i = 1; i <= minutes; i++) {
    const r = -0.5 * s * s + s * rng.normal()
    p *= Math.exp(r)
    ewma.update(r, 60)
    g.observe(from + 60 * i, p)
  }
  return p
}

describe("GarchRegime", () => {
  it("keeps the 24 h forecast high after a turbulent day followed by calm hours, while a fast EWMA has already forgotten it", () => {
    const calmOnly = new GarchRegime({ initialSigma: 0.3 })
    const stormy = new GarchRegime({ initialSigma: 0.3 })
    const ewmaCalm = new EwmaVolatility(0.97, 0.3)
    const ewmaStormy = new EwmaVolatility(0.97, 0.3)
    calmOnly.observe(0, 100)
    stormy.observe(0, 100)
    const a = feed(calmOnly, ewmaCalm, new Rng(1), 0, 1440, 0.3, 100)
    const b = feed(stormy, ewmaStormy, new Rng(1), 0, 1440, 2.0, 100)
    feed(calmOnly, ewmaCalm, new Rng(2), 1440 * 60, 360, 0.3, a)
    feed(stormy, ewmaStormy, new Rng(2), 1440 * 60, 360, 0.3, b)
    expect(stormy.fit()).toBeDefined()
    expect(ewmaStormy.sigma() / ewmaCalm.sigma()).toBeLessThan(1.3)
    expect(stormy.forecastSigma(86_400)).toBeGreaterThan(1.5 * calmOnly.forecastSigma(86_400))
    expect(stormy.forecastSigma(86_400)).toBeGreaterThan(0.6)
  })

  it("recovers a GBM's volatility when nothing happens", () => {
    const g = new GarchRegime({ initialSigma: 0.6 })
    g.observe(0, 100)
    feed(g, new EwmaVolatility(0.97, 0.6), new Rng(3), 0, 3 * 1440, 0.6, 100)
    expect(g.forecastSigma(86_400)).toBeGreaterThan(0.5)
    expect(g.forecastSigma(86_400)).toBeLessThan(0.7)
  })

  it("names bad parameters", () => {
    expect(() => new GarchRegime({ initialSigma: 0 })).toThrow(/initialSigma/)
    expect(() => new GarchRegime({ initialSigma: 0.5, alpha: 0.5, beta: 0.6 })).toThrow(/alpha \+ beta < 1/)
  })
})
