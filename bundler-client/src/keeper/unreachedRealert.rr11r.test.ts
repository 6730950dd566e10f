import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { RULE_REFUSAL_REALERT_BLOCKS } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// Review rr11r R4 (alert flood; same root as R2). The `unreached` alert (stage `unreached`) is documented "at most once
// per RULE_REFUSAL_REALERT_BLOCKS" (50) per sub-account while it stays due. Fixture: 18 due sub-accounts, 9 on USDC
// (01-09, the most urgent) and 9 on DAI (0a-12), health 1.010 + 0.002 k; every operation lands without effect (all stay
// due). Each asset has one sub-account over the module's 8 (09, 12). When DAI's over-limit 12 has the turn,
// planAndSend solves DAI again without its planned due sub-accounts that have no turn (0a-11): before the fix they were
// in no ranked plan of that step, so reportUnreached DROPPED their runs (with the block of their last alert) and their
// next unreached run alerted afresh: 10 alerts at 102, then 8 every 5 blocks for the same 8 (50 in 30 blocks). Fixed:
// the turn's re-solve counts them unreached (carried), their runs kept.
const ids: Hex[] = Array.from({ length: 18 }, (_, k) => subIdOf(k + 1))
const B = 30

async function run() {
  const base = refusingSender(() => false, { rescued: () => false })
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < B; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(ids.map((id, j) => stepSub(id, j < 9 ? USDC : DAI, 1.01 + j * 0.002, "below"))), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [{ block: Number(e.block), kind: e.kind, id: ids.find((id) => e.message.toLowerCase().includes(id.toLowerCase()))?.slice(2, 4) }] : []))
  const perId = new Map<string, number[]>()
  for (const a of alerts) if (a.id) perId.set(a.id, [...(perId.get(a.id) ?? []), a.block])
  return { alerts, perId }
}

test("rr11r R4 fixed: 18 due sub-accounts on 2 loan assets: one unreached alert per sub-account in 30 blocks (was 50, 0a re-alerted every 5 blocks)", async () => {
  const { alerts, perId } = await run()
  console.log(`R4: ${alerts.length} alerts in ${B} blocks; 0a at ${perId.get("0a")?.join(",")}`)
  expect(alerts.every((a) => a.kind === "nothing-to-send")).toBe(true)
  // Every sub-account waits behind another plan at some point, and is alerted once (RULE_REFUSAL_REALERT_BLOCKS > B).
  expect([...perId.keys()].sort()).toEqual(ids.map((id) => id.slice(2, 4)).sort())
  for (const [id, blocks] of perId) expect(blocks.length, id).toBe(1)
  expect(alerts.length).toBe(ids.length)
}, 120_000)

test("rr11r R4 FAILS TODAY: each sub-account's unreached alert repeats at most once per RULE_REFUSAL_REALERT_BLOCKS (50): one alert each in 30 blocks", async () => {
  const { perId } = await run()
  for (const [id, blocks] of perId) {
    for (let x = 1; x < blocks.length; x++) expect(BigInt((blocks[x] as number) - (blocks[x - 1] as number)), id).toBeGreaterThanOrEqual(RULE_REFUSAL_REALERT_BLOCKS)
  }
}, 120_000)
