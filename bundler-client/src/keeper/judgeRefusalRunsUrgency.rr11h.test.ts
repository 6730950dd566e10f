import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11h H1 (G3's fix, another way to end a run): `reportRuleRefusals` deletes every run whose key was not refused
// in this step. But a step judges only the plans it reaches: the most urgent loan asset's plan is tried first and, once
// sent, the others are never judged. A sub-account the rule book refuses every time it is judged (REFUSED, DAI) whose
// Safe also has a more urgent sub-account of another loan asset (URGENT, USDC, needing an operation every other block: a
// cascade, a rescue capped by maxAmountPerRebalance) has its run ended at each of URGENT's sends and restarted at the
// next judged block: a fresh `nothing-to-send` alert every 2 blocks (RULE_REFUSAL_REALERT_BLOCKS is 50), and the gauge
// `levpilot_rule_refused_blocks` flapping 0 / 1 while REFUSED has been refused every time it was judged for 20 blocks.
const URGENT = `0x${"e0".repeat(32)}` as Hex
const REFUSED = `0x${"d0".repeat(32)}` as Hex
const R = `0x${"d0".repeat(32)}`
vi.mock("./ruleJudge.js", () => ({
  snapshotRuleJudge: () => (plan: ChainPlan) =>
    plan.subAccounts.some((id) => id.toLowerCase() === R) ? { ok: false, error: { name: "ValueLossExceeded", args: [R, 400n, 300n] } } : undefined,
}))

async function blocks(n: number, recovered = (_b: number) => false) {
  const { step, events, metrics } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const gauges: number[] = []
  for (let b = 0; b < n; b++) {
    // URGENT (1.01) is below its band on even blocks (its operation sent and landed by the next), inside on odd ones.
    const urgent = b % 2 === 0 ? stepSub(URGENT, USDC, 1.01, "below") : stepSub(URGENT, USDC, 1.3, "inside")
    const state = stepSafeState([urgent, recovered(b) ? stepSub(REFUSED, DAI, 1.3, "inside") : stepSub(REFUSED, DAI, 1.05, "below")])
    const snapshot = portfolioOf(state as never, { blockNumber: 100n + BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, 100n + BigInt(b), { snapshot })
    gauges.push(metrics.value("levpilot_rule_refused_blocks", { safe: SAFE }) as number)
  }
  const plans = events.flatMap((e) => (e.type === "plan" ? [e.plan.subAccounts.map((x) => x.toLowerCase())] : []))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { plans, alerts, gauges }
}

// Fixed (rr11h H1): a run ends only at a step that judged the key's plan and did not refuse it (a key whose plan
// was not reached is carried over), so REFUSED is alerted once in 20 blocks and the gauge never falls back to 0.
test("rr11h H1: a sub-account refused at every judged block is alerted once in 20 blocks and its run survives the blocks it was not judged", async () => {
  const { plans, alerts, gauges } = await blocks(20)
  // URGENT's plan still sent on even blocks; REFUSED never sent.
  expect(plans).toEqual(Array.from({ length: 10 }, () => [URGENT.toLowerCase()]))
  expect(alerts).toEqual(["101 nothing-to-send"])
  // The run counts every block since its first refusal (block 101), judged or not.
  expect(gauges).toEqual([0, ...Array.from({ length: 19 }, (_, b) => b + 1)])
})

test("rr11h H1: a run ends at the first step whose solve no longer plans for the sub-account (back in its band), judged or not", async () => {
  // REFUSED back inside its band from block 6 (an even block, where URGENT's plan is sent first).
  const { alerts, gauges } = await blocks(10, (b) => b >= 6)
  expect(alerts).toEqual(["101 nothing-to-send"])
  expect(gauges).toEqual([0, 1, 2, 3, 4, 5, 0, 0, 0, 0])
})
