import { pino } from "pino"
import { type Address, type Hex, type PublicClient, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { KeeperMetrics } from "../metrics.js"
import { type CheckpointMark, type DiscoveryCheckpoint, SafeDiscovery, checkpointDue } from "./discovery.js"

// Review rr16c (issue 16, f16d's rr16b D2 fix: discovery resets when the head falls below its confirmed block).
// S2 (Low, devnets / reorgs deeper than reorgDepth): the reset is in the leader's memory only. The queue leader writes
// the checkpoint to Redis only when its block is >= lastCheckpoint + 100 (queueNode.ts `FleetNode.lead`), and a reset does not
// lower lastCheckpoint, so Redis keeps the OLD chain's checkpoint until the new chain's confirmed block passes the old
// one + 100. A leader failover in that window (new chain head above the old checkpoint's block, so the new leader's first
// sync sees no head below it and does not reset) restores the old chain's registry: the new chain's Safes registered up
// to the old checkpoint's block are never read (silently missing), and the old chain's are served.
// S3 (Low, noise / metric): a head below discovery.fromBlock - 1 (fromBlock set to a block not reached yet: a fresh
// devnet, a lagging RPC backend) is "below the confirmed block" (fromBlock - 1) at every head: one warn "chain reset"
// and one levpilot_discovery_resets_total per head, with nothing to reset.

const K = "0x00000000000000000000000000000000000000a1" as Address
const M = "0x00000000000000000000000000000000000000d1" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const S = getAddress("0x0000000000000000000000000000000000005afe")
const T = getAddress("0x000000000000000000000000000000000000beef")
const SUB = `0x${"b9".repeat(32)}` as Hex

type FakeLog = { address: Address; eventName: string; args: Record<string, unknown>; blockNumber: bigint; blockHash: Hex; logIndex: number }
const nodeOf = (logs: FakeLog[]) =>
  ({
    getLogs: async ({ address, fromBlock, toBlock }: { address: Address | Address[]; fromBlock: bigint; toBlock: bigint }) => {
      const addresses = (Array.isArray(address) ? address : [address]).map((a) => a.toLowerCase())
      return logs.filter((l) => addresses.includes(l.address.toLowerCase()) && l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
    },
  }) as unknown as PublicClient
const hashOf = (block: bigint, fork: string) => `0x${fork.repeat(2)}${block.toString(16).padStart(62, "0")}` as Hex
const registered = (safe: Address, block: bigint, fork = "a"): FakeLog[] => [
  { address: M, eventName: "KeeperAdded", args: { safe, keeper: K, validAfter: 0, validUntil: 2 ** 40 }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 0 },
  { address: M, eventName: "PolicySet", args: { safe, subAccount: SUB }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 1 },
]
const discoveryOf = (client: PublicClient, fromBlock: bigint, metrics = new KeeperMetrics()) =>
  new SafeDiscovery({ client, module: M, entryPoint: EP, keeper: K, chainId: 31337, settings: { fromBlock, logWindow: 50, reorgDepth: 64 }, logger: pino({ level: "silent" }), metrics })

/** queueNode.ts `lead`'s rule (`checkpointDue`): every 100 confirmed blocks, and at once after a discovery reset (f16e). */
function leaderWriting(d: SafeDiscovery, redis: { checkpoint?: string }) {
  let lastCheckpoint: CheckpointMark = { block: 0n, resets: 0 }
  return async (head: bigint) => {
    await d.sync(head)
    const checkpoint = d.checkpoint()
    const mark = checkpointDue(checkpoint, d.resets, lastCheckpoint)
    if (mark) {
      redis.checkpoint = JSON.stringify(checkpoint)
      lastCheckpoint = mark
    }
  }
}

async function failoverAfterReset() {
  const redis: { checkpoint?: string } = {}
  // Old chain: T registered at 30; the leader follows it to head 400 (checkpoint block 336 written).
  const oldChain = nodeOf(registered(T, 30n, "a"))
  const leader = discoveryOf(oldChain, 0n)
  const lead = leaderWriting(leader, redis)
  for (let head = 100n; head <= 400n; head += 100n) await lead(head)
  const oldBlock = (JSON.parse(redis.checkpoint ?? "{}") as DiscoveryCheckpoint).block
  // Devnet reset on the same prefix: S registers at 40 on the new chain. The SAME leader resets (head 120 < 336) and
  // follows the new chain to 400 (confirmed 336 again: not >= 336 + 100, nothing written).
  const newChain = nodeOf(registered(S, 40n, "b"))
  ;(leader as unknown as { deps: { client: PublicClient } }).deps.client = newChain
  for (let head = 120n; head <= 400n; head += 20n) await lead(head)
  const leaderServes = leader.served(1_000)
  // The leader dies; a new leader restores Redis's checkpoint and syncs at head 420.
  const next = discoveryOf(newChain, 0n)
  const restored = next.restore(JSON.parse(redis.checkpoint ?? "{}") as DiscoveryCheckpoint)
  await next.sync(420n)
  return { oldBlock, stillOld: (JSON.parse(redis.checkpoint ?? "{}") as DiscoveryCheckpoint).block === oldBlock, leaderServes, restored, served: next.served(1_000) }
}

describe("rr16c S2: after a discovery reset the Redis checkpoint stays the old chain's until the new chain passes it by 100 blocks", () => {
  test("fixed (f16e): the leader rewrites Redis at the reset; a failover leader restores the new chain's checkpoint and serves S, not T", async () => {
    const r = await failoverAfterReset()
    expect(r.oldBlock).toBe("336")
    expect(r.leaderServes).toEqual([S])
    expect(r.stillOld).toBe(false) // rewritten at the reset
    expect(r.restored).toBe(true)
    expect(r.served).toEqual([S])
  })

  test("FAILS TODAY (fixed f16e): after a reset, the new leader serves the new chain's Safes (S) and not the old chain's", async () => {
    const r = await failoverAfterReset()
    expect(r.served).toEqual([S])
  })
})

describe("rr16c S3: a head below discovery.fromBlock - 1 counts a reset at every head", () => {
  const run = async () => {
    const metrics = new KeeperMetrics()
    const d = discoveryOf(nodeOf(registered(S, 600n)), 500n, metrics)
    for (let head = 100n; head <= 200n; head += 10n) await d.sync(head)
    const text = metrics.render()
    const resets = Number(/levpilot_discovery_resets_total(?:\{\})? (\d+)/.exec(text)?.[1] ?? "0")
    return { resets }
  }

  test("FAILS TODAY (fixed f16e): no reset is counted while nothing past fromBlock was confirmed", async () => {
    expect((await run()).resets).toBe(0)
  })
})
