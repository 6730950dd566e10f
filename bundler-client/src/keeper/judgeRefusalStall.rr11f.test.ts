import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { RULE_REFUSAL_REALERT_BLOCKS } from "./safeStep.js"
import { DAI, SAFE, USDC, runStepBlocks, stepSub } from "./testing.js"

// Review rr11f F3: when the send clamp's rule-book judge refuses the most urgent plan and no repair passes
// (ClampRuleRefusedError), `clampForSend` returns undefined and `planAndSend` returns: the step neither leaves the refused
// sub-account out and plans again (the loop `run` keeps for an SDK refusal naming a sub-account), nor tries the plan of
// the Safe's other loan asset. A rescue the module accepts waits as long as the refused one is the most urgent, and the
// `nothing-to-send` alert is raised once per rule: 20 blocks of nothing sent with one alert.
// The judge here stands for any unrepairable refusal naming FALLING (e.g. rr11f F1, or a rescue cut short of its band:
// HealthOutOfBand); every other plan is accepted.
const FALLING = `0x${"d0".repeat(32)}` as Hex
const MILD = `0x${"a0".repeat(32)}` as Hex

// `planWide`: the refusal names no sub-account (a plan-wide rule such as ValueLossExceeded).
const judgeMode = vi.hoisted(() => ({ planWide: false }))
vi.mock("./ruleJudge.js", () => ({
  snapshotRuleJudge: () => (plan: ChainPlan) =>
    plan.subAccounts.some((id) => id.toLowerCase() === `0x${"d0".repeat(32)}`)
      ? judgeMode.planWide
        ? { ok: false, error: { name: "ValueLossExceeded", args: [4n, 2n] } }
        : { ok: false, error: { name: "HealthOutOfBand", args: [`0x${"d0".repeat(32)}`, 10n ** 18n, 11n * 10n ** 17n, 15n * 10n ** 17n] } }
      : undefined,
}))

async function blocks(n: number, subs = [stepSub(MILD, USDC, 1.08, "below"), stepSub(FALLING, DAI, 1.01, "below")]) {
  const { events, metrics, plans, alerts } = await runStepBlocks(subs, n)
  const refusals = events.flatMap((e) => (e.type === "alert" ? [e.message.toLowerCase().includes(FALLING) ? FALLING : e.message] : []))
  const gauge = metrics.value("levpilot_rule_refused_blocks", { safe: SAFE })
  return { plans, alerts, refusals, gauge }
}

test("rr11f F3 fixed: over 20 blocks the USDC rescue goes out every block while the DAI one is refused; one alert naming FALLING", async () => {
  const { plans, alerts, refusals } = await blocks(20)
  expect(plans).toEqual(Array.from({ length: 20 }, () => [MILD]))
  expect(alerts).toEqual(["nothing-to-send"])
  expect(refusals).toEqual([FALLING])
})

test("rr11f F3 fixed: the refusal is alerted again every RULE_REFUSAL_REALERT_BLOCKS blocks while it lasts", async () => {
  const { alerts } = await blocks(Number(RULE_REFUSAL_REALERT_BLOCKS) + 1)
  expect(alerts).toEqual(["nothing-to-send", "nothing-to-send"])
})

test("rr11f F3 fixed: FALLING alone is refused: nothing is sent, one alert, the gauge counts the blocks", async () => {
  const { plans, alerts, gauge } = await blocks(5, [stepSub(FALLING, DAI, 1.01, "below")])
  expect(plans).toEqual([])
  expect(alerts).toEqual(["nothing-to-send"])
  expect(gauge).toBe(5)
})

test("rr11f F3 control: alone, the USDC rescue is planned, accepted by the judge and sent (dry run) in the first block", async () => {
  expect((await blocks(1, [stepSub(MILD, USDC, 1.08, "below")])).plans).toEqual([[MILD]])
})

// Was FAILS TODAY (rr11f F3): a refusal of the most urgent plan leaves its refused sub-account out for this block and plans
// again (the next loan asset's plan included), as the step does for an SDK refusal naming a sub-account.
test("rr11f F3: the USDC rescue goes out in the first block while the DAI one is refused", async () => {
  const { plans } = await blocks(1)
  expect(plans).toEqual([[MILD]])
})

test("rr11f F3 fixed: a refusal naming no sub-account gives way to the next loan asset's plan; one alert", async () => {
  judgeMode.planWide = true
  try {
    const { plans, alerts } = await blocks(3)
    expect(plans).toEqual([[MILD], [MILD], [MILD]])
    expect(alerts).toEqual(["nothing-to-send"])
  } finally {
    judgeMode.planWide = false
  }
})
