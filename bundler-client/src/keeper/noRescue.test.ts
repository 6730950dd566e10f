import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { rescueBindingOf } from "./events.js"
import { SAFE, STEP_RISK, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Issue 17 (review: a flash sized above the reserve's free liquidity stalls the keeper). A sub-account below its band
// that no plan can rescue (here: the Safe holds none of its loan token, no pool, no swap lane) is reported once per
// episode (`no-rescue` event and warn line, the binding reason named) and by the gauge levpilot_rescue_infeasible at
// every step, and nothing is sent for it.

const STUCK = `0x${"e0".repeat(32)}` as Hex
const GHO = "0x00000000000000000000000000000000000000b3"

function snapshotAt(block: bigint, health: number, band: "below" | "inside") {
  const state = stepSafeState([stepSub(STUCK, GHO, health, band)])
  state.tokens.push({ token: GHO, decimals: 18, balance: 0n })
  return portfolioOf(state as never, { blockNumber: block, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

describe("no-rescue: a below-band sub-account with no feasible rescue", () => {
  test("one event per episode, the gauge at every step (1 while it lasts, 0 after), nothing sent", async () => {
    const { step, events, metrics } = stepHarness()
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const gauge = () => metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: STUCK, venue: "morpho-blue" })
    for (const block of [100n, 101n, 102n]) await step.run(rt, block, { snapshot: snapshotAt(block, 1.02, "below") })
    const noRescue = events.filter((e) => e.type === "no-rescue")
    expect(noRescue).toHaveLength(1)
    expect(noRescue[0]).toMatchObject({ type: "no-rescue", safe: SAFE, block: 100n, subAccount: STUCK, venue: "morpho-blue", binding: "funds" })
    expect((noRescue[0] as { reason: string }).reason).toMatch(/no valid plan/)
    expect(gauge()).toBe(1)
    expect(events.filter((e) => e.type === "plan")).toEqual([])
    // One rescue-infeasible alert per episode, with the event (review rr11r R3: the event alone reached no alert channel).
    expect(events.filter((e) => e.type === "alert").map((e) => `${(e as { block: bigint }).block} ${(e as { kind: string }).kind}`)).toEqual(["100 rescue-infeasible"])
    // Back in band: 0; below again without a rescue: a new episode, a new event.
    await step.run(rt, 103n, { snapshot: snapshotAt(103n, 1.3, "inside") })
    expect(gauge()).toBe(0)
    await step.run(rt, 104n, { snapshot: snapshotAt(104n, 1.02, "below") })
    expect(events.filter((e) => e.type === "no-rescue")).toHaveLength(2)
    expect(events.filter((e) => e.type === "alert").map((e) => `${(e as { block: bigint }).block} ${(e as { kind: string }).kind}`)).toEqual(["100 rescue-infeasible", "104 rescue-infeasible"])
    expect(gauge()).toBe(1)
  })

  test("the binding reason is named from the solver's reason", () => {
    expect(rescueBindingOf("below band (health 1.100 < 1.2) but funds and caps reach only 1.100 < 1.205 (no sale left under the reserve's flash liquidity); no valid plan")).toBe("flashLiquidity")
    expect(rescueBindingOf("below band but touching it would exceed a loss limit (maxLossBps 50, maxEpochLossBps 400); no valid plan")).toBe("lossLimit")
    expect(rescueBindingOf("below band (health 1.1 < 1.2) but funds and caps reach only 1.1 < 1.2; no swap lane (maxSlippageBps 0 or no quoted pool); no valid plan")).toBe("funds")
  })
})
