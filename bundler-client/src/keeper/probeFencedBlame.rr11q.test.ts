import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { StoreFencedError } from "./store.js"
import { SAFE, STEP_RISK, USDC, chainRuleRefused, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11q Q1-b (f11t, Low; the fleet's fencing row of SECURITY.md: "the stale worker gets StoreFencedError and
// stops"): the store's fenced write failing inside an isolation probe of ONE sub-account (this worker lost the Safe's
// lease to another: a GC pause, a partition) is not a transport failure, so f11t blames that sub-account: a
// `nothing-to-send` alert saying the chain's simulation refuses its plan alone, and the isolation goes on probing the
// others (each fenced again, each blamed). `run` handles the same error from a plan quietly (a warn, no alert). The blame
// also stays in this process's runtime (`chain-rule` entries of `rt.aloneFacts` is not part of the fleet's shared runtime). Fixture: C and I
// (USDC 1.01 / 1.02) due, [C, I] refused plan-wide (loss class); every write of this worker is fenced from the probes on.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

async function run() {
  const base = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(c) && ids.includes(i)
    },
    { thrown: (plan) => (plan.subAccounts.length === 1 ? new StoreFencedError({ safe: SAFE }) : undefined) },
  )
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  await step.run(rt, 100n, { snapshot: stepSnapshotAt(stepSafeState([stepSub(C, USDC, 1.01, "below"), stepSub(I, USDC, 1.02, "below")]), 0) })
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}${e.message.includes(C) ? " C" : ""}${e.message.includes(I) ? " I" : ""}${e.message.includes("StoreFencedError") ? " fenced" : ""}`] : []))
  return { sent: base.sent, alerts, remembered: chainRuleRefused(rt).sort() }
}

test("rr11q Q1-b fixed: a fenced write in C's probe ends the stale worker's step before anyone is blamed (no alert, nothing remembered)", async () => {
  const { sent, alerts, remembered } = await run()
  expect(sent).toEqual(["100 c1,b1", "100 c1"])
  expect(alerts.filter((a) => a.includes("nothing-to-send"))).toEqual([])
  expect(remembered).toEqual([])
})

test("rr11q Q1-b FAILS TODAY: a fenced write stops the stale worker's step (no blame, no alert), as `run` does for a plan", async () => {
  const { sent, alerts, remembered } = await run()
  expect(sent).toEqual(["100 c1,b1", "100 c1"])
  expect(alerts).toEqual([])
  expect(remembered).toEqual([])
}, 60_000)
