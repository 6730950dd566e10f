import { afterEach, describe, expect, test, vi } from "vitest"
import { UserOperationInFlightError } from "@levpilot/sdk/errors"
import { StoreFencedError } from "./store.js"
import { SAFE, senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Review rev11 (issue 11 item 9, AA25 handling): when the bundler answers AA25 and the chain's nonce is not the one
// sent (the chain moved on), the sender wrote the kept record WITHOUT awaiting it. In fleet mode on Redis that write is
// fenced: a worker whose lease expired (a stalled, overloaded machine: the worst minute) gets StoreFencedError, which
// then rejects nowhere. Node's default for an unhandled rejection is to crash the process: every Safe of that node goes
// unmanaged until it is restarted.

describe("RebalanceSender: AA25 at a nonce the chain has left, with the Safe's lease lost", () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  afterEach(() => {
    process.off("unhandledRejection", onUnhandled)
  })

  // Issue 16: a chain nonce above the one sent is no longer a mismatch (the operation landed; kept for the tracker), below
  // it still is; the kept record's write is awaited either way.
  test.each([
    { chainNonce: 6n, alerts: [] },
    { chainNonce: 4n, alerts: ["nonce-mismatch"] },
  ])("the fenced write is handled (no unhandled rejection), chain nonce $chainNonce: alerts $alerts", async ({ chainNonce, alerts }) => {
    process.on("unhandledRejection", onUnhandled)
    unhandled.length = 0
    let writes = 0
    // The intent before the send is written; the lease is then lost (every later write is fenced).
    const { sender, rt, events } = senderHarness({
      setPending: async () => {
        if (++writes > 1) throw new StoreFencedError({ safe: SAFE })
      },
      nonces: [5n, chainNonce],
    })
    vi.mocked(sendRebalance).mockRejectedValue(new UserOperationInFlightError({ cause: new Error("AA25 invalid account nonce") }))
    const thrown = await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined).then(() => undefined, (error) => error)
    expect(thrown).toBeInstanceOf(StoreFencedError)
    await new Promise((done) => setTimeout(done, 50))
    expect(unhandled).toEqual([])
    expect(events.filter((e) => e.type === "alert").map((e) => e.type === "alert" && e.kind)).toEqual(alerts)
  })
})
