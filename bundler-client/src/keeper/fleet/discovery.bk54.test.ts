import { type Hex, type PublicClient, RpcRequestError } from "viem"
import { describe, expect, it } from "vitest"
import { KeeperMetrics } from "../metrics.js"
import { ADDED_AT, CHAIN_LOGS as chainLogs, NEW, OLD, discoverySource, hashOf } from "./discovery.testing.js"

/*
 * Helper bk54, break-it review of stop 54's discovery bisect (rr16i A1). Harness of discoveryStepBack.rr16i.test.ts, with
 * a load balancer that routes each eth_getLogs to one of its backends at random (seeded), each refusing a range past
 * its own head (-32602 "invalid block range params").
 */

const lcg = (seed: number) => () => ((seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0), seed / 2 ** 32)

/** Heads 150-300; each eth_getLogs goes to backend `lags[pick()]` (blocks behind the head followed). */
async function run(lags: bigint[], pick: () => number) {
  let head = 0n
  const client = {
    getLogs: async ({ fromBlock, toBlock, blockHash }: { fromBlock: bigint; toBlock: bigint; blockHash?: Hex }) => {
      const backendHead = head - (lags[pick()] as bigint)
      if (blockHash !== undefined) {
        const n = BigInt(blockHash)
        if (n > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: { code: -32000, message: "unknown block" } })
        return chainLogs.filter((l) => l.blockNumber === n)
      }
      if (toBlock > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: { code: -32602, message: "invalid block range params" } })
      return chainLogs.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
    },
  } as unknown as PublicClient
  const source = discoverySource(client, new KeeperMetrics())
  const failed: string[] = []
  let firstListed: bigint | undefined
  for (head = 150n; head <= 300n; head++) {
    const { safes, discoveryFailed } = await source.at({ number: head, hash: hashOf(head), timestamp: 1_000n + head * 12n, seenAt: 0 } as never, [])
    // biome-ignore lint/suspicious/noExplicitAny: the test reads the source's discovery block
    if (discoveryFailed) failed.push(`${head}: ${head - (source as any).discovery.block} behind`)
    if (firstListed === undefined && safes.includes(NEW)) firstListed = head
  }
  return { failed, delay: firstListed === undefined ? undefined : Number(firstListed - ADDED_AT) }
}

describe("bk54: a load balancer over a backend 5 behind and one 33 behind", () => {
  it("control: the backend 33 behind alone: no failed head (rr16i A1), the Safe listed 33 heads late", async () => {
    const r = await run([33n], () => 0)
    expect(r.failed).toEqual([])
    expect(r.delay).toBe(33)
  })

  it.skip("FAILS TODAY (Low; not from stop 54: 5 of 20 seeds on 4bb68202, 8 of 20 on main): random routing (seed 2) between backends 5 and 33 behind: the 33-behind backend's refusals pin the bisect's refused end, discovery makes no progress for 8 heads while 13-14 blocks behind, fails heads 192 and 193 and raises discovery-stalled (stuck: at the first failed head), where the 33-behind backend alone fails none", async () => {
    const r0 = lcg(2)
    const r = await run([5n, 33n], () => (r0() < 0.5 ? 0 : 1))
    expect(r.delay).toBeLessThanOrEqual(33)
    expect(r.failed).toEqual([])
  })

  it.skip("FAILS TODAY (Low): the class: seeds 1-20 of random routing between backends 5 and 33 behind: a head failed (discovery-stalled) on 8 of 20 (5 of 20 on 4bb68202); each lag alone fails none", async () => {
    const alerted: number[] = []
    for (let seed = 1; seed <= 20; seed++) {
      const r0 = lcg(seed)
      if ((await run([5n, 33n], () => (r0() < 0.5 ? 0 : 1))).failed.length > 0) alerted.push(seed)
    }
    expect(alerted).toEqual([])
  })
})
