import { BaseError } from "viem"
import { expect, test, vi } from "vitest"
import { NoTriggerError } from "@levpilot/sdk/errors"
import { NO_TRIGGER_ALERT_BLOCKS, noteStepRan } from "./sender.js"
import { senderHarness } from "./testing.js"

// Review rr11zb B2 (issue 11 item 9, "alert whenever it cannot"; k13s: "NoTrigger alerts once per run"). A NoTrigger
// run is meant to be "blocks in a row" (NO_TRIGGER_ALERT_BLOCKS) and to end "when a send is accepted or refused
// otherwise" (sender.ts). It never ends any other way: a step that plans nothing (the sub-accounts back in their band,
// no send at all) left the run's start and, since k13s, its alerted flag set (now `rt.noTrigger`). So:
//  (a) after one alerted run, a NEW persistent NoTrigger hours later (the keeper plans a rescue at every block, the SDK
//      refuses every one) is never alerted: 0 alerts while the Safe is unprotected;
//  (b) one NoTrigger race (the keeper's own op landed between read and send, the documented benign case), then hours
//      of nothing, then ONE race again: alerted at once ("3 blocks in a row" counted across the gap).
// Fixed (b2): the step notes each block it runs (`noteStepRan`); a step after the run's last refusal without one ends
// the run. Each test calls it where SafeStep.run does (before the send, not while backed off).
vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")
const noTrigger = () => new BaseError("validation failed", { cause: new NoTriggerError() })
const PLAN = { subAccounts: [], actions: [] } as never

function harness() {
  const h = senderHarness({ setPending: async () => undefined, nonces: Array.from({ length: 100 }, () => 5n) })
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockRejectedValue(noTrigger())
  const alerts = () => h.events.filter((e) => e.type === "alert" && e.kind === "send-failed").map((e) => Number((e as { block: bigint }).block))
  return { ...h, alerts }
}

test("rr11zb B2 (held, reference): a NoTrigger run of NO_TRIGGER_ALERT_BLOCKS consecutive blocks is alerted once, at its third block", async () => {
  const { sender, rt, alerts } = harness()
  for (const b of [100n, 101n, 102n, 103n, 104n]) {
    noteStepRan(rt, b)
    await sender.send(rt, b, PLAN, undefined)
  }
  expect(NO_TRIGGER_ALERT_BLOCKS).toBe(3n)
  expect(alerts()).toEqual([102])
})

test("rr11zb B2a (fixed; was alerts [102] only: the second run 1000-1029 never alerted): a run alerted at 102, the Safe quiet (no send) from 103 to 999, a new run refused NoTrigger at every block 1000-1029: expected it alerted", async () => {
  const { sender, rt, alerts } = harness()
  for (const b of [100n, 101n, 102n]) {
    noteStepRan(rt, b)
    await sender.send(rt, b, PLAN, undefined)
  }
  // 103..999: the step runs and plans nothing (in band): the sender is not called.
  for (let b = 103n; b < 1000n; b++) noteStepRan(rt, b)
  for (let b = 1000n; b < 1030n; b++) {
    noteStepRan(rt, b)
    await sender.send(rt, b, PLAN, undefined)
  }
  expect(alerts().length).toBe(2)
  expect(alerts()[1]).toBeGreaterThanOrEqual(1000 + Number(NO_TRIGGER_ALERT_BLOCKS) - 1)
})

test("rr11zb B2b (fixed; was alerts [5000]): one benign NoTrigger race at 100, nothing sent for 4,900 blocks, one race at 5000 (accepted at 5001): expected no alert (not 3 blocks in a row)", async () => {
  const { sender, rt, alerts } = harness()
  noteStepRan(rt, 100n)
  await sender.send(rt, 100n, PLAN, undefined)
  noteStepRan(rt, 101n) // in band: nothing planned
  noteStepRan(rt, 5000n)
  await sender.send(rt, 5000n, PLAN, undefined)
  noteStepRan(rt, 5001n)
  vi.mocked(sendRebalance).mockResolvedValueOnce(`0x${"11".repeat(32)}` as never)
  await sender.send(rt, 5001n, PLAN, undefined)
  expect(alerts()).toEqual([])
})

test("b2 (held): blocks skipped while backed off do not end an alerted run: refusals after the backoff are not alerted again", async () => {
  const { sender, rt, alerts } = harness()
  for (const b of [100n, 101n, 102n]) {
    noteStepRan(rt, b)
    await sender.send(rt, b, PLAN, undefined)
  }
  // 103..119: backed off, the step does not run; 120..129 it runs and the SDK still refuses.
  for (let b = 120n; b < 130n; b++) {
    noteStepRan(rt, b)
    await sender.send(rt, b, PLAN, undefined)
  }
  expect(alerts()).toEqual([102])
})
