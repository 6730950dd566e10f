import type { Address } from "viem"
import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { BlockNotCanonicalError, findInCauseChain } from "../errors.js"
import { sharedBlockReads } from "./blockReads.js"
import { TO, forkingNode, hashOf } from "./blockReads.testing.js"
import { readChunk, readLimit } from "./scan.js"
import { safesOf } from "./scan.testing.js"

// Review rr16c (issue 16, f16d's rr16b R1 fix). S1 (Medium-Low): `sharedBlockReads.head(n)` dropped kept answers only
// when it was told a head LOWER than the highest it was told. FleetStep reported the fleet head only from a step whose
// Safe may plan, and in queue mode each worker process has its own shared client and learns the head only from the
// steps it happens to run. So a process that read at 100 and 101 on fork A and ran no out-of-band step while the fleet
// head was the lower 100 (fork B) next reported 101 (fork B): nothing was dropped, and the step at 101 on fork B was
// solved on fork A's Aave limits / Morpho liquidity / pool totals / oracle reads.
// Fixed (f16f): the reads are pinned to the step's block hash (the head poll's, carried by the jobs) with EIP-1898
// `{ blockHash, requireCanonical: true }` and kept by hash; no head() any more.

const A100 = hashOf("a", 100n)
const A101 = hashOf("a", 101n)
const B101 = hashOf("b", 101n)

/** Steps (out of band) at 100, 101 on fork A; reorg; the lower head 100 (fork B) never reaches this process; then a step at 101 (fork B). */
async function run() {
  const node = forkingNode(100n)
  const reads = sharedBlockReads(node.client)
  const read = (block: { number: bigint; hash: `0x${string}` }, data: `0x${string}` = "0x01") => call(reads.at(block), { to: TO, data, blockNumber: block.number }).then((r) => BigInt(r.data ?? "0x0"))
  await read({ number: 100n, hash: A100 })
  await read({ number: 101n, hash: A101 })
  node.reorg()
  // Head 100 (fork B): this process runs no step of it. The first step it runs after the reorg is fork B's 101.
  const at101 = await read({ number: 101n, hash: node.hash(101n) })
  const direct = await call(node.client, { to: TO, data: "0x01", blockNumber: 101n }).then((r) => BigInt(r.data ?? "0x0"))
  return { at101, direct, node, read }
}

describe("rr16c S1: a reorg whose lower head this process never saw keeps no lost fork's answers", () => {
  test("fixed (f16f): the step at 101 on fork B reads fork B's block by hash; fork A's kept answer is another key", async () => {
    const { at101, direct, node } = await run()
    expect(direct).toBe(2n)
    expect(at101).toBe(2n)
    // Every pinned read went by hash; the fork-B read at 101 reached the node (the last is the direct read by number).
    expect(node.calls).toEqual([`hash:${A100}`, `hash:${A101}`, `hash:${B101}`, "0x65"])
  })

  test("was FAILS TODAY: a read at a number re-reached on another fork answers the node's current fork", async () => {
    const { at101, direct } = await run()
    expect(at101).toBe(direct)
  })

  test("a job of the lost block (fork A's 101) is refused, not answered fork B's state: BlockNotCanonicalError, lost(), one block check", async () => {
    const { node, read } = await run()
    const error = await read({ number: 101n, hash: A101 }, "0x02").catch((e: unknown) => e)
    const lost = findInCauseChain(error, BlockNotCanonicalError)
    expect(lost?.hash).toBe(A101)
    expect(lost?.canonical).toBe(B101)
    expect(node.blocks).toEqual(["0x65"])
    // Once known lost, even the read kept from before the reorg is refused, with no request.
    const before = node.calls.length
    await expect(read({ number: 101n, hash: A101 })).rejects.toThrow(/no longer on the node's chain/)
    expect(node.calls.length).toBe(before)
    expect(sharedBlockReads(node.client).at({ number: 101n, hash: B101 }).lost()).toBeUndefined()
  })

  test("a read at another number through a pinned client goes by number, unshared", async () => {
    const node = forkingNode(100n)
    const reads = sharedBlockReads(node.client)
    const at = reads.at({ number: 101n, hash: A101 })
    // A read at another number through the pinned client goes by number (unpinned, unshared).
    await call(at, { to: TO, data: "0x01", blockNumber: 99n })
    await call(at, { to: TO, data: "0x01", blockNumber: 99n })
    expect(node.calls).toEqual(["0x63", "0x63"])
    expect(at.lost()).toBeUndefined()
  })
})

describe("rr16c S1: the scan's lens read of a lost block", () => {
  test("is refused as a whole (BlockNotCanonicalError), not split down to one read-failed Safe each", async () => {
    const node = forkingNode(100n)
    const reads = sharedBlockReads(Object.assign(node.client, { chain: { id: 31337 } }) as never)
    node.reorg()
    const safes = safesOf(8)
    const deployment = { leverageModule: "0x00000000000000000000000000000000000000d1", entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032" }
    const error = await readChunk(reads.at({ number: 101n, hash: A101 }), { safes, block: 101n, keeper: safes[0] as Address, deployment: deployment as never, limit: readLimit() }).catch((e: unknown) => e)
    expect(findInCauseChain(error, BlockNotCanonicalError)?.canonical).toBe(B101)
    // One lens call by the lost hash and one block check: no split.
    expect(node.calls).toEqual([`hash:${A101}`])
    expect(node.blocks).toEqual(["0x65"])
  })
})
