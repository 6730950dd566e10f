import { describe, expect, test, vi } from "vitest"
import { GasFieldAboveCapError } from "@levpilot/sdk/errors"
import type { PendingOperation } from "./stateFile.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn(), estimateRebalance: vi.fn() }))
const { sendRebalance, estimateRebalance } = await import("@levpilot/sdk/actions")

// h11p (issue 11, reviews rr11x X2 / rr11y Y3): `RebalanceSender.estimate` is the narrowing's estimate-only probe: the
// SDK's `estimateRebalance` with the parameters a send of the same plan would get (one parameter builder), nothing
// persisted, no alert, no backoff, no `sent` event.
describe("RebalanceSender.estimate", () => {
  test("same SDK parameters as send (nonce, fees at the Safe's caps, sponsored), no intent written, no event", async () => {
    const writes: (PendingOperation | undefined)[] = []
    const market = { maxFeePerGas: 3n * 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n }
    const { sender, rt, events } = senderHarness({ setPending: async (_s, p) => void writes.push(p), nonces: [5n], market: () => market })
    const plan = { subAccounts: [], actions: [] } as never
    vi.mocked(estimateRebalance).mockResolvedValue({ userOperation: {} as never, bundlerEstimate: undefined })
    vi.mocked(sendRebalance).mockResolvedValue(`0x${"ab".repeat(32)}`)
    await sender.estimate(rt, plan, undefined, true)
    expect(writes).toEqual([])
    expect(events).toEqual([])
    expect(sendRebalance).not.toHaveBeenCalled()
    await sender.send(rt, 100n, plan, undefined, undefined, true)
    const estimated = vi.mocked(estimateRebalance).mock.calls[0]?.[1]
    const sent = vi.mocked(sendRebalance).mock.calls[0]?.[1]
    // The market's 300 gwei capped at the Safe's 100 gwei, as a send prices it.
    expect(estimated).toMatchObject({ nonce: 5n, maxFeePerGas: 10n ** 11n, validate: true })
    expect(estimated).toEqual(sent)
  })
  test("the SDK's refusal is thrown as it comes (the narrowing reads the cap refusal's numbers), nothing written", async () => {
    const writes: (PendingOperation | undefined)[] = []
    const { sender, rt, events } = senderHarness({ setPending: async (_s, p) => void writes.push(p), nonces: [5n] })
    const refusal = new GasFieldAboveCapError({ field: "callGasLimit", value: 2_400_000n, cap: 1_500_000n })
    vi.mocked(estimateRebalance).mockRejectedValue(refusal)
    await expect(sender.estimate(rt, { subAccounts: [], actions: [] } as never, undefined)).rejects.toBe(refusal)
    expect(writes).toEqual([])
    expect(events).toEqual([])
    expect(rt.backoffUntil).toBe(0)
  })
})
