import { BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { ReadFailedError } from "@levpilot/sdk/errors"
import { READ_FAILED_ALERT_ATTEMPTS } from "./sender.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// bench:fleet 5,000 x 4: the send-time validation's multicall returned a failed getAutomationConfig entry; the SDK now
// throws ReadFailedError naming it. Nothing was judged: the keeper plans again at the next block (a transient read
// failure), and alerts rpc-error (the node's, not the plan's) only when it repeats.

const readFailed = () =>
  new BaseError("validation failed", { cause: new ReadFailedError({ address: "0x00000000000000000000000000000000000000a0", functionName: "getAutomationConfig" }) })
const plan = { subAccounts: [], actions: [] } as never

describe("RebalanceSender: a read of the send-time validation failed in its multicall (ReadFailedError)", () => {
  test("once: no alert (no send-failed), no backoff, deferred with reason read-failed", async () => {
    const { sender, rt, events, metrics } = senderHarness({ setPending: async () => undefined, nonces: [5n] })
    vi.mocked(sendRebalance).mockRejectedValue(readFailed())
    await sender.send(rt, 100n, plan, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    expect(rt.backoffUntil).toBe(0)
    expect(metrics.render()).toMatch(/levpilot_sends_deferred_total\{[^}]*reason="read-failed"[^}]*\} 1/)
  })

  test(`${READ_FAILED_ALERT_ATTEMPTS} attempts in a row (two in one block count once): one rpc-error alert naming the read, with backoff`, async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 5n, 5n, 5n] })
    vi.mocked(sendRebalance).mockRejectedValue(readFailed())
    await sender.send(rt, 100n, plan, undefined)
    await sender.send(rt, 100n, plan, undefined)
    for (let k = 1; k < READ_FAILED_ALERT_ATTEMPTS; k++) await sender.send(rt, 100n + BigInt(k), plan, undefined)
    const alerts = events.filter((e) => e.type === "alert")
    expect(alerts).toHaveLength(1)
    expect(alerts[0]).toMatchObject({ kind: "rpc-error", block: 100n + BigInt(READ_FAILED_ALERT_ATTEMPTS - 1) })
    expect((alerts[0] as { message: string }).message).toMatch(/getAutomationConfig/)
    expect(rt.backoffUntil).toBeGreaterThan(0)
  })

  test("a successful send in between restarts the count", async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 6n, 6n, 6n] })
    vi.mocked(sendRebalance).mockRejectedValueOnce(readFailed()).mockRejectedValueOnce(readFailed()).mockResolvedValueOnce("0x01" as never).mockRejectedValue(readFailed())
    for (let b = 100n; b < 105n; b++) await sender.send(rt, b, plan, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
  })
})
