import { type Hex, type PublicClient, RpcRequestError } from "viem"
import { describe, expect, it } from "vitest"
import { KeeperMetrics } from "../metrics.js"
import { PAST_HEAD_PROBE_READS } from "./discovery.js"
import { ADDED_AT, CHAIN_LOGS as chainLogs, NEW, OLD, discoverySource, hashOf } from "./discovery.testing.js"

/*
 * Helper bk54, break-it review of stop 54's discovery bisect (rr16i A1). Harness of discoveryStepBack.rr16i.test.ts, with
 * a load balancer that routes each eth_getLogs to one of its backends at random (seeded), each refusing a range past
 * its own head (-32602 "invalid block range params").
 */

const lcg = (seed: number) => () => ((seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0), seed / 2 ** 32)

/**
 * Heads 150-300; each eth_getLogs goes to backend `lags[pick()]` (blocks behind the head followed), none past block
 * `frozenAt` when given (every backend stopped there).
 */
async function run(lags: bigint[], pick: () => number, frozenAt?: bigint) {
  let head = 0n
  let calls = 0
  const client = {
    getLogs: async ({ fromBlock, toBlock, blockHash }: { fromBlock: bigint; toBlock: bigint; blockHash?: Hex }) => {
      calls += 1
      const lagged = head - (lags[pick()] as bigint)
      const backendHead = frozenAt !== undefined && frozenAt < lagged ? frozenAt : lagged
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
  // Heads at which OLD (registered at block 5) was not listed, and at which discovery claimed a block no backend had.
  let oldMissing = 0
  let pastServed = 0
  const freshest = lags.reduce((a, b) => (a < b ? a : b))
  for (head = 150n; head <= 300n; head++) {
    const { safes, discoveryFailed } = await source.at({ number: head, hash: hashOf(head), timestamp: 1_000n + head * 12n, seenAt: 0 } as never, [])
    // biome-ignore lint/suspicious/noExplicitAny: the test reads the source's discovery block
    if (discoveryFailed) failed.push(`${head}: ${head - (source as any).discovery.block} behind`)
    if (firstListed === undefined && safes.includes(NEW)) firstListed = head
    if (!safes.includes(OLD)) oldMissing += 1
    // biome-ignore lint/suspicious/noExplicitAny: the test reads the source's discovery block
    if ((source as any).discovery.block > head - freshest) pastServed += 1
  }
  return { failed, delay: firstListed === undefined ? undefined : Number(firstListed - ADDED_AT), oldMissing, pastServed, callsPerHead: calls / 151 }
}

describe("bk54: a load balancer over a backend 5 behind and one 33 behind", () => {
  it("control: the backend 33 behind alone: no failed head (rr16i A1), the Safe listed 33 heads late", async () => {
    const r = await run([33n], () => 0)
    expect(r.failed).toEqual([])
    expect(r.delay).toBe(33)
  })

  it("fixed (stop 55, a refusal of an end at or below one already read is not remembered and the first unread block is read up to PAST_HEAD_PROBE_READS times; was Low, not from stop 54: 5 of 20 seeds on 4bb68202, 8 of 20 on main): random routing (seed 2) between backends 5 and 33 behind: the 33-behind backend's refusals pin the bisect's refused end, discovery makes no progress for 8 heads while 13-14 blocks behind, fails heads 192 and 193 and raises discovery-stalled (stuck: at the first failed head), where the 33-behind backend alone fails none", async () => {
    const r0 = lcg(2)
    const r = await run([5n, 33n], () => (r0() < 0.5 ? 0 : 1))
    expect(r.delay).toBeLessThanOrEqual(33)
    expect(r.failed).toEqual([])
  })

  it("fixed (stop 55, as above; was Low): the class: seeds 1-20 of random routing between backends 5 and 33 behind: a head failed (discovery-stalled) on 8 of 20 (5 of 20 on 4bb68202); each lag alone fails none", async () => {
    const alerted: number[] = []
    for (let seed = 1; seed <= 20; seed++) {
      const r0 = lcg(seed)
      if ((await run([5n, 33n], () => (r0() < 0.5 ? 0 : 1))).failed.length > 0) alerted.push(seed)
    }
    expect(alerted).toEqual([])
  })
})

describe("bk54 (stop 55): other routings over backends behind the head, each refusing a range past its own head", () => {
  // Seeds 1-20 of each; before stop 55 a head failed (discovery-stalled) on 6 of 20 seeds of the per-call lag and 14 of
  // 20 of the three backends.
  const variants: [string, bigint[], (r: () => number) => () => number][] = [
    ["each eth_getLogs to a backend 0-20 blocks behind, uniformly at random", Array.from({ length: 21 }, (_, i) => BigInt(i)), (r) => () => Math.floor(r() * 21)],
    ["three backends 5, 17 and 33 behind, at random", [5n, 17n, 33n], (r) => () => Math.floor(r() * 3)],
  ]
  for (const [name, lags, pick] of variants)
    it(`fixed (stop 55): ${name}: no failed head on seeds 1-20, the Safe listed at most ${lags[lags.length - 1]} heads late, OLD always listed, discovery never past the freshest backend's head`, async () => {
      const bad: string[] = []
      for (let seed = 1; seed <= 20; seed++) {
        const r = await run(lags, pick(lcg(seed)))
        if (r.failed.length > 0 || r.delay === undefined || r.delay > Number(lags[lags.length - 1]) || r.oldMissing > 0 || r.pastServed > 0) bad.push(`seed ${seed}: ${JSON.stringify(r)}`)
      }
      expect(bad).toEqual([])
    })

  it("control: backends 5 and 33 behind taken in turn (either first): no failed head, the Safe listed at most 33 heads late", async () => {
    for (const first of [0, 1]) {
      let i = first
      const r = await run([5n, 33n], () => i++ % 2)
      expect(r.failed).toEqual([])
      expect(r.delay).toBeLessThanOrEqual(33)
      expect(r.oldMissing).toBe(0)
      expect(r.pastServed).toBe(0)
    }
  })

  it("control: every backend stops at block 220 (discovery current before): still discovery-stalled from the 8th head without progress (DISCOVERY_STALL_HEADS), at most PAST_HEAD_PROBE_READS + 8 eth_getLogs per head", async () => {
    const r0 = lcg(2)
    const r = await run([5n, 33n], () => (r0() < 0.5 ? 0 : 1), 220n)
    // Discovery reaches block 220 at a head past 225 (the backend 5 behind), then no head advances it: heads 150-300.
    expect(r.failed.length).toBeGreaterThan(60)
    expect(r.failed[0]).toMatch(/^2[23]\d: /)
    expect(r.callsPerHead).toBeLessThanOrEqual(PAST_HEAD_PROBE_READS + 8)
  })
})
