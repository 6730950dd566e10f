import { BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { LeverageModuleRevertedError } from "@levpilot/sdk/errors"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// bench:fleet 5,000 x 4: 10 sends refused by the SDK's send-time `marketState` read and 6 by Alto's simulation with
// Panic(0x11): reads at the node's head made while anvil mined the next block (its state under the head's header,
// bench/anvilReadRace.mjs). The sender planned such a Safe again at the next block (a block of delay each, an alert at
// the third in a row). Once the node has sealed the block being mined the same reads are consistent: the send is tried
// again in its step.

const plan = { subAccounts: [], actions: [] } as never
const PANIC = `0x4e487b71${"11".padStart(64, "0")}`
const simulationPanic = () => new LeverageModuleRevertedError({ errorName: "Panic", args: [0x11n], cause: new BaseError(`UserOperation reverted during simulation with reason: ${PANIC}`) })

describe("RebalanceSender: a send refused with Panic(0x11) while the node mines its next block", () => {
  test("is sent again in the same step once the head moved: sent, nothing deferred, no alert", async () => {
    let polls = 0
    // Head 100 while block 101 is mined (two polls), then 101.
    const { sender, rt, events, metrics } = senderHarness({ setPending: async () => undefined, nonces: [5n], head: () => (++polls > 2 ? 101n : 100n) })
    vi.mocked(sendRebalance).mockRejectedValueOnce(simulationPanic()).mockResolvedValueOnce(`0x${"ab".repeat(32)}` as never)
    await sender.send(rt, 100n, plan, undefined)
    expect(events.filter((e) => e.type === "sent")).toHaveLength(1)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    expect(metrics.render()).not.toMatch(/reason="arithmetic-panic"/)
    expect(polls).toBe(3)
  })
})
