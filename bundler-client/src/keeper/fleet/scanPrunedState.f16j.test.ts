import { type Address, type Chain, type Client, type Hex, RpcRequestError, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test, vi } from "vitest"
import { findInCauseChain } from "../errors.js"
import { BlockStateUnavailableError, isBlockRefusal, isStateRefusal, sharedBlockReads } from "./blockReads.js"
import { readChunk, readLimit } from "./scan.js"
import { safesOf, stateOf } from "./scan.testing.js"

// f16j (review rr16f F1): a node's refusal of a block's STATE (pruned, not synced) is the block's refusal: the chunk
// throws BlockStateUnavailableError after one eth_call, nothing is split, ReadLimit is untouched, no Safe is unreadable.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), getSafeStates: vi.fn() }))
const { getSafeStates } = await import("@levpilot/sdk/actions")

const TO = "0x00000000000000000000000000000000000000aa"
const HASH = `0x${"34".repeat(32)}` as Hex
const STALE = 1_000n

function prunedNode(message: string) {
  const requests: string[] = []
  const client = createClient({
    chain: { id: 31337 } as Chain,
    transport: custom(
      {
        async request({ method }) {
          requests.push(method)
          if (method === "eth_getBlockByNumber") return { number: `0x${STALE.toString(16)}`, hash: HASH }
          throw new RpcRequestError({ body: {}, url: "full-node", error: { code: -32000, message } })
        },
      },
      { retryCount: 0 },
    ),
  }) as Client<Transport, Chain | undefined>
  return { client, requests }
}

// Nodes' texts (geth hash and path schemes, reth, Erigon, Nethermind, Besu, providers).
const STATE_TEXTS = [
  "missing trie node 5f2a0c7e1b (path ) state 0x5f2a0c7e1b is not available, not found",
  "historical state 0x9d1c0e0f4b2a is not available",
  "state 0x3068d1 is not available",
  "state at block #39000001 is pruned",
  "No state available for block 0x6b1c",
  "world state not available for block 19000000",
  "Missing state for block 0x12",
  "history not available",
  "required historical state unavailable (reexec=128)",
]
// Not a state refusal: a call's own failure, a block refusal (isBlockRefusal's), a size failure.
const OTHER_TEXTS = ["execution reverted", "out of gas", "header not found", "gas required exceeds allowance (30000000)", "response size exceeded", "request timed out", "invalid opcode: state"]

describe("f16j: isStateRefusal", () => {
  test.each(STATE_TEXTS)("a state refusal: %s", (message) => {
    const error = new RpcRequestError({ body: {}, url: "x", error: { code: -32000, message } })
    expect(isStateRefusal(error)).toBe(true)
    expect(isStateRefusal(new Error("wrapped", { cause: error }))).toBe(false)
  })
  test.each(OTHER_TEXTS)("not a state refusal: %s", (message) => {
    expect(isStateRefusal(new RpcRequestError({ body: {}, url: "x", error: { code: -32000, message } }))).toBe(false)
  })
  test("a block refusal is not a state refusal and the reverse", () => {
    expect(isBlockRefusal(new Error("header not found"))).toBe(true)
    expect(isStateRefusal(new Error("header not found"))).toBe(false)
    expect(isBlockRefusal(new Error(STATE_TEXTS[0]))).toBe(false)
  })
})

describe("f16j: a 250-Safe chunk at a block whose state the node refused", () => {
  test.each([
    ["pinned to the block's hash", true],
    ["not pinned (no hash)", false],
  ] as const)("%s: BlockStateUnavailableError after one eth_call, no split, ReadLimit untouched", async (_, pinned) => {
    vi.mocked(getSafeStates).mockImplementation(async (client, p) => {
      await call(client as never, { to: TO, data: `0x${p.safes.map((s) => s.slice(2)).join("")}`, blockNumber: p.blockNumber })
      return { blockNumber: STALE, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
    })
    const safes = safesOf(250)
    const limit = readLimit()
    const node = prunedNode("historical state 0x9d1c0e0f4b2a is not available")
    const reads = sharedBlockReads(node.client, { notImportedRetryMs: [1, 1, 1] })
    const client = pinned ? reads.at({ number: STALE, hash: HASH }) : reads.at({ number: STALE })
    const error = await readChunk(client, { safes, block: STALE, keeper: safes[0] as Address, deployment: {} as never, limit }).then(
      () => undefined,
      (e: unknown) => e,
    )
    // Pinned: viem's call wraps it (CallExecutionError), as it does BlockNotCanonicalError; the handlers look down the cause chain.
    const refusal = findInCauseChain(error, BlockStateUnavailableError)
    expect(refusal).toBeInstanceOf(BlockStateUnavailableError)
    expect(refusal?.number).toBe(STALE)
    expect(node.requests.filter((m) => m === "eth_call")).toHaveLength(1)
    // Pinned: one shared block check (the block is this hash: not lost, its state refused).
    expect(node.requests.filter((m) => m === "eth_getBlockByNumber")).toHaveLength(pinned ? 1 : 0)
    expect(limit).toEqual(readLimit())
  })
})
