import { describe, expect, it } from "vitest"
import { resolveBacktestConfig } from "./config"
import { runBacktest } from "./engine"
import { runSuite } from "./suite"
import { liquidationIncentiveFactor } from "../solver/solver"
import type { PricePaths } from "../prices/csv"

function path(prices: number[], step = 60): PricePaths {
  return { timestamps: Float64Array.from(prices.map((_, i) => 1_700_000_000 + i * step)), assets: ["ETH"], prices: { ETH: Float64Array.from(prices) } }
}

describe("runBacktest", () => {
  it("liquidates a static position at the oracle price with Morpho's incentive", () => {
    const config = resolveBacktestConfig({ subAccounts: [{ id: "s", asset: "ETH", lltv: 0.86, equity: 100_000, initialHealth: 1.4 }] })
    const r = runBacktest(path([3000, 3000, 2000, 2000]), config, "static")
    const debt = (100_000 / (1 - 0.86 / 1.4)) * (1 - 0.86 / 1.4) * (0.86 / 1.4) / (1 - 0.86 / 1.4)
    expect(r.liquidations).toBe(1)
    expect(r.liquidationLoss).toBeCloseTo(debt * (liquidationIncentiveFactor(0.86) - 1), 6)
  })

  it("lets the keeper deleverage a slow decline that liquidates the static position", () => {
    const prices = Array.from({ length: 240 }, (_, i) => 3000 * Math.exp(-0.4 * (i / 239)))
    const config = resolveBacktestConfig({ subAccounts: [{ id: "s", asset: "ETH", lltv: 0.86, equity: 100_000, initialHealth: 1.4 }] })
    expect(runBacktest(path(prices), config, "static").liquidations).toBe(1)
    for (const s of ["threshold", "autopilot"] as const) {
      const r = runBacktest(path(prices), config, s)
      expect(r.liquidations, s).toBe(0)
      expect(r.rebalances, s).toBeGreaterThan(0)
      expect(r.minHealth, s).toBeGreaterThan(1)
    }
  })

  it("paces the autopilot through a steady 40% decline without exhausting its epoch rebalances", () => {
    const prices = Array.from({ length: 2000 }, (_, i) => 3000 * Math.exp(-0.5 * (i / 1999) + 0.02 * Math.sin(i / 30)))
    const r = runBacktest(path(prices), resolveBacktestConfig(), "autopilot")
    expect(r.liquidations).toBe(0)
    expect(r.minHealth).toBeGreaterThan(1.1)
    expect(r.rebalances).toBeLessThan(24)
  })

  it("rejects a configuration whose asset is not in the price file", () => {
    const config = resolveBacktestConfig({ subAccounts: [{ id: "s", asset: "BTC", lltv: 0.86, equity: 1 }] })
    expect(() => runBacktest(path([1, 2]), config, "static")).toThrow(/"BTC" is not a column/)
  })

  it("rejects unknown configuration keys and invalid policies", () => {
    expect(() => resolveBacktestConfig({ polcy: {} })).toThrow(/unknown key "polcy"/)
    expect(() => resolveBacktestConfig({ policy: { minHealth: 2, maxHealth: 1.5 } })).toThrow(/minHealth \+ 0.01 <= targetHealth/)
  })
})

describe("backtest suite (100 generated paths, the lighter twin of bench/backtest-suite.ts)", () => {
  // The module's landing zone keeps a boost from going further than half way from the target to minHealth, so autopilot
  // no longer parks right above minHealth: its lead over threshold is just under 15% with the rule (14.9% here).
  it("autopilot loses no more to liquidation than threshold while holding at least 14% more leverage", () => {
    const suite = runSuite({ count: 100, baseSeed: 1000, config: resolveBacktestConfig() })
    const auto = suite.totals.find((t) => t.strategy === "autopilot")!
    const threshold = suite.totals.find((t) => t.strategy === "threshold")!
    expect(auto.liquidationLoss).toBeLessThanOrEqual(threshold.liquidationLoss)
    expect(auto.timeAveragedLeverage).toBeGreaterThanOrEqual(1.14 * threshold.timeAveragedLeverage)
    expect(auto.rejectedRebalances).toBeLessThan(auto.rebalances * 0.05)
  })
})
