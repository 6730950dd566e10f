import { AdaptiveCurveIrmLib } from "@morpho-org/blue-sdk"
import { describe, expect, it } from "vitest"
import { GAS_MARKETS, gasCostAt, IrmRatePath, irmRates, meanGasPrice } from "./carry.js"

describe("AdaptiveCurveIrm carry (Morpho's own math from @morpho-org/blue-sdk)", () => {
  it("answers the published curve at the start: 1 % idle, 4 % at the 90 % target, 16 % fully used", () => {
    for (const [u, apr] of [[0, 0.01], [0.9, 0.04], [1, 0.16]] as const) expect(new IrmRatePath({ utilization: u, rateAtTarget: 0.04, fee: 0 }).advance(0).borrowApr).toBeCloseTo(apr, 6)
  })

  it("adapts the rate at target: up while utilisation stays above 90 %, down below, and pays suppliers borrow x utilisation x (1 - fee)", () => {
    const hot = new IrmRatePath({ utilization: 0.99, rateAtTarget: 0.04, fee: 0 })
    const cold = new IrmRatePath({ utilization: 0.5, rateAtTarget: 0.04, fee: 0.1 })
    const hot0 = hot.advance(3600).borrowApr
    const cold0 = cold.advance(3600)
    for (let i = 0; i < 24 * 30; i++) {
      hot.advance(3600)
      cold.advance(3600)
    }
    expect(hot.advance(3600).borrowApr).toBeGreaterThan(hot0 * 1.5)
    expect(cold.advance(3600).borrowApr).toBeLessThan(cold0.borrowApr * 0.8)
    expect(cold0.supplyApr).toBeCloseTo(cold0.borrowApr * 0.5 * 0.9, 12)
    const { avgBorrowRate } = AdaptiveCurveIrmLib.getBorrowRate(990_000_000_000_000_000n, AdaptiveCurveIrmLib.INITIAL_RATE_AT_TARGET, 3600n)
    expect(hot0).toBeCloseTo((Number(avgBorrowRate) * 365 * 86_400) / 1e18, 12)
  })

  it("gives every step of a grid its interval's rate", () => {
    const ts = Array.from({ length: 181 }, (_, i) => 60 * i)
    const { borrow, supply } = irmRates(ts, { utilization: 0.88, rateAtTarget: 0.04, fee: 0 })
    expect(borrow[0]).toBeCloseTo(borrow[180]!, 4)
    expect(borrow[0]).toBeGreaterThan(0.035)
    expect(supply[90]).toBeCloseTo(borrow[90]! * 0.88, 12)
  })
})

describe("gas fee distribution", () => {
  it("draws each slot's price log-uniformly within the market's range, the same for every strategy at the same time", () => {
    const m = GAS_MARKETS.mainnet
    let sum = 0
    let lo = Number.POSITIVE_INFINITY
    let hi = 0
    const n = 50_000
    for (let k = 0; k < n; k++) {
      const c = gasCostAt(m, 42, k * m.slotSeconds, 1_000_000)
      const gwei = c / 1_000_000 / 1e-9 / m.nativePrice
      lo = Math.min(lo, gwei)
      hi = Math.max(hi, gwei)
      sum += c
    }
    expect(lo).toBeGreaterThanOrEqual(1)
    expect(lo).toBeLessThan(1.01)
    expect(hi).toBeLessThanOrEqual(100)
    expect(hi).toBeGreaterThan(99)
    expect(sum / n / 1_000_000 / meanGasPrice(m)).toBeGreaterThan(0.97)
    expect(sum / n / 1_000_000 / meanGasPrice(m)).toBeLessThan(1.03)
    expect(gasCostAt(m, 42, 1234, 5)).toBe(gasCostAt(m, 42, 1234, 5))
    expect(gasCostAt(GAS_MARKETS.l2, 42, 0, 1_000_000)).toBeLessThan(0.5)
  })
})
