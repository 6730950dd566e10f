import { parseGwei } from "viem"
import { describe, expect, test, vi } from "vitest"
import type { PendingOperation } from "./stateFile.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Review rev11s (issue 11 item 4, "when the cap itself is below the market, alert with both numbers"). A spike that
// lasts: the market stays above the Safe's caps for many blocks while a stuck deleverage is resent at its nonce every
// `resubmitAfterBlocks`. The `gas-cap-below-market` alert fired at EVERY send (first send and each resend), so a spike of
// an hour paged the operator ~75 times per Safe and `levpilot_failures_total{kind="gas-cap-below-market"}` counted
// resends, not spikes, while `replacement-blocked`, `feed-broken`, `venue-refused` and `nothing-to-send` are once per
// operation / outage. Expected: one alert per operation (nonce) that is priced at the caps; a new operation capped again
// alerts again; each capped send still logs a warning with both numbers, and a gauge says the caps bind now.

const gwei = (x: number) => parseGwei(String(x))
const caps = { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(2) }
const spike = { maxFeePerGas: gwei(300), maxPriorityFeePerGas: gwei(9) }
const calm = { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(1) }
const PLAN = { subAccounts: [], actions: [] } as never

const pendingAt = (nonce: bigint, sentBlock: bigint, firstSentBlock = sentBlock): PendingOperation => ({
  userOpHash: `0x${"11".repeat(32)}`,
  nonce: `${nonce}`,
  sentBlock: `${sentBlock}`,
  firstSentBlock: `${firstSentBlock}`,
  sentAt: 0,
  maxFeePerGas: `${caps.maxFeePerGas}`,
  maxPriorityFeePerGas: `${caps.maxPriorityFeePerGas}`,
  sponsored: true,
  attempts: 1,
  triggerBlock: `${firstSentBlock}`,
  triggerAt: 0,
})

describe("gas-cap-below-market while a spike lasts", () => {
  test("a stuck deleverage resent 4 times in a spike: one alert for its nonce; the next operation capped again: a second", async () => {
    let market = spike
    const { sender, rt, events, metrics } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => market })
    vi.mocked(sendRebalance).mockResolvedValue(`0x${"22".repeat(32)}`)
    await sender.send(rt, 100n, PLAN, undefined, undefined, true)
    for (const block of [104n, 108n, 112n, 116n]) await sender.send(rt, block, PLAN, pendingAt(5n, block - 4n, 100n), undefined, true)
    const capped = () => events.filter((e) => e.type === "alert" && e.kind === "gas-cap-below-market")
    expect(capped()).toHaveLength(1)
    const first = capped()[0]
    expect(first?.type === "alert" && first.message).toContain(`maxFeePerGas ${spike.maxFeePerGas} wei > cap ${caps.maxFeePerGas} wei`)
    expect(metrics.render()).toMatch(/levpilot_failures_total\{[^}]*kind="gas-cap-below-market"[^}]*\} 1\b/)
    // The gauge: the caps bind now.
    expect(metrics.render()).toMatch(/levpilot_gas_cap_below_market\{[^}]*safe="[^"]+"[^}]*\} 1\b/)
    // The next operation (nonce 6), capped again: a new alert.
    await sender.send(rt, 130n, PLAN, pendingAt(6n, 126n), undefined, true)
    expect(capped()).toHaveLength(2)
    // The market back under the caps: the gauge goes to 0; a later spike on a new operation alerts again.
    market = calm
    await sender.send(rt, 140n, PLAN, undefined)
    expect(metrics.render()).toMatch(/levpilot_gas_cap_below_market\{[^}]*safe="[^"]+"[^}]*\} 0\b/)
    market = spike
    await sender.send(rt, 150n, PLAN, undefined)
    expect(capped()).toHaveLength(3)
  })
})
