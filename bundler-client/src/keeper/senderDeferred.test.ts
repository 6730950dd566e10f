import { BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { SelfPayEpochEndingError, SelfPayEpochTooShortError } from "@levpilot/sdk/errors"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// A self-paid operation is not signed in the last seconds of its self-pay epoch (toKeeperAccount throws
// SelfPayEpochEndingError, here wrapped as viem wraps a signer's error). That is by design once a day, not a failure:
// no alert, a `deferred` event naming the next epoch's start, and the plan is made again on a later block.

const EPOCH_END = 1_796_083_199
const endingError = () => new BaseError("signing failed", { cause: new SelfPayEpochEndingError({ safe: SAFE, epochEnd: EPOCH_END, now: EPOCH_END - 3, marginSeconds: 30 }) })

describe("RebalanceSender: a self-paid operation in its epoch's last seconds", () => {
  test("a new send is deferred: no alert, a deferred event with retryAt, no intent kept", async () => {
    const writes: (PendingOperation | undefined)[] = []
    const { sender, rt, events, metrics } = senderHarness({ setPending: async (_safe, pending) => void writes.push(pending), nonces: [5n] })
    vi.mocked(sendRebalance).mockRejectedValue(endingError())
    await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    expect(events.filter((e) => e.type === "deferred")).toMatchObject([{ safe: SAFE, block: 100n, reason: "self-pay-epoch-ending", retryAt: EPOCH_END + 1 }])
    expect(writes.at(-1)).toBeUndefined()
    expect(metrics.render()).toMatch(/levpilot_sends_deferred_total\{[^}]*reason="self-pay-epoch-ending"[^}]*\} 1/)
  })

  test("a deferred resend keeps tracking the operation it was to replace (it may still land in its epoch)", async () => {
    const writes: (PendingOperation | undefined)[] = []
    const { sender, rt, events } = senderHarness({ setPending: async (_safe, pending) => void writes.push(pending), nonces: [5n] })
    const replace: PendingOperation = {
      userOpHash: `0x${"11".repeat(32)}`,
      nonce: "5",
      sentBlock: "90",
      firstSentBlock: "90",
      sentAt: 0,
      maxFeePerGas: "1000000000",
      maxPriorityFeePerGas: "100000000",
      sponsored: false,
      attempts: 1,
      triggerBlock: "90",
    } as PendingOperation
    vi.mocked(sendRebalance).mockRejectedValue(endingError())
    await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, replace)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    expect(events.some((e) => e.type === "deferred")).toBe(true)
    expect(writes.at(-1)).toEqual(replace)
  })

  test("a self-pay epoch no longer than the margin is no deferral: the error reaches the step (which alerts send-failed), nothing kept", async () => {
    const writes: (PendingOperation | undefined)[] = []
    const { sender, rt, events } = senderHarness({ setPending: async (_safe, pending) => void writes.push(pending), nonces: [5n] })
    vi.mocked(sendRebalance).mockRejectedValue(new BaseError("signing failed", { cause: new SelfPayEpochTooShortError({ safe: SAFE, epochLength: 30, marginSeconds: 30 }) }))
    const error = await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined).then(() => undefined, (e: unknown) => e)
    expect((error as BaseError).walk((e) => e instanceof SelfPayEpochTooShortError)).toBeInstanceOf(SelfPayEpochTooShortError)
    expect(events.filter((e) => e.type === "deferred")).toEqual([])
    expect(writes.at(-1)).toBeUndefined()
  })
})
