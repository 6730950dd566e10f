import { describe, expect, it } from "vitest"
import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import { Rng } from "../risk/rng.js"
import { solve } from "../solver/solver.js"
import { applyPlan, leverageOf } from "../solver/state.js"
import { TEST_COSTS, makePolicy } from "../solver/testing.js"
import type { SolverInput } from "../solver/types.js"
import { LiveVolatility, applySigma, defaultVolatilitySettings } from "./volatility.js"

/** A seeded GBM price path: `n` prices `dt` seconds apart with annualised volatility `sigma` (no drift). */
function gbm(seed: number, n: number, sigma: number, dt: number, start = 3000): number[] {
  const rng = new Rng(seed)
  const s = sigma * Math.sqrt(dt / SECONDS_PER_YEAR)
  const out = [start]
  for (let i = 1; i < n; i++) out.push((out[i - 1] as number) * Math.exp(-0.5 * s * s + s * rng.normal()))
  return out
}

function feed(v: LiveVolatility, prices: number[], dt: number, t0 = 1_700_000_000): number {
  prices.forEach((p, i) => v.observe(t0 + i * dt, p))
  return t0 + (prices.length - 1) * dt
}

describe("LiveVolatility (the keeper's EWMA estimate of oracle volatility)", () => {
  it("converges to the generating sigma of a seeded GBM path", () => {
    for (const [seed, sigma] of [
      [1, 0.6],
      [2, 1.2],
      [3, 0.3],
    ] as const) {
      const slow = new LiveVolatility(0.8, { ...defaultVolatilitySettings, lambda: 0.995 })
      feed(slow, gbm(seed, 4_000, sigma, 60), 60)
      expect(Math.abs(slow.estimate().sigma / sigma - 1), `seed ${seed} sigma ${sigma}: ${slow.estimate().sigma}`).toBeLessThan(0.15)
      expect(slow.estimate().source).toBe("ewma")
      // The default (fast) decay is noisier but still in the neighbourhood.
      const fast = new LiveVolatility(0.8)
      feed(fast, gbm(seed, 4_000, sigma, 60), 60)
      expect(Math.abs(fast.estimate().sigma / sigma - 1)).toBeLessThan(0.4)
    }
  })

  it("a price jump raises the estimate at once", () => {
    const v = new LiveVolatility(0.5)
    const prices = gbm(7, 500, 0.3, 60)
    const t = feed(v, prices, 60)
    const calm = v.estimate().sigma
    expect(calm).toBeLessThan(0.45)
    v.observe(t + 60, (prices.at(-1) as number) * 0.9)
    const after = v.estimate().sigma
    expect(after).toBeGreaterThan(3 * calm)
  })

  it("uses the configured sigma as prior and floor until minSamples updates, then the estimate (down to the floor)", () => {
    const v = new LiveVolatility(0.8, { ...defaultVolatilitySettings, minSamples: 10, floor: 0.05 })
    expect(v.estimate()).toMatchObject({ sigma: 0.8, samples: 0, source: "prior" })
    const calm = gbm(11, 11, 0.1, 60)
    feed(v, calm.slice(0, 10), 60)
    expect(v.estimate().samples).toBe(9)
    expect(v.estimate().sigma).toBe(0.8)
    expect(v.estimate().source).toBe("prior")
    v.observe(1_700_000_000 + 10 * 60, calm[10] as number)
    expect(v.estimate().samples).toBe(10)
    expect(v.estimate().source).toBe("ewma")
    expect(v.estimate().sigma).toBeLessThan(0.8)
    // A frozen oracle: unchanged prices are only samples after maxIntervalSeconds, and the floor holds.
    const frozen = new LiveVolatility(0.8, { ...defaultVolatilitySettings, minSamples: 2, floor: 0.05, maxIntervalSeconds: 3_600 })
    frozen.observe(0, 100)
    frozen.observe(60, 100)
    expect(frozen.estimate().samples).toBe(0)
    for (let i = 1; i <= 200; i++) frozen.observe(i * 3_600, 100)
    expect(frozen.estimate()).toMatchObject({ sigma: 0.05, source: "floor", samples: 200 })
    // Before minSamples a volatile market is used at once (the prior is a floor, not a cap).
    const wild = new LiveVolatility(0.3, { ...defaultVolatilitySettings, minSamples: 10 })
    feed(wild, gbm(5, 4, 3, 60), 60)
    expect(wild.estimate().sigma).toBeGreaterThan(0.3)
    expect(wild.estimate().source).toBe("ewma")
  })

  it("ignores repeated blocks and restarts the interval after the chain went back", () => {
    const v = new LiveVolatility(0.5)
    v.observe(100, 10)
    expect(v.observe(100, 11)).toBe(false)
    expect(v.observe(90, 11)).toBe(false)
    expect(v.observe(150, 11)).toBe(false)
    expect(v.observe(160, 12)).toBe(true)
  })

  it("the keeper's autopilot picks a lower leverage when realised volatility is high than when it is calm", () => {
    // One WETH/USDC sub-account above its band (health 2.2, band 1.2 / 1.5 / 2.0, boosts allowed), idle USDC. tailDrop 0:
    // the tail floor (which keeps the autopilot at or above the target whatever the volatility) is not what this tests.
    const input: SolverInput = {
      now: 1_700_100_000,
      subAccounts: [
        {
          state: { id: "0xweth", loanAsset: "usdc", collateralAsset: "weth", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / 2.2, lltv: 0.86, price: 3000 },
          policy: makePolicy({ minHealth: 1.2, targetHealth: 1.5, maxHealth: 2.0, cooldown: 0, tolerance: 0.01, horizon: 86_400, tailDrop: 0, pools: ["0xpark"] }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          risk: { sigma: 0.8 },
        },
      ],
      // A boost parks what it borrows (the module refuses a borrow left idle: IdleInflow).
      pools: [{ address: "0xpark", asset: "usdc", decimals: 6, balance: 0, withdrawable: 0 }],
      idle: { usdc: 50_000 },
      costs: TEST_COSTS,
      mode: "autopilot",
    }
    const decide = (realised: number, seed: number) => {
      const v = new LiveVolatility(0.8)
      feed(v, gbm(seed, 300, realised, 60), 60)
      const sigma = v.estimate().sigma
      const live = applySigma(input, () => sigma)
      const { plan } = solve(live)
      if (!plan) throw new Error(`no plan at sigma ${sigma}`)
      const after = applyPlan({ subAccounts: live.subAccounts.map((s) => s.state), pools: live.pools, idle: live.idle }, plan)
      return { sigma, leverage: leverageOf(after.subAccounts[0] as (typeof after.subAccounts)[number]) }
    }
    const calm = decide(0.3, 21)
    const wild = decide(3, 22)
    expect(calm.sigma).toBeLessThan(0.5)
    expect(wild.sigma).toBeGreaterThan(2)
    expect(input.subAccounts[0]?.risk.sigma).toBe(0.8)
    // The module's landing zone ([1.35, 1.75] for this band) bounds both choices: 2.76x calm against about 2.3x wild.
    expect(wild.leverage).toBeLessThan(calm.leverage - 0.3)
  })
})
