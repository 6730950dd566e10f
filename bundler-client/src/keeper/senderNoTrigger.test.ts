import { BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { NoTriggerError } from "@levpilot/sdk/errors"
import { NO_TRIGGER_ALERT_BLOCKS } from "./sender.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// The keeper plans from its block's read; the SDK checks the plan against the latest state before it signs. When the
// keeper's own operation landed (or the owner acted) between the two, the SDK refuses with NoTrigger: the state moved
// on, nothing is wrong (a CI run on a loaded machine alerted send-failed for it, keeper.worstMinute). Repeated over
// NO_TRIGGER_ALERT_BLOCKS blocks in a row, the keeper's read and the SDK's disagree: then it is an alert.

const noTrigger = () => new BaseError("validation failed", { cause: new NoTriggerError() })

describe("RebalanceSender: the SDK refuses a plan with NoTrigger", () => {
  test("once (the state moved on since the read): no alert, nothing kept, no backoff", async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n] })
    vi.mocked(sendRebalance).mockRejectedValue(noTrigger())
    await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    expect(rt.backoffUntil).toBe(0)
  })

  test(`in ${NO_TRIGGER_ALERT_BLOCKS} blocks in a row: one send-failed alert naming NoTrigger`, async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 5n, 5n] })
    vi.mocked(sendRebalance).mockRejectedValue(noTrigger())
    for (let b = 0n; b < NO_TRIGGER_ALERT_BLOCKS; b++) await sender.send(rt, 100n + b, { subAccounts: [], actions: [] } as never, undefined)
    const alerts = events.filter((e) => e.type === "alert")
    expect(alerts).toHaveLength(1)
    expect(alerts[0]).toMatchObject({ kind: "send-failed", block: 100n + NO_TRIGGER_ALERT_BLOCKS - 1n })
  })

  test("a send in between restarts the count", async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 5n, 5n] })
    vi.mocked(sendRebalance).mockRejectedValueOnce(noTrigger()).mockRejectedValueOnce(new Error("bundler said no")).mockRejectedValue(noTrigger())
    await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined)
    await sender.send(rt, 101n, { subAccounts: [], actions: [] } as never, undefined).catch(() => undefined)
    await sender.send(rt, 102n, { subAccounts: [], actions: [] } as never, undefined)
    await sender.send(rt, 103n, { subAccounts: [], actions: [] } as never, undefined)
    expect(events.filter((e) => e.type === "alert" && e.kind === "send-failed")).toEqual([])
  })
})
