import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rev17d (issue 17, held out): the gauge levpilot_rescue_infeasible{sub_account} is set only for sub-accounts in
// the step's snapshot. A sub-account flagged infeasible (1) that then leaves the snapshot (its policy removed, or left
// out as unreadable: oracle / venue reverts) kept the gauge at 1 forever: a dashboard or alert rule on the gauge
// reports a stuck rescue that no longer exists (or is already reported by levpilot_subaccount_unreadable). Fixed:
// reportNoRescue sets the gauge of a sub-account flagged at the last step and absent now back to 0.

const STUCK = `0x${"e0".repeat(32)}` as Hex
const OTHER = `0x${"e1".repeat(32)}` as Hex
const GHO = "0x00000000000000000000000000000000000000b3"

function snapshotOf(block: bigint, subs: ReturnType<typeof stepSub>[]) {
  const state = stepSafeState(subs)
  state.tokens.push({ token: GHO, decimals: 18, balance: 0n })
  return portfolioOf(state as never, { blockNumber: block, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

describe("no-rescue gauge: a flagged sub-account that leaves the snapshot", () => {
  test("its gauge goes back to 0 when its policy is removed (it is no longer in the snapshot)", async () => {
    const { step, events, metrics } = stepHarness()
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const gauge = () => metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: STUCK, venue: "morpho-blue" })
    await step.run(rt, 100n, { snapshot: snapshotOf(100n, [stepSub(STUCK, GHO, 1.02, "below"), stepSub(OTHER, GHO, 1.3, "inside")]) })
    expect(events.filter((e) => e.type === "no-rescue")).toHaveLength(1)
    expect(gauge()).toBe(1)
    // STUCK's policy removed: the next snapshot lists OTHER alone.
    await step.run(rt, 101n, { snapshot: snapshotOf(101n, [stepSub(OTHER, GHO, 1.3, "inside")]) })
    expect(gauge()).toBe(0)
    // Re-added and still stuck: a new episode (a new event).
    await step.run(rt, 102n, { snapshot: snapshotOf(102n, [stepSub(STUCK, GHO, 1.02, "below"), stepSub(OTHER, GHO, 1.3, "inside")]) })
    expect(gauge()).toBe(1)
    expect(events.filter((e) => e.type === "no-rescue")).toHaveLength(2)
  })
})
