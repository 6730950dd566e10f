import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"
import { webhookPayload } from "./webhook.js"

// Review rr11r R3 (issue 11 item 9: "0 operations, 0 alerts, every failure counter at 0 ... must alert whenever it
// cannot"; f11u's fix of rr11p P4). A below-band sub-account the keeper cannot rescue (its policy's epoch rebalance cap
// spent in a crash, at health 1.01 against minHealth 1.1) is reported only as a `no-rescue` EVENT (plus a warn line and
// the gauge `levpilot_rescue_infeasible`). Before the fix it was not an alert: `KeeperEvents.alert` is never called, so
// `levpilot_failures_total` stays 0, and the webhook (`webhookPayload`: types alert | sent | included only; the fleet's
// and the daemon's push channel) drops the event whatever its settings. An operator who is paged by alerts learns
// nothing while the position rides to liquidation; the owners could raise the cap (setPolicy) or add collateral.
const X = `0x${"e1".repeat(32)}` as Hex

async function run(n: number) {
  const sent: string[] = []
  const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => void sent.push(`${b} ${plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`) }
  const { step, events, metrics } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const x = stepSub(X, USDC, 1.01, "below")
  x.policy.maxRebalancesPerEpoch = 3
  x.epochUsage = { ...x.epochUsage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 3, lastRebalance: 1_699_990_000 }
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState([x]), k) })
  }
  const alerts = events.filter((e) => e.type === "alert")
  const posted = events.flatMap((e) => {
    const p = webhookPayload(e, { events: ["alert", "sent", "included"], keeper: "0x0000000000000000000000000000000000000001", chainId: 1, now: 0 })
    return p === undefined ? [] : [p]
  })
  const failures = metrics.render().split("\n").filter((l) => l.startsWith("levpilot_failures_total{"))
  return { sent, alerts, posted, noRescue: events.filter((e) => e.type === "no-rescue").length, failures, metrics }
}

test("rr11r R3 fixed: a below-band sub-account with no feasible rescue (epoch cap spent) over 20 blocks: 0 operations, ONE rescue-infeasible alert (binding, numbers) posted by the webhook and counted, with the no-rescue event", async () => {
  const { sent, alerts, posted, noRescue, metrics, failures } = await run(20)
  console.log(`R3: ${alerts.length} alert(s) in 20 blocks: ${alerts.map((a) => (a.type === "alert" ? `${a.block} ${a.kind}: ${a.message}` : "")).join(" | ")}`)
  expect(sent).toEqual([])
  // Once per run: the run lasts the 20 blocks with the same binding.
  expect(alerts.map((a) => (a.type === "alert" ? [a.block, a.kind] : []))).toEqual([[100n, "rescue-infeasible"]])
  const message = alerts[0]?.type === "alert" ? alerts[0].message : ""
  expect(message).toContain(X)
  expect(message).toContain("policyCap")
  expect(message).toContain("epoch rebalance cap 3")
  expect(message).toContain("health 1.0100 < minHealth 1.1")
  expect(posted.length).toBe(1)
  expect(noRescue).toBe(1)
  expect(failures).toEqual([`levpilot_failures_total{safe="${SAFE}",kind="rescue-infeasible"} 1`])
  expect(metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: X, venue: "morpho-blue" })).toBe(1)
}, 60_000)

test("rr11r R3 FAILS TODAY: a below-band sub-account the keeper cannot rescue reaches the alert channel (an alert, posted by the webhook) within 3 blocks", async () => {
  const { alerts, posted } = await run(3)
  expect(alerts.length).toBeGreaterThan(0)
  expect(posted.length).toBeGreaterThan(0)
}, 60_000)
