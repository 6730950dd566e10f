import { describe, expect, test } from "vitest"
import type { DemoRun, PositionSample, StepSample } from "./run.js"
import { formatSummary, summarizeDemo } from "./summary.js"

const position = (health: number, liquidated = false): PositionSample => ({ health, leverage: 3, collateral: 10, debt: 20_000, liquidated })
const step = (i: number, managed: number, twin: number): StepSample => ({
  step: i,
  block: 100 + i,
  timeMs: i * 1000,
  prices: { WETH: 3000 - i * 100, WBTC: 60_000 - i * 2000 },
  positions: { managed: { WETH: position(managed), WBTC: position(managed + 0.1) }, twin: { WETH: position(twin), WBTC: position(twin + 0.1) } },
  markets: { WETH: { borrowApr: 0.0101, utilization: 0.0036 }, WBTC: { borrowApr: 0.0101, utilization: 0.0036 } },
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

  test("a run that met every expectation says so", () => {
    const summary = summarizeDemo(run({ liquidations: [{ label: "twin", step: 2 } as DemoRun["liquidations"][number]], rebalances: [rebalance(true)] }))
    expect(summary.ok).toBe(true)
    expect(formatSummary(summary)).toContain("RESULT: the managed Safe stayed healthy; the unmanaged twin was liquidated.")
    expect(formatSummary(summary)).toContain("(0 reverted, 1 paid")
  })
})
