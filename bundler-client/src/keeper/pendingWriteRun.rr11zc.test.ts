import { expect, test, vi } from "vitest"
import { StateWriteError, writePendingRecord } from "./store.js"
import { senderHarness } from "./testing.js"

// Review rr11zc C6 (rr11zb B1 fix: "state-write-failed once per run of failing writes, again after a write succeeds").
// The run flag `rt.pendingWriteFailing` is cleared only by a successful write made by the SENDER (sender.ts
// persistPending); the tracker's own writes of the same record (inclusion.ts: the clear after inclusion) and time do not
// end it. A Safe whose send failed to write at block 100 (alerted), whose disk then freed (the tracker cleared the record
// fine at 101) and that sent nothing until the disk filled again at 5000, is not alerted at 5000: the new run is taken
// as the old one (the shape of rr11zb B2). Mitigated in the classic keeper by the module-wide snapshot alert
// (StateSnapshots, its own run); not in the fleet on Redis (no snapshot).
// Fixed: the tracker writes through the same `writePendingRecord` (store.ts), whose success ends the run.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

test("rr11zc C6 (was: alerts [100] only): a second run of failing in-flight writes 4,900 blocks after the first (the disk free in between) is alerted", async () => {
  let full = true
  const writes: string[] = []
  // The one store both the sender and the tracker write the record to.
  const setPending = async (_safe: unknown, p: unknown) => {
    if (full) throw new StateWriteError({ path: "/var/lib/levpilot/state.json.journal.2", cause: Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }) })
    writes.push(p === undefined ? "clear" : "record")
  }
  const { sender, rt, events, keeperEvents, logger } = senderHarness({ setPending, nonces: [5n] })
  vi.mocked(sendRebalance).mockResolvedValue(`0x${"11".repeat(32)}`)
  await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined)
  // The disk frees; the tracker clears the landed record through the store (not the sender); nothing sent until 5000.
  full = false
  // The tracker's clear at 101, written as the tracker writes it (inclusion.ts: writePendingRecord).
  await writePendingRecord({ store: { pending: () => undefined, setPending }, events: keeperEvents, logger }, rt, 101n, undefined)
  expect(writes).toEqual(["clear"])
  full = true
  await sender.send(rt, 5000n, { subAccounts: [], actions: [] } as never, undefined)
  const alerted = events.flatMap((e) => (e.type === "alert" && e.kind === "state-write-failed" ? [Number(e.block)] : []))
  console.log(`rr11zc C6: state-write-failed at ${JSON.stringify(alerted)}; SDK sends ${vi.mocked(sendRebalance).mock.calls.length}`)
  expect(alerted).toEqual([100, 5000])
})
