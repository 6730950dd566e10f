import { type Chain, type Client, type Hex, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { SHARED_READ_BLOCKS, sharedBlockReads } from "./blockReads.js"

const TO = "0x00000000000000000000000000000000000000aa"
/** Block `n`'s hash on the counting node. */
const H = (n: bigint): Hex => `0x${n.toString(16).padStart(64, "0")}`
const at = (n: bigint) => ({ number: n, hash: H(n) })

/**
 * A node that answers every `eth_call` after `ms` with its call count, and fails the calls whose data is `0xdead`;
 * `eth_getBlockByNumber(n)` answers hash {@link H}(n).
 */
function countingNode(ms = 5) {
  const calls: { data: string; block: unknown }[] = []
  const blocks: string[] = []
  const client = createClient({
    transport: custom({
      async request({ method, params }) {
        if (method === "eth_getBlockByNumber") {
          blocks.push(params[0])
          return { number: params[0], hash: H(BigInt(params[0])) }
        }
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        const [tx, block] = params as [{ data: string }, unknown]
        calls.push({ data: tx.data, block })
        await new Promise((r) => setTimeout(r, ms))
        if (tx.data === "0xdead") throw new Error("node failure")
        return `0x${calls.length.toString(16).padStart(64, "0")}`
      },
    }, { retryCount: 0 }),
  }) as Client<Transport, Chain | undefined>
  return { client, calls, blocks }
}

const tagOf = (block: unknown) => (typeof block === "string" ? block : `#${BigInt((block as { blockHash: Hex }).blockHash)}`)

describe("sharedBlockReads: one eth_call per distinct read and block hash in a process", () => {
  test("the same read at the same block, concurrent or later, is one request by hash; another block, another read or a tag is its own", async () => {
    const node = countingNode()
    const reads = sharedBlockReads(node.client)
    // 32 steps of one block reading the same market at once (bench:fleet's shock: every out-of-band Safe did).
    const answers = await Promise.all(Array.from({ length: 32 }, () => call(reads.at(at(7n)), { to: TO, data: "0x01", blockNumber: 7n })))
    expect(new Set(answers.map((a) => a.data)).size).toBe(1)
    await call(reads.at(at(7n)), { to: TO, data: "0x01", blockNumber: 7n })
    expect(node.calls).toHaveLength(1)
    expect(node.calls[0]?.block).toEqual({ blockHash: H(7n), requireCanonical: true })
    await call(reads.at(at(7n)), { to: TO, data: "0x02", blockNumber: 7n })
    await call(reads.at(at(8n)), { to: TO, data: "0x01", blockNumber: 8n })
    await call(reads.at(at(8n)), { to: TO, data: "0x01", blockTag: "latest" })
    await call(reads.at(at(8n)), { to: TO, data: "0x01", blockTag: "latest" })
    expect(node.calls.map((c) => `${c.data}@${tagOf(c.block)}`)).toEqual(["0x01@#7", "0x02@#7", "0x01@#8", "0x01@latest", "0x01@latest"])
    expect(reads.shared()).toBe(32)
    expect(node.blocks).toEqual([])
  })

  test("a failed read fails its concurrent waiters and is asked again later; the block still on the chain is not lost", async () => {
    const node = countingNode()
    const reads = sharedBlockReads(node.client)
    const both = await Promise.allSettled([call(reads.at(at(7n)), { to: TO, data: "0xdead", blockNumber: 7n }), call(reads.at(at(7n)), { to: TO, data: "0xdead", blockNumber: 7n })])
    expect(both.map((r) => r.status)).toEqual(["rejected", "rejected"])
    await expect(call(reads.at(at(7n)), { to: TO, data: "0xdead", blockNumber: 7n })).rejects.toThrow(/node failure/)
    expect(node.calls).toHaveLength(2)
    // Each failure asked whether the block is still the node's (one request per failure, shared by concurrent ones).
    expect(node.blocks).toEqual(["0x7", "0x7"])
    expect(reads.at(at(7n)).lost()).toBeUndefined()
  })

  test("a block without a hash (a job of an older version) is read by number, unshared", async () => {
    const node = countingNode(0)
    const reads = sharedBlockReads(node.client)
    await call(reads.at({ number: 7n, hash: undefined }), { to: TO, data: "0x01", blockNumber: 7n })
    await call(reads.at({ number: 7n, hash: undefined }), { to: TO, data: "0x01", blockNumber: 7n })
    expect(node.calls.map((c) => c.block)).toEqual(["0x7", "0x7"])
  })

  test("keeps the original's block number caching (a keeper's 250 ms polling interval, not viem's 4 s default)", () => {
    const original = createClient({ transport: custom({ request: async () => "0x1" }), pollingInterval: 250 }) as Client<Transport, Chain | undefined>
    const pinned = sharedBlockReads(original).at(at(7n))
    expect(pinned.cacheTime).toBe(250)
    expect(pinned.pollingInterval).toBe(250)
  })

  test(`only the newest ${SHARED_READ_BLOCKS} block numbers are kept`, async () => {
    const node = countingNode(0)
    const reads = sharedBlockReads(node.client)
    for (const b of [5n, 6n, 7n]) await call(reads.at(at(b)), { to: TO, data: "0x01", blockNumber: b })
    await call(reads.at(at(6n)), { to: TO, data: "0x01", blockNumber: 6n })
    await call(reads.at(at(5n)), { to: TO, data: "0x01", blockNumber: 5n })
    expect(node.calls.map((c) => tagOf(c.block))).toEqual(["#5", "#6", "#7", "#5"])
  })
})
