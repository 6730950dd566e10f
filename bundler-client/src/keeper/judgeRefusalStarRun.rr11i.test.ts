import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11i H1-a: the rr11h H1 fix carries a plan-wide run (key `*`, a refusal naming no sub-account) whenever ANY
// ranked plan of the step was not reached, whatever its sub-accounts. REFUSED (DAI) is refused plan-wide at blocks
// 100-101 (alerted), then is back in its band from block 102; from then on URGENT (USDC, a capped cascade rescue) is sent
// first every block and OTHER's (DAI) plan is ranked but never reached. The `*` run is carried for good: the gauge
// `levpilot_rule_refused_blocks` climbs every block while nothing is refused (nothing re-alerts, nothing ends it).
const URGENT = `0x${"e0".repeat(32)}` as Hex
const REFUSED = `0x${"d0".repeat(32)}` as Hex
const OTHER = `0x${"d1".repeat(32)}` as Hex
const R = `0x${"d0".repeat(32)}`
vi.mock("./ruleJudge.js", () => ({
  // A plan-wide refusal (its args name no sub-account) of any plan listing REFUSED.
  snapshotRuleJudge: () => (plan: ChainPlan) =>
    plan.subAccounts.some((id) => id.toLowerCase() === R) ? { ok: false, error: { name: "ValueLossExceeded", args: [400n, 300n, 100n] } } : undefined,
}))

async function blocks(n: number, refusedStaysBelow = false) {
  const { step, events, metrics } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const gauges: number[] = []
  for (let b = 0; b < n; b++) {
    const subs =
      b < 2
        ? [stepSub(URGENT, USDC, 1.3, "inside"), stepSub(REFUSED, DAI, 1.05, "below")]
        : [stepSub(URGENT, USDC, 1.01, "below"), refusedStaysBelow ? stepSub(REFUSED, DAI, 1.05, "below") : stepSub(REFUSED, DAI, 1.3, "inside"), stepSub(OTHER, DAI, 1.08, "below")]
    const state = stepSafeState(subs)
    const snapshot = portfolioOf(state as never, { blockNumber: 100n + BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, 100n + BigInt(b), { snapshot })
    gauges.push(metrics.value("levpilot_rule_refused_blocks", { safe: SAFE }) as number)
  }
  const plans = events.flatMap((e) => (e.type === "plan" ? [`${e.block} ${e.plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`] : []))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { plans, alerts, gauges }
}

test("rr11i H1-a: the plan-wide run is alerted once at its first step and counted while it lasts (blocks 100-101)", async () => {
  const { plans, alerts, gauges } = await blocks(12)
  // f11r (review rr11n N4): OTHER (DAI, due) ranked but not reached in 3 steps in a row gets its turn (blocks 105, 109);
  // was URGENT's plan in every block.
  expect(plans).toEqual(Array.from({ length: 10 }, (_, k) => `${102 + k} ${k % 4 === 3 ? "d1" : "e0"}`))
  expect(alerts).toContain("100 nothing-to-send")
  expect(gauges.slice(0, 2)).toEqual([1, 2])
})

// Was FAILS TODAY (observed: 3, 4, ..., 12 from block 102): a `*` run is keyed by the refused plan's sub-accounts and
// carried only while one of them is ranked and unreached; OTHER's unreached plan no longer carries REFUSED's run.
test("rr11i H1-a: a `*` run ends when its own plan's sub-accounts are no longer planned (gauge 0 from block 102)", async () => {
  const { gauges } = await blocks(12)
  expect(gauges.slice(2)).toEqual(Array.from({ length: 10 }, () => 0))
})

test("rr11i H1-a: a `*` run is still carried while its own sub-account's plan is ranked but unreached", async () => {
  // REFUSED stays below its band behind URGENT from block 102: its plan is ranked and never reached, so its run goes on.
  // f11r (review rr11n N4): from 3 unreached steps its plan gets its turn (block 105), is judged, and the clamp's repair
  // sends OTHER without it: the run ends there (was 6: never reached). Carried in 100-104 while unreached.
  const { plans, gauges } = await blocks(6, true)
  expect(gauges.slice(0, 5)).toEqual([1, 2, 3, 4, 5])
  expect(plans).toEqual(["102 e0", "103 e0", "104 e0", "105 d1"])
})
