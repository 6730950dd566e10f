import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { sharedBlockReads } from "./blockReads.js"
import { TO, forkingNode } from "./blockReads.testing.js"

// Review rr16b (issue 16, f16b's sharedBlockReads). R1 (Medium-Low): the shared reads are keyed by block NUMBER only and
// nothing clears them on a reorg. When the head moves back (HeadPoller reports a lower head: a reorg of 2+ blocks, as
// the embedded loop does) and the chain grows again on the other fork, a step at a number already read on the old fork
// gets the old fork's answer (Aave limits, Morpho free liquidity, pool totals, the oracle check's feeds), mixed with the
// lens snapshot, which is read afresh at that block. SHARED_READ_BLOCKS = 2, so the two heads re-reached first after the
// reorg (the lower head itself and the one after it) are solved on the lost fork's numbers.



/** Steps at heads 100, 101 (fork A), then a 2-block reorg: head 100 (fork B, lower head), 101 (fork B). */
async function run() {
  const node = forkingNode(100n)
  const reads = sharedBlockReads(node.client)
  const read = (b: bigint) => call(reads, { to: TO, data: "0x01", blockNumber: b }).then((r) => BigInt(r.data ?? "0x0"))
  reads.head(100n)
  await read(100n)
  reads.head(101n)
  await read(101n)
  node.reorg()
  // The fleet's head moves back to 100 (HeadPoller's lower head; FleetStep reports it before its reads), then 101.
  reads.head(100n)
  const at100 = await read(100n)
  reads.head(101n)
  const at101 = await read(101n)
  return { after: [at100, at101], calls: node.calls, direct: await call(node.client, { to: TO, data: "0x01", blockNumber: 100n }).then((r) => BigInt(r.data ?? "0x0")) }
}

describe("rr16b R1: shared block reads survive a reorg that brings the head back to a number already read", () => {
  test("fixed (f16d): after the head moves back to 100 on fork B, reads at 100 and 101 are asked again and answer fork B", async () => {
    const { after, calls, direct } = await run()
    expect(direct).toBe(2n) // the node answers fork B
    expect(after).toEqual([2n, 2n])
    expect(calls).toEqual(["0x64", "0x65", "0x64", "0x65", "0x64"]) // both re-read after the reorg, then the direct read
  })

  test("no reorg: a step still reading the previous head's block (no lower head reported) shares its answers", async () => {
    const node = forkingNode(1000n)
    const reads = sharedBlockReads(node.client)
    const read = (b: bigint) => call(reads, { to: TO, data: "0x01", blockNumber: b })
    reads.head(100n)
    await read(100n)
    reads.head(101n)
    await read(101n)
    reads.head(101n)
    await read(100n)
    expect(node.calls).toEqual(["0x64", "0x65"])
  })

  test("was FAILS TODAY: after a reorg, a read at a block number already read answers the node's current fork", async () => {
    const { after } = await run()
    expect(after).toEqual([2n, 2n])
  })
})
