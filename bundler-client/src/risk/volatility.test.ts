import { describe, expect, it } from "vitest"
import { EwmaVolatility, ewmaVolatility, fitGarch, garchForecastVolatility } from "./volatility.js"
import { SECONDS_PER_YEAR } from "./firstPassage.js"
import { Rng } from "./rng.js"
import { marginGreeks } from "./greeks.js"

function gbm(sigma: number, n: number, dt: number, seed: number): { timestamps: number[]; prices: number[] } {
  const rng = new Rng(seed)
  const timestamps = [0]
  const prices = [100]
  const s = sigma * Math.sqrt(dt / SECONDS_PER_YEAR)
  for (let i = 1; i < n; i++) {
    timestamps.push(i * dt)
    prices.push((prices[i - 1] as number) * Math.exp(-0.5 * s * s + s * rng.normal()))
  }
  return { timestamps, prices }
}

describe("volatility estimators", () => {
  it("EWMA recovers the volatility of a GBM path", () => {
    const series = gbm(0.8, 5000, 300, 1)
    expect(ewmaVolatility(series, 0.995)).toBeGreaterThan(0.65)
    expect(ewmaVolatility(series, 0.995)).toBeLessThan(0.95)
  })

  it("the incremental EWMA matches the batch estimator after its seed window", () => {
    const series = gbm(0.5, 200, 60, 2)
    const inc = new EwmaVolatility(0.94, 0.5)
    for (let i = 1; i < series.prices.length; i++)
      inc.update(Math.log((series.prices[i] as number) / (series.prices[i - 1] as number)), 60)
    expect(inc.sigma()).toBeCloseTo(ewmaVolatility(series, 0.94), 1)
  })

  it("GARCH(1,1) recovers a volatility regime shift and forecasts mean reversion", () => {
    const calm = gbm(0.4, 1500, 3600, 3)
    const storm = gbm(1.6, 100, 3600, 4)
    const timestamps = [...calm.timestamps, ...storm.timestamps.slice(1).map((t) => t + 1500 * 3600)]
    const last = calm.prices[calm.prices.length - 1] as number
    const prices = [...calm.prices, ...storm.prices.slice(1).map((p) => (p * last) / 100)]
    const fit = fitGarch({ timestamps, prices })
    expect(fit.alpha + fit.beta).toBeLessThan(1)
    const shortVol = garchForecastVolatility(fit, 3600)
    const longVol = garchForecastVolatility(fit, 3600 * 24 * 365)
    expect(shortVol).toBeGreaterThan(longVol)
    expect(shortVol).toBeGreaterThan(0.8)
  })

  it("rejects series that are too short or not increasing", () => {
    expect(() => ewmaVolatility({ timestamps: [0], prices: [1] })).toThrow(/at least two/)
    expect(() => ewmaVolatility({ timestamps: [0, 0], prices: [1, 2] })).toThrow(/increase/)
  })
})

describe("marginGreeks", () => {
  it("leverage delta and gamma match finite differences; margin is linear", () => {
    const pos = { collateral: 10, debt: 20_000, lltv: 0.86, price: 3000 }
    const g = marginGreeks(pos, { sigma: 0.7 }, 1 / 365)
    const lev = (p: number): number => (pos.collateral * p) / (pos.collateral * p - pos.debt)
    const h = 0.5
    expect(g.leverageDelta).toBeCloseTo((lev(3000 + h) - lev(3000 - h)) / (2 * h), 8)
    expect(g.leverageGamma).toBeCloseTo((lev(3000 + h) - 2 * lev(3000) + lev(3000 - h)) / (h * h), 6)
    expect(g.marginDelta).toBe(10)
    expect(g.liquidationProbabilityDelta).toBeLessThan(0)
    expect(g.health).toBeCloseTo(1.29, 10)
  })
})
