import { type PublicClient, RpcRequestError, InvalidRequestRpcError, HttpRequestError } from "viem"
import { describe, expect, test } from "vitest"
import { chainInclusionLookup } from "./inclusionLookup.js"
import { GROW_AFTER_READS, LogReadError, LogWindow, RETRY_REFUSED_AFTER_READS } from "./logWindow.js"

const SAFE = "0x00000000000000000000000000000000000000a1"
const ENTRY_POINT = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"

/** A node that refuses `eth_getLogs` over more than `limit` blocks, as a hosted RPC does, and records every range asked. */
function rangeLimitedNode(head: bigint, limit: bigint) {
  const asked: [bigint, bigint][] = []
  const refusal = () => new InvalidRequestRpcError(new RpcRequestError({ body: {}, url: "http://rpc", error: { code: -32600, message: `eth_getLogs is limited to a ${limit} block range` } }))
  const client = {
    getBlockNumber: async () => head,
    getLogs: async ({ fromBlock, toBlock }: { fromBlock: bigint; toBlock: bigint }) => {
      asked.push([fromBlock, toBlock])
      if (toBlock - fromBlock + 1n > limit) throw refusal()
      return []
    },
  } as unknown as PublicClient
  return { client, asked }
}

describe("LogWindow", () => {
  test("halves a refused range down to the floor, and says when halving cannot help", () => {
    const w = new LogWindow(2_000, 10)
    expect(w.shrink(1n, 2_000n, new Error("range too wide"))).toBe(true)
    expect(w.size).toBe(1_000)
    expect(w.shrink(1n, 1_000n, new Error("range too wide"))).toBe(true)
    expect(w.size).toBe(500)
    // At the floor: rethrow.
    expect(new LogWindow(10, 10).shrink(1n, 10n, new Error("range too wide"))).toBe(false)
    // An unreachable node: a smaller range does not help.
    expect(new LogWindow(2_000).shrink(1n, 2_000n, new HttpRequestError({ url: "http://rpc", status: 429 }))).toBe(false)
  })
})

describe("LogWindow grows back", () => {
  test("after a burst of refusals to one block, successful reads double it again up to its first size, slowly back to a refused size", () => {
    const w = new LogWindow(2_000)
    for (let k = 0; k < 11; k++) w.shrink(1n, BigInt(w.size), new Error("timeout"))
    expect(w.size).toBe(1)
    const sizes: number[] = []
    for (let k = 0; k < 2 * RETRY_REFUSED_AFTER_READS; k++) {
      w.grow()
      sizes.push(w.size)
    }
    // The last refused range was 3 blocks (halved to 1): 2 blocks come back fast, 4 (over the refused 3) only after the
    // long count; once 4 blocks read fine, the rest double fast again.
    const at2 = GROW_AFTER_READS - 1
    expect(sizes[at2]).toBe(2)
    expect(sizes[at2 + RETRY_REFUSED_AFTER_READS - 1]).toBe(2)
    expect(sizes[at2 + RETRY_REFUSED_AFTER_READS]).toBe(4)
    expect(sizes[at2 + RETRY_REFUSED_AFTER_READS + GROW_AFTER_READS]).toBe(8)
    expect(Math.max(...sizes)).toBe(2_000)
    // A refusal resets the run of successes.
    w.shrink(1n, 2_000n, new Error("range too wide"))
    w.grow()
    expect(w.size).toBe(1_000)
    // A window refused once by answer size is not asked for again every GROW_AFTER_READS reads.
    const after: number[] = []
    for (let k = 0; k < RETRY_REFUSED_AFTER_READS; k++) {
      w.grow()
      after.push(w.size)
    }
    // (one success already counted above): back to 2,000 blocks only at the RETRY_REFUSED_AFTER_READS-th success.
    expect(after.indexOf(2_000)).toBe(RETRY_REFUSED_AFTER_READS - 2)
    expect(() => new LogWindow(5, 0)).toThrow(RangeError)
  })
})

describe("chainInclusionLookup: the event search in bounded windows", () => {
  test("a 2,000-block window against a 1,000-block limit is halved once and stays halved for the next searches", async () => {
    const { client, asked } = rangeLimitedNode(10_000n, 1_000n)
    const lookup = chainInclusionLookup(client, ENTRY_POINT, { windowBlocks: 2_000 })
    expect(await lookup.findEvent(SAFE, 7n, 8_001n)).toBeUndefined()
    // Forwards from `fromBlock` (the record's first send; issue 16), no longer backwards from the head.
    expect(asked).toEqual([
      [8_001n, 10_000n],
      [8_001n, 9_000n],
      [9_001n, 10_000n],
    ])
    asked.length = 0
    await lookup.findEvent(SAFE, 7n, 9_001n)
    expect(asked).toEqual([[9_001n, 10_000n]])
  })

  test("a node that refuses even one block: LogReadError with the node's reason (alerted as rpc-error)", async () => {
    const { client } = rangeLimitedNode(10_000n, 0n)
    const lookup = chainInclusionLookup(client, ENTRY_POINT, { windowBlocks: 8 })
    const error = await lookup.findEvent(SAFE, 7n, 9_990n).catch((e) => e)
    expect(error).toBeInstanceOf(LogReadError)
    expect((error as LogReadError).shortMessage).toBe("The RPC refused eth_getLogs over blocks 9990-9990: eth_getLogs is limited to a 0 block range.")
  })
})
