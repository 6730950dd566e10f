import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { newSafeRuntime } from "./runtime.js"
import { DAI, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

// Review rr11o O1 (f11r's unreached turn, rr11n N4's fix): the turn's run (`rt.unreached`) is updated only by a step that
// finished (`reportUnreached` runs `if (finished)`). When the plan given the turn fails in a way the step rethrows (a plan
// of one sub-account whose simulation fails on its action, a venue's refusal, a bundler error, a swap quote read: alert
// + backoff, `finished` false), its `since` is never cleared: at every later step it goes first again, fails again, and
// the MOST urgent rescue (I), which is accepted whenever simulated, is never sent again.
// Fixture: rr11n N4's (I DAI 1.01 most urgent, C USDC 1.02; both stay due: I's operations included without effect), but
// C's plan alone fails at the sender with an error naming no sub-account (here a generic bundler refusal).
async function run(n: number) {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      const ids = plan.subAccounts.map((id) => id.slice(2, 4)).join(",")
      sent.push(`${b} ${ids}`)
      if (ids === "c1") throw new Error("bundler refused the operation: AA23 reverted (or not enough funds)")
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0 // the default retry.maxMs (8 s) is shorter than a block
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState([stepSub(C, USDC, 1.02, "below"), stepSub(I, DAI, 1.01, "below")]), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { sent, alerts, landedI: sent.filter((s) => s.endsWith(" b1")).map((s) => s.split(" ")[0]) }
}

test("rr11o O1 fixed (f11s): C's failing plan spends its turn (consumed when attempted), and I is sent in the other 3 blocks of 4", async () => {
  const { sent, alerts, landedI } = await run(20)
  // I in every block: C's turn at 103, 107, 111, ... (each failing) falls through to I in the same block (review rr11p P2;
  // f11s: I in the other 3 blocks of 4).
  expect(landedI).toEqual(Array.from({ length: 20 }, (_, k) => String(100 + k)))
  expect(sent.filter((s) => s.endsWith(" c1"))).toEqual(["103 c1", "107 c1", "111 c1", "115 c1", "119 c1"])
  // Alerted: the unreached turn at 102, then send-failed for C's failure (once per outage or per failing turn).
  expect(alerts[0]).toBe("102 nothing-to-send")
  expect(alerts.slice(1).filter((a) => a.endsWith("send-failed")).length).toBeGreaterThan(0)
}, 60_000)

test("rr11o O1 FAILS TODAY: the most urgent rescue keeps at least 3 blocks in 4 when a turn's plan fails", async () => {
  const { landedI } = await run(20)
  expect(landedI.length).toBeGreaterThanOrEqual(15)
}, 60_000)
