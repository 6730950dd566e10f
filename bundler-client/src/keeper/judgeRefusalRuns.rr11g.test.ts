import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { DAI, SAFE, USDC, runStepBlocks, stepSub } from "./testing.js"

// Review rr11g G3: rr11f F3's runs of rule-book refusals (`rt.ruleRefused`) are keyed `id|rule`, so a sub-account refused
// block after block under a rule that changes with the state (in a crash the cut rescue lands short one block,
// HealthOutOfBand, and breaks another rule the next) starts a new run every block: a `nothing-to-send` alert every block
// (not every RULE_REFUSAL_REALERT_BLOCKS) and the gauge `levpilot_rule_refused_blocks`, whose help says "blocks in a row
// in which the rule book refused a clamped plan of the Safe", stuck at 1 while the Safe has been refused for 20 blocks.
const FALLING = `0x${"d0".repeat(32)}` as Hex
const MILD = `0x${"a0".repeat(32)}` as Hex
const F = `0x${"d0".repeat(32)}`
vi.mock("./ruleJudge.js", () => ({
  // Refuses every plan listing FALLING, naming it; the rule alternates with the block (both are refusals of FALLING).
  snapshotRuleJudge: (snapshot: { blockNumber: bigint }) => (plan: ChainPlan) =>
    plan.subAccounts.some((id) => id.toLowerCase() === F)
      ? snapshot.blockNumber % 2n === 0n
        ? { ok: false, error: { name: "HealthOutOfBand", args: [F, 10n ** 18n, 11n * 10n ** 17n, 15n * 10n ** 17n] } }
        : { ok: false, error: { name: "HealthOutsideLandingZone", args: [F, 10n ** 18n, 13n * 10n ** 17n, 15n * 10n ** 17n] } }
      : undefined,
}))

async function blocks(n: number) {
  const { events, metrics, plans, alerts } = await runStepBlocks([stepSub(MILD, USDC, 1.08, "below"), stepSub(FALLING, DAI, 1.01, "below")], n)
  const messages = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.message} ${e.reason ?? ""}`] : []))
  return { plans, alerts, messages, gauge: metrics.value("levpilot_rule_refused_blocks", { safe: SAFE }) }
}

// Was "observed today" (20 alerts, gauge 1: runs were keyed id|rule). Fixed: one run per sub-account whatever its rule,
// re-alerted every RULE_REFUSAL_REALERT_BLOCKS naming the rule of that block; the gauge counts the whole run.
test("rr11g G3 fixed: 60 blocks refused under alternating rules: alerted at blocks 100 and 150, each naming that block's rule; gauge 60", async () => {
  const { plans, alerts, messages, gauge } = await blocks(60)
  expect(plans).toEqual(Array.from({ length: 60 }, () => [MILD]))
  expect(alerts).toEqual(["nothing-to-send", "nothing-to-send"])
  // Block 100 (even): HealthOutOfBand; block 150 (even): HealthOutOfBand. The alert names the current rule.
  expect(messages.map((m) => m.split(" ")[0])).toEqual(["100", "150"])
  for (const m of messages) expect(m).toMatch(/HealthOutOfBand/)
  expect(gauge).toBe(60)
})

// Was FAILS TODAY (rr11g G3): a run is the sub-account's (or the Safe's plan-wide) refusal whatever its rule: one alert per
// RULE_REFUSAL_REALERT_BLOCKS (the rule named in it, or re-alert on a rule change at most once per N), gauge 20.
test("rr11g G3: a sub-account refused 20 blocks in a row is alerted once and the gauge says 20", async () => {
  const { alerts, gauge } = await blocks(20)
  expect(alerts).toEqual(["nothing-to-send"])
  expect(gauge).toBe(20)
})
