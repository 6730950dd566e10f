import { type Chain, type Client, type Hex, RpcRequestError, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { BlockNotCanonicalError, BlockNotImportedError, findInCauseChain } from "../errors.js"
import { LOST_RECHECK_MS, NOT_IMPORTED_RETRY_MS, sharedBlockReads } from "./blockReads.js"

// Review rr16d D2 (f16f): a pinned read of the head's hash that a node refuses because it has NOT YET imported the
// block (a load-balanced RPC whose backends are a block apart: the head poll hit one that had block N, the scan's read
// another that does not; Infura/Alchemy-style "header not found") is taken as a reorg: the block check
// `eth_getBlockByNumber(N)` on the lagging backend answers null, and `sharedBlockReads` marks the block LOST for good in
// this process (`kept.lost` is sticky). Every later read of N throws BlockNotCanonicalError, even once the backend has
// the block: the queue's scan job is not retried (a lost block is "failed" at once), every other chunk and step of
// that block in the process is skipped as `reorged`. With reads by number the same refusal was a plain error, retried
// (scan attempts: 2). A null at the number says "not there yet" as often as "chain shorter"; only another hash at the
// number proves the block lost. Fixed (f16h): a null block is waited for (NOT_IMPORTED_RETRY_MS), then a retryable
// BlockNotImportedError; nothing is marked.

const TO = "0x00000000000000000000000000000000000000aa"
const HASH = `0x${"12".repeat(32)}` as Hex

/** A node that has block 101 (hash HASH) only after `catchUp()`; before, by hash: -32001 "header not found", by number: null. */
function laggingBackend() {
  let has = false
  const blocks: string[] = []
  const client = createClient({
    transport: custom(
      {
        async request({ method, params }) {
          if (method === "eth_getBlockByNumber") {
            blocks.push((params as [string])[0])
            return has ? { number: "0x65", hash: HASH } : null
          }
          if (method !== "eth_call") throw new Error(`unexpected ${method}`)
          if (!has) throw new RpcRequestError({ body: {}, url: "lagging-backend", error: { code: -32001, message: "header not found" } })
          return `0x${"07".padStart(64, "0")}`
        },
      },
      { retryCount: 0 },
    ),
  }) as Client<Transport, Chain | undefined>
  return { client, blocks, catchUp: () => void (has = true) }
}

async function readTwice() {
  const node = laggingBackend()
  const reads = sharedBlockReads(node.client)
  const first = await call(reads.at({ number: 101n, hash: HASH }), { to: TO, data: "0x01", blockNumber: 101n }).catch((e: unknown) => e)
  // The backend imports block 101 a moment later (the scan job's retry, another chunk, a step of the same block).
  node.catchUp()
  const second = await call(reads.at({ number: 101n, hash: HASH }), { to: TO, data: "0x01", blockNumber: 101n }).catch((e: unknown) => e)
  return { first, second, lost: reads.at({ number: 101n, hash: HASH }).lost(), node }
}

describe("rr16d D2: a block the node has not imported yet is not marked lost to a reorg", () => {
  test("fixed (was: marked lost for good, the read after the catch-up refused with no request): the refusal waits for the block within bounds, then throws BlockNotImportedError; nothing sticks and the read after the catch-up is made", async () => {
    const { first, second, lost, node } = await readTwice()
    expect(findInCauseChain(first, BlockNotCanonicalError)).toBeUndefined()
    expect(findInCauseChain(first, BlockNotImportedError)?.waitedMs).toBe(NOT_IMPORTED_RETRY_MS.reduce((a, b) => a + b, 0))
    expect(lost).toBeUndefined()
    expect(second).toMatchObject({ data: `0x${"07".padStart(64, "0")}` })
    // One block check and one more after each bounded wait; the read after the catch-up needed no check.
    expect(node.blocks).toEqual(Array(NOT_IMPORTED_RETRY_MS.length + 1).fill("0x65"))
  })

  test("the node imports the block while the read waits: the read is made again and answers (no error)", async () => {
    const node = laggingBackend()
    const reads = sharedBlockReads(node.client, { notImportedRetryMs: [20, 20, 20] })
    setTimeout(node.catchUp, 30)
    const answer = await call(reads.at({ number: 101n, hash: HASH }), { to: TO, data: "0x01", blockNumber: 101n })
    expect(answer).toMatchObject({ data: `0x${"07".padStart(64, "0")}` })
    expect(reads.at({ number: 101n, hash: HASH }).lost()).toBeUndefined()
  })

  test("a block at the number with ANOTHER hash is still a reorg (BlockNotCanonicalError), and the mark is tried again after LOST_RECHECK_MS", async () => {
    let now = 0
    let hash: Hex = `0x${"34".repeat(32)}`
    const requests: string[] = []
    const client = createClient({
      transport: custom({
        async request({ method, params }) {
          requests.push(method)
          if (method === "eth_getBlockByNumber") return { number: "0x65", hash }
          const [, block] = params as [unknown, { blockHash: Hex }]
          if (block.blockHash !== hash) throw new RpcRequestError({ body: {}, url: "node", error: { code: -32001, message: "Resource not found" } })
          return `0x${"07".padStart(64, "0")}`
        },
      }),
    }) as Client<Transport, Chain | undefined>
    const reads = sharedBlockReads(client, { now: () => now })
    const pinned = reads.at({ number: 101n, hash: HASH })
    const first = await call(pinned, { to: TO, data: "0x01", blockNumber: 101n }).catch((e: unknown) => e)
    expect(findInCauseChain(first, BlockNotCanonicalError)?.canonical).toBe(hash)
    expect(await pinned.canonical()).toBeInstanceOf(BlockNotCanonicalError)
    const before = requests.length
    await call(pinned, { to: TO, data: "0x01", blockNumber: 101n }).catch(() => undefined)
    expect(requests.length).toBe(before)
    // The chain reorganises back to HASH: after LOST_RECHECK_MS the read is tried again, served, the mark cleared.
    hash = HASH
    now += LOST_RECHECK_MS
    expect(await call(pinned, { to: TO, data: "0x01", blockNumber: 101n })).toMatchObject({ data: `0x${"07".padStart(64, "0")}` })
    expect(pinned.lost()).toBeUndefined()
    expect(await pinned.canonical()).toBeUndefined()
  })

  test("rr16d D2 (was FAILS TODAY): a node without the block yet is a retryable read error, not a reorg; the read after it caught up answers", async () => {
    const { first, second, lost } = await readTwice()
    expect(findInCauseChain(first, BlockNotCanonicalError)).toBeUndefined()
    expect(lost).toBeUndefined()
    expect(second).toMatchObject({ data: `0x${"07".padStart(64, "0")}` })
  })
})
