import { describe, expect, test } from "vitest"
import type { DemoRun, NetValueSample, PositionSample, StepSample } from "./run.js"
import { formatSummary, summarizeDemo } from "./summary.js"

/*
 * Review rr13u of issue 13 (demo honesty, docs/reviews/issue13-rr13u.md U6). `npm start -- --fast` on e3a77bb printed
 * "unmanaged twin: min health 1.044, liquidations 4" while its own JSON records each liquidation at health 0.9989
 * (`health` 998888888547449799 WAD, Aave v3 WETH/USDC, block 257): the summary's minimum is taken over the sampled
 * steps of positions not yet liquidated, and the liquidator acts between two samples, so the health a liquidation
 * happened at never enters it.
 */

const position = (health: number, liquidated = false): PositionSample => ({ health, leverage: 3, collateral: 10, debt: 20_000, liquidated })
const netValue = (v: number): NetValueSample => ({ positions: v, pools: { yUSDC: { asset: "USDC", amount: 0, value: 0 } }, idle: { USDC: 0 }, total: v })
const step = (i: number, twin: PositionSample): StepSample => ({
  step: i,
  block: 100 + i,
  timeMs: i * 1000,
  prices: { WETH: 3000 - i * 300, WBTC: 60_000 - i * 6000 },
  positions: { managed: { WETH: position(1.4), WBTC: position(1.4) }, twin: { WETH: twin, WBTC: position(1.5) } },
  markets: { WETH: { borrowApr: 0.038, utilization: 0.85 }, WBTC: { borrowApr: 0.038, utilization: 0.85 } },
  netValue: { managed: netValue(50_000), twin: netValue(40_000) },
})
const liquidation = {
  borrower: "0x37ccbDf49FF752777714D95f8EF9BaB4AA32d909",
  market: "0x01",
  block: 102n,
  transactionHash: "0x02",
  health: 998_888_888_547_449_799n,
  seizedCollateral: 4_362_347_054_025_222_021n,
  repaidDebt: 8_586_206_900n,
  badDebt: 0n,
  label: "twin",
  step: 2,
  marketName: "Morpho Blue WETH/USDC",
  venue: "morpho-blue",
  seized: "4.3623 WETH",
  repaid: "8,586.21 USDC",
  badDebtText: "0.00 USDC",
} as DemoRun["liquidations"][number]
const run: DemoRun = {
  scenario: "rr13u",
  steps: [step(0, position(1.45)), step(1, position(1.044)), step(2, position(Number.POSITIVE_INFINITY, true))],
  rebalances: [],
  liquidations: [liquidation],
  alerts: [],
  events: [],
  sent: 0,
  durationMs: 3000,
  metricsText: "",
}

describe("rr13u U6: the demo's minimum health leaves out the health its liquidations happened at", () => {
  test("rr13u U6 (was: twin min health 1.044 printed next to a liquidation at 0.9989; fixed f13l): expected the twin's min health at most the recorded liquidation health", () => {
    const s = summarizeDemo(run)
    expect(s.twin.minHealth).toBeLessThanOrEqual(0.9989)
    expect(s.twin.positions["Morpho Blue WETH/USDC"]?.minHealth).toBeLessThanOrEqual(0.9989)
    // Exactly the record's health (one source), printed as such; the managed Safe, not liquidated, keeps its samples' minimum.
    expect(s.twin.minHealth).toBeCloseTo(0.998888888547, 9)
    expect(s.managed.minHealth).toBe(1.4)
    expect(formatSummary(s)).toMatch(/unmanaged twin: min health 0\.99/)
  })
  // Held out (f13l): two liquidations on different markets and Safes; each lowers only its own Safe and position.
  test("f13l U6 held-out: a managed Aave liquidation at 0.97 and a twin Morpho one at 0.9989 each lower only their Safe's and position's minimum", () => {
    const aave = { ...liquidation, label: "managed", marketName: "Aave v3 WETH/USDC", venue: "aave-v3", health: 970_000_000_000_000_000n, step: 1 } as DemoRun["liquidations"][number]
    const s = summarizeDemo({ ...run, liquidations: [liquidation, aave] })
    expect(s.managed.minHealth).toBeCloseTo(0.97, 12)
    expect(s.twin.minHealth).toBeCloseTo(0.998888888547, 9)
    expect(s.twin.positions["Aave v3 WETH/USDC"]?.minHealth ?? 1.5).toBeGreaterThan(1)
    expect(s.managed.positions["Morpho Blue WETH/USDC"]?.minHealth ?? 1.4).toBe(1.4)
  })
  test("held: the summary counts the liquidation and prints amounts in token units with market names", () => {
    const s = summarizeDemo(run)
    expect(s.twin.liquidations).toBe(1)
    const text = formatSummary(s)
    expect(text).toContain("Morpho Blue WETH/USDC")
    expect(text).toMatch(/liquidated 1 time\(s\)/)
    expect(text).toMatch(/\d[\d,]*\.\d\d USDC/)
  })
})
