import { Redis } from "ioredis"
import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { FleetKeeper } from "../bundler-client/src/keeper/fleet/fleetKeeper"
import { RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"
import { type FleetEnv, fleetHealth } from "./fleetEnv"
import { fleetWithRedis, keeperOpsOf, queueConfigJson, safesOf, startNode } from "./fleetQueue"
import { startRpcProxy, waitFor } from "./keeperProbes"
import type { RedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer

fleetWithRedis((env, server) => {
  f = env
  redis = server
})

/** Where the SDK places the lens for its batched read (`LENS_SCRATCH_ADDRESS` of sdk/src/actions/getSafeStates.ts). */
const LENS_SCRATCH_ADDRESS = "0x1e25000000000000000000000000000000001e25"

/** Milliseconds every batched read (the lens's `readSafes` eth_call) waits at the node: 3.5 blocks of the devnet's 1 s. */
const READ_DELAY_MS = 3_500

/**
 * The node's RPC through a proxy that holds every batched read (the lens's `readSafes` at a block, by hash or number) for
 * {@link READ_DELAY_MS}: each block's steps reach the keeper when the head is already 3+ blocks past the block they were
 * read at (an overloaded fleet's lag). `lags` gets head - read block for each read, when it is answered.
 */
async function laggingReads() {
  const proxy = await startRpcProxy(f.env.devnet.rpcUrl)
  const lags: bigint[] = []
  proxy.state.intercept = async (request, forward) => {
    if (request.method !== "eth_call") return undefined
    // The read is pinned to the head's block: by hash (EIP-1898, review rr16c S1), or by number.
    const [call, at] = (request.params ?? []) as [{ to?: string }, string | { blockHash?: `0x${string}` } | undefined]
    const byHash = typeof at === "object" ? at.blockHash : undefined
    if (call?.to?.toLowerCase() !== LENS_SCRATCH_ADDRESS.toLowerCase() || (byHash === undefined && (typeof at !== "string" || !at.startsWith("0x")))) return undefined
    await new Promise((done) => setTimeout(done, READ_DELAY_MS))
    const body = await forward()
    const block = byHash !== undefined ? (await f.env.publicClient.getBlock({ blockHash: byHash })).number : BigInt(at as string)
    lags.push((await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) - block)
    return { body }
  }
  return { proxy, lags }
}

describe("fleet: a keeper that falls behind the head (overload)", () => {
  test("still rebalances a due Safe when every scan lags 3+ blocks behind the head: its step and send run on the late read (no newer step of the Safe is queued), exactly one operation", async () => {
    const [edge] = (await f.createSafes([fleetHealth.edge])) as [Address]
    const { proxy, lags } = await laggingReads()
    const config = f.fleetConfig(queueConfigJson(f, redis.url, [edge], { rpcUrl: proxy.url }))
    const { node, events } = await startNode(f, config)
    try {
      const from = await f.shock(0.9)
      // Before the fix: every step job is dropped as "superseded" (its block + 2 <= the head), so the Safe is never
      // even observed, and a plan that got that far would be dropped at its send slot by the same rule.
      await waitFor("the out-of-band Safe's rebalance included", () => events.find((e) => e.type === "included") ?? undefined, 60_000)
      // A few more lagging blocks: late steps read before the inclusion must not plan a second operation.
      await new Promise((done) => setTimeout(done, 2 * READ_DELAY_MS))
      // The reads really lagged: every batched read answered 3+ blocks behind the head it was made at.
      expect(lags.length).toBeGreaterThan(0)
      expect(lags.every((l) => l >= 3n), `head - read block per batched read: ${lags.join(", ")}`).toBe(true)
      const sent = events.filter((e): e is KeeperEvent & { type: "sent" } => e.type === "sent")
      expect(safesOf(events, "sent")).toEqual([getAddress(edge)])
      // Never two operations for the Safe: the one sent is the one on chain, and it succeeded.
      const ops = await keeperOpsOf(f, edge, from)
      expect(ops.length).toBe(1)
      expect(ops[0]?.args.success).toBe(true)
      expect(sent.length).toBe(1)
    } finally {
      await node.stop()
      await proxy.stop()
    }
  }, 180_000)

  test("embedded (one process): the same lag, the due Safe rebalanced once on its late read", async () => {
    const [edge] = (await f.createSafes([fleetHealth.edge])) as [Address]
    const { proxy, lags } = await laggingReads()
    const events: KeeperEvent[] = []
    const keeper = new FleetKeeper(f.fleetConfig({ rpcUrl: proxy.url, allowlist: [edge], resubmitAfterBlocks: 1_000, fleet: { batchSize: 4, refreshEveryBlocks: 1_000_000 } }), {
      chain: f.env.devnet.chain,
      onEvent: (e) => events.push(e),
    })
    try {
      await keeper.start()
      const from = await f.shock(0.9)
      await waitFor("the out-of-band Safe's rebalance included", () => events.find((e) => e.type === "included" && e.safe.toLowerCase() === edge.toLowerCase()) ?? undefined, 60_000)
      await new Promise((done) => setTimeout(done, 2 * READ_DELAY_MS))
      expect(lags.length).toBeGreaterThan(0)
      expect(lags.every((l) => l >= 3n), `head - read block per batched read: ${lags.join(", ")}`).toBe(true)
      expect(safesOf(events, "sent")).toEqual([getAddress(edge)])
      const ops = await keeperOpsOf(f, edge, from)
      expect(ops.length).toBe(1)
      expect(ops[0]?.args.success).toBe(true)
    } finally {
      await keeper.stop()
      await proxy.stop()
    }
  }, 180_000)

  test("the Redis store keeps the highest step block per Safe (compare-and-set): an older scan's mark, late, does not lower it", async () => {
    const client = new Redis(redis.url)
    try {
      const store = new RedisFleetStore(client, { prefix: `newest${process.pid}`, leaseMs: 1_500 })
      const [a, b] = ["0x00000000000000000000000000000000000000Aa", "0x00000000000000000000000000000000000000bB"] as const
      expect(await store.newestStep(a)).toBeUndefined()
      await store.markSteps([
        [a, 10n],
        [b, 7n],
      ])
      await store.markSteps([[a, 12n]])
      await store.markSteps([
        [a, 11n],
        [b, 9n],
      ])
      expect(await store.newestStep(a)).toBe(12n)
      expect(await store.newestStep(b)).toBe(9n)
      expect(await store.newestStep(a.toLowerCase() as Address)).toBe(12n)
    } finally {
      client.disconnect()
    }
  })
})
