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

test("rr11o O1 observed today: once C's failing plan has the turn, the most urgent rescue I is never sent again", async () => {
  const { sent, alerts, landedI } = await run(20)
  // I at 100-102; from 103 on, C's plan goes first in every step and fails; I is never reached.
  expect(landedI).toEqual(["100", "101", "102"])
  expect(sent.slice(3)).toEqual(Array.from({ length: 17 }, (_, k) => `${103 + k} c1`))
  // Alerted: the unreached turn at 102, then send-failed at each failing step (C's failure, not I's stall).
  expect(alerts[0]).toBe("102 nothing-to-send")
  expect(alerts.slice(1).every((a) => a.endsWith("send-failed"))).toBe(true)
}, 60_000)

test.skip("rr11o O1 FAILS TODAY: the most urgent rescue keeps at least 3 blocks in 4 when a turn's plan fails", async () => {
  const { landedI } = await run(20)
  expect(landedI.length).toBeGreaterThanOrEqual(15)
}, 60_000)
