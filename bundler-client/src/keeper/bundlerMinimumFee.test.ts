import { BaseError, RpcRequestError, parseGwei } from "viem"
import { describe, expect, test, vi } from "vitest"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Review rev11s (issue 11 item 4, gas that lands). `estimateFees` falls back to the node's `eth_feeHistory` estimate when
// the bundler's `pimlico_getUserOperationGasPrice` fails (a timeout under load, a bundler without the pimlico_
// namespace). The node's estimate can be below the bundler's lowest valid gas price; Alto 0.0.20 then refuses every
// send in `preMempoolChecks` with "maxFeePerGas must be at least <lowest> (current maxFeePerGas: <sent>) - use
// pimlico_getUserOperationGasPrice ...". The keeper alerted `send-failed`, backed off, and sent the same fees again:
// a deleverage that never reaches the mempool while the Safe's caps would allow the bundler's minimum. Expected: the
// bundler's named minimum is taken (within the caps) and the operation is sent in the same step; a minimum above the
// caps is the `gas-cap-below-market` alert (the README says so), not a bare `send-failed`.

const gwei = (x: number) => parseGwei(String(x))
const caps = { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(2) }
const node = { maxFeePerGas: gwei(9), maxPriorityFeePerGas: gwei(0.1) }
const PLAN = { subAccounts: [], actions: [] } as never

/** Alto 0.0.20's refusal of fees below its lowest valid gas prices, as viem surfaces a JSON-RPC error. */
const altoRefusal = (lowest: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }, sent: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) => {
  const message =
    sent.maxFeePerGas < lowest.maxFeePerGas
      ? `maxFeePerGas must be at least ${lowest.maxFeePerGas} (current maxFeePerGas: ${sent.maxFeePerGas}) - use pimlico_getUserOperationGasPrice to get the current gas price`
      : `maxPriorityFeePerGas must be at least ${lowest.maxPriorityFeePerGas} (current maxPriorityFeePerGas: ${sent.maxPriorityFeePerGas}) - use pimlico_getUserOperationGasPrice to get the current gas price`
  return new BaseError("UserOperation rejected by the bundler", { cause: new RpcRequestError({ body: { method: "eth_sendUserOperation" }, error: { code: -32602, message }, url: "http://bundler.invalid" }) })
}
/** A bundler with these lowest valid prices: refuses below them, else accepts. */
const bundlerWithMinimum = (lowest: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) =>
  vi.mocked(sendRebalance).mockReset().mockImplementation(async (_client, parameters) => {
    const sent = parameters as unknown as { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    if (sent.maxFeePerGas < lowest.maxFeePerGas || sent.maxPriorityFeePerGas < lowest.maxPriorityFeePerGas) throw altoRefusal(lowest, sent)
    return `0x${"22".repeat(32)}`
  })

describe("the node's fee estimate below the bundler's minimum gas price", () => {
  test("minimum within the caps (max fee, then tip): sent in the same step at the bundler's minimum, no send-failed", async () => {
    const lowest = { maxFeePerGas: gwei(12), maxPriorityFeePerGas: gwei(0.5) }
    bundlerWithMinimum(lowest)
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => node })
    await expect(sender.send(rt, 100n, PLAN, undefined, undefined, true)).resolves.toBe("sent")
    expect(events.filter((e) => e.type === "sent")).toHaveLength(1)
    const last = vi.mocked(sendRebalance).mock.calls.at(-1)?.[1] as unknown as { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    expect(last.maxFeePerGas).toBeGreaterThanOrEqual(lowest.maxFeePerGas)
    expect(last.maxPriorityFeePerGas).toBeGreaterThanOrEqual(lowest.maxPriorityFeePerGas)
    expect(last.maxFeePerGas).toBeLessThanOrEqual(caps.maxFeePerGas)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
  })

  test("minimum above the Safe's cap: a gas-cap-below-market alert naming the bundler's minimum and the cap", async () => {
    const lowest = { maxFeePerGas: gwei(70), maxPriorityFeePerGas: gwei(0.5) }
    bundlerWithMinimum(lowest)
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => node })
    await sender.send(rt, 100n, PLAN, undefined, undefined, true).catch(() => undefined)
    const alert = events.find((e) => e.type === "alert" && e.kind === "gas-cap-below-market")
    expect(alert?.type === "alert" && alert.message).toContain(`${lowest.maxFeePerGas}`)
    expect(alert?.type === "alert" && alert.message).toContain(`${caps.maxFeePerGas}`)
    // Never sent above the caps.
    for (const call of vi.mocked(sendRebalance).mock.calls) expect((call[1] as unknown as { maxFeePerGas: bigint }).maxFeePerGas).toBeLessThanOrEqual(caps.maxFeePerGas)
  })
})
