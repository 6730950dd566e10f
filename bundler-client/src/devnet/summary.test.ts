import { describe, expect, test } from "vitest"
import type { DemoRun, NetValueSample, PositionSample, StepSample } from "./run.js"
import { demoPositionsOf } from "./env.js"
import { formatSummary, summarizeDemo } from "./summary.js"

const position = (health: number, liquidated = false): PositionSample => ({ health, leverage: 3, collateral: 10, debt: 20_000, liquidated })
const netValue = (positions: number, vault: number, idleUsdc = 0): NetValueSample => ({
  positions,
  pools: { yUSDC: { asset: "USDC", amount: vault, value: vault }, yWETH: { asset: "WETH", amount: 0, value: 0 } },
  idle: { USDC: idleUsdc, WETH: 0, WBTC: 0 },
  total: positions + vault + idleUsdc,
})
const step = (i: number, managed: number, twin: number): StepSample => ({
  step: i,
  block: 100 + i,
  timeMs: i * 1000,
  prices: { WETH: 3000 - i * 100, WBTC: 60_000 - i * 2000 },
  positions: { managed: { WETH: position(managed), WBTC: position(managed + 0.1) }, twin: { WETH: position(twin), WBTC: position(twin + 0.1) } },
  markets: { WETH: { borrowApr: 0.038, utilization: 0.85 }, WBTC: { borrowApr: 0.038, utilization: 0.85 } },
  netValue: { managed: netValue(24_000, 36_000), twin: netValue(24_000, 36_000) },
})
const rebalance = (success: boolean, revert?: string) => ({
  block: 102,
  step: 2,
  userOpHash: "0x01",
  success,
  ...(revert ? { revert } : {}),
  gasUsed: 250_000,
  paymaster: "0xpm",
  latencyBlocks: 1,
  latencyMs: 1000,
  actions: ["WithdrawFromPool 1", "Repay 1"],
})
const run = (overrides: Partial<DemoRun>): DemoRun => ({
  scenario: "test",
  steps: [step(0, 1.45, 1.45), step(1, 1.3, 1.3), step(2, 1.21, 1.21)],
  rebalances: [],
  liquidations: [],
  alerts: [],
  events: [],
  sent: 0,
  durationMs: 3000,
  metricsText: "",
  ...overrides,
})

describe("demo summary", () => {
  test("names every reverted rebalance's reason and explains NoTrigger", () => {
    const summary = summarizeDemo(run({ rebalances: [rebalance(true), rebalance(false, "NoTrigger()"), rebalance(false, "NoTrigger()"), rebalance(false)] }))
    expect(summary.rebalances.failed).toBe(3)
    expect(summary.rebalances.reverts).toEqual({ "NoTrigger()": 2, unknown: 1 })
    const text = formatSummary(summary)
    expect(text).toContain("3 reverted: NoTrigger() x2 (the price recovered before inclusion")
    expect(text).toContain("unknown x1")
    expect(text).toMatch(/median 1 blocks/)
  })

  test("says which expectation was missed instead of a bare failure", () => {
    const summary = summarizeDemo(run({}))
    expect(summary.ok).toBe(false)
    expect(formatSummary(summary)).toContain("RESULT: not the expected outcome: the unmanaged twin was never liquidated")
    const liquidated = summarizeDemo(
      run({ liquidations: [{ label: "managed", step: 2 } as DemoRun["liquidations"][number], { label: "twin", step: 2 } as DemoRun["liquidations"][number]] }),
    )
    expect(formatSummary(liquidated)).toContain("the managed Safe was liquidated 1 time(s)")
    expect(formatSummary(liquidated)).not.toContain("twin was never liquidated")
  })

  test("compares the Safes' whole net value, not position equity: funds the keeper moved from the vault into a position are not the twin's loss", () => {
    const last = step(2, 1.3, 1.21)
    last.netValue = { managed: netValue(27_661, 5_000, 12.5), twin: netValue(5_180, 27_480) }
    last.positions.managed.WETH = { ...position(1.3), collateral: 5.123456, debt: 10_234.5 }
    const summary = summarizeDemo(run({ steps: [step(0, 1.45, 1.45), step(1, 1.3, 1.3), last] }))
    expect(summary.managed.netValue.positions).toBeGreaterThan(summary.twin.netValue.positions + 20_000)
    expect(summary.netValueDifference).toBeCloseTo(27_661 + 5_000 + 12.5 - (5_180 + 27_480), 9)
    expect(summary.managed.startNetValue).toBe(60_000)
    const text = formatSummary(summary)
    expect(text).toContain("whole net value, managed - twin: +13.50 USDC")
    expect(text).toContain("net value 32,673.50 USDC (start 60,000.00 USDC) = positions 27,661.00 USDC")
    expect(text).toContain("Morpho Blue WETH/USDC (morpho-blue) 5.1235 WETH collateral, 10,234.50 USDC debt")
    expect(text).toContain("yUSDC vault 5,000.00 USDC")
    expect(text).toContain("idle 12.50 USDC")
    expect(text).not.toMatch(/\b\d{9,}\b/)
  })

  test("names the venue of every sub-account: Morpho Blue markets and the Aave v3 account, with their liquidations", () => {
    const positions = demoPositionsOf(true)
    const withAave = (i: number, managed: number, twin: number): StepSample => {
      const s = step(i, managed, twin)
      s.positions.managed.Aave = position(managed + 0.05)
      s.positions.twin.Aave = { ...position(twin - 0.2), collateral: 8, debt: 15_000, liquidated: i === 2 }
      return s
    }
    const summary = summarizeDemo(
      run({
        positions,
        steps: [withAave(0, 1.45, 1.45), withAave(1, 1.3, 1.3), withAave(2, 1.25, 1.21)],
        liquidations: [{ label: "twin", step: 2, marketName: "Aave v3 WETH/USDC", venue: "aave-v3" } as DemoRun["liquidations"][number]],
      }),
    )
    expect(Object.keys(summary.managed.positions)).toEqual(["Morpho Blue WETH/USDC", "Morpho Blue WBTC/USDC", "Aave v3 WETH/USDC"])
    expect(summary.managed.positions["Aave v3 WETH/USDC"]?.venue).toBe("aave-v3")
    expect(summary.twin.positions["Aave v3 WETH/USDC"]?.liquidations).toBe(1)
    expect(summary.twin.positions["Morpho Blue WETH/USDC"]?.liquidations).toBe(0)
    // The Aave account's equity counts in the position equity at the WETH price (8 WETH x 2,800 - 15,000).
    expect(summary.twin.positionEquity).toBeCloseTo(10 * 2800 - 20_000 + (10 * 56_000 - 20_000) + (8 * 2800 - 15_000), 6)
    const text = formatSummary(summary)
    expect(text).toContain("Aave v3 WETH/USDC [venue aave-v3]: managed min health 1.300; twin min health 1.100, liquidated 1 time(s)")
    expect(text).toContain("Morpho Blue WBTC/USDC [venue morpho-blue]: managed min health 1.350; twin min health 1.310, not liquidated")
  })

  test("a run that met every expectation says so", () => {
    const summary = summarizeDemo(run({ liquidations: [{ label: "twin", step: 2 } as DemoRun["liquidations"][number]], rebalances: [rebalance(true)] }))
    expect(summary.ok).toBe(true)
    expect(formatSummary(summary)).toContain("RESULT: the managed Safe stayed healthy; the unmanaged twin was liquidated.")
    expect(formatSummary(summary)).toContain("(0 reverted, 1 paid")
  })
})
