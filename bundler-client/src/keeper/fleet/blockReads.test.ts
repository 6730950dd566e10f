import { type Chain, type Client, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { sharedBlockReads } from "./blockReads.js"

const TO = "0x00000000000000000000000000000000000000aa"

/** A node that answers every `eth_call` after `ms` with its call count, and fails the calls whose data is `0xdead`. */
function countingNode(ms = 5) {
  const calls: { data: string; block: unknown }[] = []
  const client = createClient({
    transport: custom({
      async request({ method, params }) {
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        const [tx, block] = params as [{ data: string }, unknown]
        calls.push({ data: tx.data, block })
        await new Promise((r) => setTimeout(r, ms))
        if (tx.data === "0xdead") throw new Error("node failure")
        return `0x${calls.length.toString(16).padStart(64, "0")}`
      },
    }, { retryCount: 0 }),
  }) as Client<Transport, Chain | undefined>
  return { client, calls }
}

describe("sharedBlockReads: one eth_call per distinct read and block in a process", () => {
  test("the same read at the same block, concurrent or later, is one request; another block, another read or a tag is its own", async () => {
    const node = countingNode()
    const reads = sharedBlockReads(node.client)
    // 32 steps of one block reading the same market at once (bench:fleet's shock: every out-of-band Safe did).
    const answers = await Promise.all(Array.from({ length: 32 }, () => call(reads, { to: TO, data: "0x01", blockNumber: 7n })))
    expect(new Set(answers.map((a) => a.data)).size).toBe(1)
    await call(reads, { to: TO, data: "0x01", blockNumber: 7n })
    expect(node.calls).toHaveLength(1)
    await call(reads, { to: TO, data: "0x02", blockNumber: 7n })
    await call(reads, { to: TO, data: "0x01", blockNumber: 8n })
    await call(reads, { to: TO, data: "0x01", blockTag: "latest" })
    await call(reads, { to: TO, data: "0x01", blockTag: "latest" })
    expect(node.calls.map((c) => `${c.data}@${c.block}`)).toEqual(["0x01@0x7", "0x02@0x7", "0x01@0x8", "0x01@latest", "0x01@latest"])
    expect(reads.shared()).toBe(32)
  })

  test("a failed read fails its concurrent waiters and is asked again later", async () => {
    const node = countingNode()
    const reads = sharedBlockReads(node.client)
    const both = await Promise.allSettled([call(reads, { to: TO, data: "0xdead", blockNumber: 7n }), call(reads, { to: TO, data: "0xdead", blockNumber: 7n })])
    expect(both.map((r) => r.status)).toEqual(["rejected", "rejected"])
    await expect(call(reads, { to: TO, data: "0xdead", blockNumber: 7n })).rejects.toThrow()
    expect(node.calls).toHaveLength(2)
  })

  test("keeps the original's block number caching (a keeper's 250 ms polling interval, not viem's 4 s default)", () => {
    const original = createClient({ transport: custom({ request: async () => "0x1" }), pollingInterval: 250 }) as Client<Transport, Chain | undefined>
    const reads = sharedBlockReads(original)
    expect(reads.cacheTime).toBe(250)
    expect(reads.pollingInterval).toBe(250)
  })

  test("only the newest two blocks are kept", async () => {
    const node = countingNode(0)
    const reads = sharedBlockReads(node.client)
    for (const b of [5n, 6n, 7n]) await call(reads, { to: TO, data: "0x01", blockNumber: b })
    await call(reads, { to: TO, data: "0x01", blockNumber: 6n })
    await call(reads, { to: TO, data: "0x01", blockNumber: 5n })
    expect(node.calls.map((c) => c.block)).toEqual(["0x5", "0x6", "0x7", "0x5"])
  })
})
