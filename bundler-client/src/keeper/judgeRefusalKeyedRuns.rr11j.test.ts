import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11j J3 (break-it of f11k's rr11i H1-a fix): a plan-wide rule-book refusal is now keyed `*|ids` by the refused
// plan's sub-accounts. When the plan's membership changes while it stays refused (in a crash sub-accounts cross their
// minHealth one after another; one near its edge flaps in and out of the band), each new membership is a NEW run: one
// `nothing-to-send` alert per change (every block when a member flaps; RULE_REFUSAL_REALERT_BLOCKS is 50) and the gauge
// `levpilot_rule_refused_blocks` back to 1, although the same sub-account (STUCK) has been refused every block. Before
// H1-a the key was `*`: one alert and a gauge counting the run (the rr11g G3 class: a run keyed by something that
// changes restarts and alerts every block).
// Fixture: STUCK (DAI, 1.05) below its band every block; FLAP (DAI) below on even blocks (1.08), inside on odd (1.2).
// The judge refuses every DAI plan plan-wide (ValueLossExceeded naming no sub-account; e.g. both can only be rescued
// through one exit-fee pool above maxLossBps), every repair candidate too.
const STUCK = `0x${"d0".repeat(32)}` as Hex
const FLAP = `0x${"d2".repeat(32)}` as Hex
vi.mock("./ruleJudge.js", () => ({
  snapshotRuleJudge: () => (plan: ChainPlan) =>
    plan.subAccounts.length > 0 ? { ok: false, error: { name: "ValueLossExceeded", args: [400n, 300n, 100n] } } : undefined,
}))

async function blocks(n: number) {
  const { step, events, metrics } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const gauges: number[] = []
  for (let b = 0; b < n; b++) {
    const subs = [stepSub(STUCK, DAI, 1.05, "below"), b % 2 === 0 ? stepSub(FLAP, DAI, 1.08, "below") : stepSub(FLAP, DAI, 1.2, "inside")]
    const snapshot = portfolioOf(stepSafeState(subs) as never, { blockNumber: 100n + BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, 100n + BigInt(b), { snapshot })
    gauges.push(metrics.value("levpilot_rule_refused_blocks", { safe: SAFE }) as number)
  }
  const plans = events.flatMap((e) => (e.type === "plan" ? [`${e.block}`] : []))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { plans, alerts, gauges }
}

// Observed before f11n (main at 9fb7dec): 10 `nothing-to-send` alerts, one per block, and the gauge 1 in every block.
// Fixed (f11n): a new `*|ids` key takes over the run of a `*|ids'` key sharing a sub-account with it.
// Was FAILS TODAY (rr11j): a plan-wide run should survive a change of its plan's membership while a sub-account of it stays refused
// (e.g. carry a `*|ids` run into a new key sharing one of its ids): one alert in 10 blocks, the gauge 1..10.
test("rr11j J3 (fixed, f11n): one alert in 10 blocks and the gauge counts the run", async () => {
  const { alerts, gauges } = await blocks(10)
  expect(alerts).toEqual(["100 nothing-to-send"])
  expect(gauges).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
})
