import { type Address, type Chain, type Client, type Hex, RpcRequestError, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test, vi } from "vitest"
import { sharedBlockReads } from "./blockReads.js"
import { readChunk, readLimit, triage } from "./scan.js"
import { safesOf, stateOf } from "./scan.testing.js"

// Review rr16f F1, its cost per stale pass. A pass dispatched at a head more than 128 blocks old (headFarBehind.rr16f:
// a round-robin backend far behind makes every alternation a "reorg" to its head) is read, pinned to that block's
// hash, on a full (non-archive) node that has the block but pruned its state (geth keeps 128): every eth_call is
// refused "missing trie node". That is neither a block refusal (isBlockRefusal) nor a transient answer, so readChunk
// takes it as the call's size: it splits down to one Safe per call, shrinks ReadLimit.size to 1, and reports every Safe
// unreadable. Expected: a refusal of the block's STATE is the block's, not the Safes' (retryable or skipped, no split).

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), getSafeStates: vi.fn() }))
const { getSafeStates } = await import("@levpilot/sdk/actions")

const TO = "0x00000000000000000000000000000000000000aa"
const HASH = `0x${"34".repeat(32)}` as Hex
const STALE = 1_000n

function fullNode() {
  let calls = 0
  const client = createClient({
    chain: { id: 31337 } as Chain,
    transport: custom(
      {
        async request({ method }) {
          if (method === "eth_getBlockByNumber") return { number: `0x${STALE.toString(16)}`, hash: HASH }
          if (method !== "eth_call") throw new Error(`unexpected ${method}`)
          calls += 1
          throw new RpcRequestError({ body: {}, url: "full-node", error: { code: -32000, message: "missing trie node 5f2a0c7e1b (path ) state 0x5f2a0c7e1b is not available, not found" } })
        },
      },
      { retryCount: 0 },
    ),
  }) as Client<Transport, Chain | undefined>
  return { client, calls: () => calls }
}

describe("rr16f F1 (cost): a pass at a head whose state the full node pruned", () => {
  test("rr16f F1 (was FAILS TODAY, fixed f16j): one 250-Safe chunk at a pruned block: 258 eth_calls, ReadLimit.size 1, 250 Safes unreadable, 250 read-failed alerts", async () => {
    vi.mocked(getSafeStates).mockImplementation(async (client, p) => {
      await call(client as never, { to: TO, data: `0x${p.safes.map((s) => s.slice(2)).join("")}`, blockNumber: p.blockNumber })
      return { blockNumber: STALE, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
    })
    const safes = safesOf(250)
    const limit = readLimit()
    const node = fullNode()
    const reads = sharedBlockReads(node.client, { notImportedRetryMs: [1, 1, 1] })
    const alerts: unknown[] = []
    const store = { scanState: async (s: readonly Address[]) => ({ pending: s.map(() => false), fingerprints: s.map(() => undefined) }), setFingerprints: async () => undefined }
    const chunk = await readChunk(reads.at({ number: STALE, hash: HASH }), { safes, block: STALE, keeper: safes[0] as Address, deployment: {} as never, limit }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))
    const unreadable = chunk instanceof Error ? 0 : chunk.states.filter((s) => s.error).length
    if (!(chunk instanceof Error)) await triage(chunk as never, { store: store as never, events: { alert: (...a: unknown[]) => void alerts.push(a) } as never, refreshEveryBlocks: 10 })
    console.log("rr16f F1 cost", JSON.stringify({ ethCalls: node.calls(), limitSize: limit.size, unreadable, alerts: alerts.length }))
    expect(unreadable).toBe(0)
    expect(limit.size).toBe(readLimit().size)
    expect(node.calls()).toBeLessThanOrEqual(4)
  })
})
