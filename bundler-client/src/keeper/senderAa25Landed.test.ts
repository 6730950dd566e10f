import { describe, expect, test, vi } from "vitest"
import { UserOperationInFlightError } from "@levpilot/sdk/errors"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Issue 16 (bench:fleet 1,000 x 4): an operation landed in the block its Safe was being resubmitted. The resend was
// answered AA25 and the chain's nonce was above the record's: the sender raised `nonce-mismatch` ("already used", 7 such
// alerts in that row) although nothing was wrong: the operation (or an earlier send of it) landed. Only a chain nonce
// BELOW the record's (the record ahead of the chain) is a mismatch.

const NONCE = (7n << 64n) | 5n

const replaced: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`,
  nonce: NONCE.toString(),
  sentBlock: "90",
  firstSentBlock: "80",
  sentAt: 0,
  maxFeePerGas: "1000000000",
  maxPriorityFeePerGas: "100000000",
  sponsored: true,
  attempts: 1,
  triggerBlock: "80",
  triggerAt: 0,
}

function resendAnsweredAa25(chainNonce: bigint) {
  const writes: (PendingOperation | undefined)[] = []
  const h = senderHarness({ setPending: async (_safe, p) => void writes.push(p), nonces: [chainNonce] })
  vi.mocked(sendRebalance).mockRejectedValue(new UserOperationInFlightError({ cause: new Error("AA25 invalid account nonce") }))
  return { ...h, writes, send: () => h.sender.send(h.rt, 100n, { subAccounts: [], actions: [] } as never, replaced) }
}

const alerts = (events: { type: string; kind?: string }[]) => events.filter((e) => e.type === "alert").map((e) => e.kind)

describe("RebalanceSender: a resend answered AA25 (issue 16)", () => {
  test("chain nonce above the record's (the operation landed): no nonce-mismatch alert, the record kept for the tracker", async () => {
    const h = resendAnsweredAa25(NONCE + 1n)
    await h.send()
    expect(alerts(h.events)).toEqual([])
    const kept = h.writes.at(-1)
    // The replaced record (its hash and first send: the tracker searches from there), not the resend's intent.
    expect(kept).toMatchObject({ nonce: NONCE.toString(), userOpHash: replaced.userOpHash, firstSentBlock: "80", sentBlock: "90", attempts: 2 })
    expect(h.events.filter((e) => e.type === "tracking")).toMatchObject([{ safe: SAFE, nonce: NONCE, reason: "nonce-used" }])
  })

  test("chain nonce below the record's (the record ahead of the chain): the nonce-mismatch alert stays", async () => {
    const h = resendAnsweredAa25(NONCE - 1n)
    await h.send()
    expect(alerts(h.events)).toEqual(["nonce-mismatch"])
    expect(h.writes.at(-1)).toMatchObject({ nonce: NONCE.toString(), userOpHash: replaced.userOpHash })
  })

  test("chain nonce equal (an operation of ours in flight at it): tracked as already in flight, no alert", async () => {
    const h = resendAnsweredAa25(NONCE)
    await h.send()
    expect(alerts(h.events)).toEqual([])
    expect(h.events.filter((e) => e.type === "tracking")).toMatchObject([{ reason: "already-in-flight" }])
  })
})
