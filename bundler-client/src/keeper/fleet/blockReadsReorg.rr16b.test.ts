import { call } from "viem/actions"
import { describe, expect, test } from "vitest"
import { sharedBlockReads } from "./blockReads.js"
import { TO, forkingNode, hashOf } from "./blockReads.testing.js"

// Review rr16b (issue 16, f16b's sharedBlockReads). R1 (Medium-Low): the shared reads were keyed by block NUMBER only and
// nothing cleared them on a reorg. When the head moves back (HeadPoller reports a lower head: a reorg of 2+ blocks, as
// the embedded loop does) and the chain grows again on the other fork, a step at a number already read on the old fork
// got the old fork's answer (Aave limits, Morpho free liquidity, pool totals, the oracle check's feeds), mixed with the
// lens snapshot, which is read afresh at that block. f16d dropped kept answers on a lower head; f16f (rr16c S1) keys
// them by the block's hash (EIP-1898 reads), which covers this case without being told the lower head.

/** Steps at heads 100, 101 (fork A), then a 2-block reorg: head 100 (fork B, lower head), 101 (fork B). */
async function run() {
  const node = forkingNode(100n)
  const reads = sharedBlockReads(node.client)
  const read = (b: bigint) => call(reads.at({ number: b, hash: node.hash(b) }), { to: TO, data: "0x01", blockNumber: b }).then((r) => BigInt(r.data ?? "0x0"))
  await read(100n)
  await read(101n)
  node.reorg()
  const at100 = await read(100n)
  const at101 = await read(101n)
  return { after: [at100, at101], calls: node.calls, direct: await call(node.client, { to: TO, data: "0x01", blockNumber: 100n }).then((r) => BigInt(r.data ?? "0x0")) }
}

describe("rr16b R1: shared block reads survive a reorg that brings the head back to a number already read", () => {
  test("fixed (f16d, by hash since f16f): after the head moves back to 100 on fork B, reads at 100 and 101 are asked again and answer fork B", async () => {
    const { after, calls, direct } = await run()
    expect(direct).toBe(2n) // the node answers fork B
    expect(after).toEqual([2n, 2n])
    // both re-read after the reorg (fork B's hashes), then the direct read
    expect(calls).toEqual([`hash:${hashOf("a", 100n)}`, `hash:${hashOf("a", 101n)}`, `hash:${hashOf("b", 100n)}`, `hash:${hashOf("b", 101n)}`, "0x64"])
  })

  test("no reorg: a step still reading the previous head's block shares its answers", async () => {
    const node = forkingNode(1000n)
    const reads = sharedBlockReads(node.client)
    const read = (b: bigint) => call(reads.at({ number: b, hash: node.hash(b) }), { to: TO, data: "0x01", blockNumber: b })
    await read(100n)
    await read(101n)
    await read(100n)
    expect(node.calls).toEqual([`hash:${hashOf("a", 100n)}`, `hash:${hashOf("a", 101n)}`])
  })

  test("was FAILS TODAY: after a reorg, a read at a block number already read answers the node's current fork", async () => {
    const { after } = await run()
    expect(after).toEqual([2n, 2n])
  })
})
