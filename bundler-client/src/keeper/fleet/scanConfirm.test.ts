import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { readChunk, readLimit } from "./scan.js"
import { PANIC, safesOf, stateOf } from "./scan.testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), getSafeStates: vi.fn() }))
const { getSafeStates } = await import("@levpilot/sdk/actions")

// bench:fleet 5,000 x 1 alerted feed-broken for 549 healthy Safes in the block after its shock (500 reverting without
// data, 49 with Panic(0x11), all at once), 5,000 x 4 for ~10,000: the scan's batched lens read came back with their
// Morpho sub-account unreadable, and each was alerted. A shared call's dataless (or arithmetic-panic) revert is confirmed
// by reading the Safe again, down to its own call, before it is reported.

const safes = safesOf(6)
/** A lens whose answer for a Safe is `answer(safe, call number, the call's Safes)`: the revert data of its sub-account, or none. */
const lens = (answer: (safe: Address, call: number, batch: readonly Address[]) => Hex | undefined) => {
  const calls: Address[][] = []
  vi.mocked(getSafeStates).mockImplementation(async (_client, parameters) => {
    calls.push([...parameters.safes])
    return { blockNumber: 100n, timestamp: 1_000n, safes: parameters.safes.map((safe) => stateOf(safe, answer(safe, calls.length, parameters.safes))) } as never
  })
  return calls
}
const unreadable = (states: readonly { safe: Address; unreadable?: readonly unknown[] }[]) => states.filter((s) => (s.unreadable?.length ?? 0) > 0).map((s) => s.safe)
const read = (limit = readLimit()) => readChunk({ chain: { id: 31337 } } as never, { safes, block: 100n, keeper: safes[0] as Address, deployment: {} as never, limit })

describe("readChunk: a shared call's dataless (or arithmetic-panic) revert is confirmed before it is reported", () => {
  test("healthy Safes that reverted without data (and one with Panic 0x11) in the batched call, read cleanly again: none reported, none isolated", async () => {
    const calls = lens((safe, call) => (call > 1 ? undefined : safe === safes[5] ? PANIC : safes.indexOf(safe) >= 3 ? "0x" : undefined))
    const limit = readLimit()
    const chunk = await read(limit)
    expect(unreadable(chunk.states)).toEqual([])
    expect(chunk.states.map((s) => s.safe)).toEqual(safes)
    expect(calls).toEqual([safes, safes.slice(3)])
    expect([...(limit.alone ?? [])]).toEqual([])
    expect(limit.size).toBe(Number.POSITIVE_INFINITY)
  })

  test("every Safe of the call reverted without data: halves, then read cleanly", async () => {
    const calls = lens((_, call) => (call === 1 ? "0x" : undefined))
    const chunk = await read()
    expect(unreadable(chunk.states)).toEqual([])
    expect(calls).toEqual([safes, safes.slice(0, 3), safes.slice(3)])
  })

  test("a sub-account that reverts without data even alone (an oracle burning its gas) is still reported, and its Safe read alone from then on", async () => {
    const broken = safes[2] as Address
    // The burner starves the Safes after it whenever it shares their call.
    const calls = lens((safe, _call, batch) => (safe === broken ? "0x" : batch.includes(broken) && batch.indexOf(safe) > batch.indexOf(broken) ? "0x" : undefined))
    const limit = readLimit()
    const chunk = await read(limit)
    expect(unreadable(chunk.states)).toEqual([broken])
    expect([...(limit.alone ?? [])]).toEqual([broken.toLowerCase()])
    // The next block: the burner alone, the others in one call, nobody reported but it.
    calls.length = 0
    const next = await read(limit)
    expect(unreadable(next.states)).toEqual([broken])
    expect(calls).toEqual([safes.filter((s) => s !== broken), [broken]])
  })

  test("a revert with other data (the oracle's own error) is the sub-account's answer: reported at once, no second read", async () => {
    const calls = lens((safe) => (safe === safes[1] ? "0x12345678" : undefined))
    const chunk = await read()
    expect(unreadable(chunk.states)).toEqual([safes[1]])
    expect(calls).toHaveLength(1)
  })
})
