import { Redis } from "ioredis"
import { pino } from "pino"
import type { Address, PublicClient } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { forkingNode } from "../bundler-client/src/keeper/fleet/blockReads.testing"
import { type Head, HeadPoller } from "../bundler-client/src/keeper/fleet/head"
import { SET_HEAD, setHeadArgs, storedHeadOffChain } from "../bundler-client/src/keeper/fleet/queueNode"
import { RedisFleetStore, fleetKeys } from "../bundler-client/src/keeper/fleet/redisStore"
import { stateOf } from "../bundler-client/src/keeper/fleet/scan.testing"
import { FleetStep } from "../bundler-client/src/keeper/fleet/step"
import { KeeperEvents } from "../bundler-client/src/keeper/events"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import { SAFE, STEP_RISK } from "../bundler-client/src/keeper/testing"
import { type RedisServer, startRedisServer } from "./redisServer"

// Review rr16h H3: f16k made `<prefix>:head` move only up unless the head is `moved` (a reorg or reset the poller
// proved). A new leader's HeadPoller never marks its first head `moved`. After a devnet reset on the same Redis prefix
// (anvil restarted, keeper restarted: the case FleetStep.newerStep's head check exists for), the fleet's head stays at
// the old chain's height, so the old chain's newest-step marks (same chain id, same CREATE2 Safe addresses) supersede
// every step of those Safes until the new chain passes them. Real Redis (started by the test).

let redis: RedisServer
const connections: Redis[] = []
beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  for (const c of connections) c.disconnect()
  await redis?.stop()
})

/** The first head a fresh HeadPoller (a new leader) dispatches, on a chain at block `n`. */
async function firstHead(n: bigint): Promise<Head> {
  const client = { getBlock: async () => ({ number: n, hash: `0x${n.toString(16).padStart(64, "0")}`, parentHash: `0x${(n - 1n).toString(16).padStart(64, "0")}`, timestamp: 1_000n + n }) } as unknown as PublicClient
  let now = 0
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  const poller = new HeadPoller({ client, clock: { now: () => now, sleep: async (ms: number) => void (now += ms) } as never, metrics, logger, events: new KeeperEvents({ logger, metrics }), pollIntervalMs: 250, waitShare: 0.8 })
  let seen: Head | undefined
  const got = new Promise<void>((resolve) =>
    poller.start(async (h) => {
      seen ??= h
      resolve()
    }),
  )
  await got
  await poller.stop()
  return seen!
}

async function stepAfterReset(prefix: string, write: (headKey: string, head: Head, connection: Redis) => Promise<unknown>) {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null })
    connections.push(connection)
    const headKey = fleetKeys(prefix).head
    const store = new RedisFleetStore(connection, { prefix, leaseMs: 10_000 })
    const config = {
      deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", leverageModule: "0x00000000000000000000000000000000000000d1", adapters: {} },
      resubmitAfterBlocks: 40, stallAfterBlocks: 120, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK,
      costs: { gasPriceGwei: 1, nativePrice: 3000 }, retry: { baseMs: 1_000, maxMs: 60_000 },
    }
    store.bind({ chainId: 31337, entryPoint: config.deployment.entryPoint as Address, module: config.deployment.leverageModule as Address, keeper: "0x00000000000000000000000000000000000000a1" })
    // The old chain: the leader recorded head 5000, a step of the Safe was queued at 4990.
    await connection.eval(SET_HEAD, 1, headKey, "5000", "0")
    await store.markSteps([[SAFE as Address, 4990n]])
    // anvil restarted, the keeper restarted: the new leader's first head is block 3, written as queueNode.lead does.
    const head = await firstHead(3n)
    await write(headKey, head, connection)
    console.log("rr16h H3", JSON.stringify({ moved: head.moved ?? false, fleetHead: await connection.get(headKey) }))
    const logger = pino({ level: "silent" })
    const metrics = new KeeperMetrics()
    const step = new FleetStep({
      config: config as never, clients: { publicClient: forkingNode(10_000n).client } as never, store, keeper: privateKeyToAccount(`0x${"11".repeat(32)}`),
      metrics, logger, events: new KeeperEvents({ logger, metrics }), clock: { now: () => 1_700_000_000_000 } as never, dryRun: false,
      head: async () => {
        const h = await connection.get(headKey)
        return h === null ? undefined : BigInt(h)
      },
    })
    const state = { ...stateOf(SAFE as Address), paused: true }
    const outcome = await step.run({ safe: SAFE as Address, block: 3n, hash: undefined, timestamp: 1_003n, state: state as never, userOps: [] })
    console.log("rr16h H3 outcome", outcome)
    return outcome
}

describe("rr16h H3: <prefix>:head after a devnet reset and a keeper restart", () => {
  test("control: the head written as before f16k (each dispatched head, plain SET): the old mark is ignored, the step runs", async () => {
    expect(await stepAfterReset("rr16h-control", (key, head, c) => c.set(key, head.number.toString()))).not.toBe("superseded")
  })
  // The new chain (blocks 0..3, hash = number) answers eth_getBlockByNumber only up to its head.
  const newChain = {
    getBlock: async ({ blockNumber }: { blockNumber: bigint }) => {
      if (blockNumber > 3n) throw new Error(`Block at number "${blockNumber}" could not be found.`)
      return { hash: `0x${blockNumber.toString(16).padStart(64, "0")}` as `0x${string}` }
    },
  }
  /** As queueNode.lead writes a leader's first head (f16l: storedHeadOffChain, then SET_HEAD with the hash). */
  const leaderWrite = (client: typeof newChain) => async (key: string, head: Head, c: Redis) => {
    const keys = { head: key, headHash: `${key}:hash` }
    const off = await storedHeadOffChain(c, keys, client, head)
    return c.eval(...setHeadArgs(keys, head, (head.moved ?? false) || off))
  }
  test("rr16h H3 (fixed f16l): the new leader's first head (block 3) replaces the old chain's <prefix>:head 5000 (no block 5000 on this chain); the step at block 3 is not superseded", async () => {
    expect(await stepAfterReset("rr16h-reset", leaderWrite(newChain))).not.toBe("superseded")
  })
  test("f16l: the stored head's block exists on this chain with another hash (reset to a chain as high): replaced", async () => {
    const high = { getBlock: async () => ({ hash: `0x${"ee".repeat(32)}` as `0x${string}` }) }
    const c = new Redis(redis.url, { maxRetriesPerRequest: null })
    connections.push(c)
    const keys = { head: "f16l-hash:head", headHash: "f16l-hash:head:hash" }
    await c.eval(SET_HEAD, 2, keys.head, keys.headHash, "5000", "0", `0x${"ab".repeat(32)}`)
    const head = { number: 4_990n, hash: `0x${"cd".repeat(32)}`, timestamp: 1n, seenAt: 0 } as Head
    expect(await storedHeadOffChain(c, keys, high, head)).toBe(true)
    await c.eval(...setHeadArgs(keys, head, true))
    expect(await c.mget(keys.head, keys.headHash)).toEqual(["4990", head.hash])
  })
  test("f16l control (rr16g G1): a backend a few blocks behind (stored head 5000 not found, head 4998) or the same block hash: the head stays", async () => {
    const c = new Redis(redis.url, { maxRetriesPerRequest: null })
    connections.push(c)
    const keys = { head: "f16l-lag:head", headHash: "f16l-lag:head:hash" }
    const hash = `0x${"ab".repeat(32)}`
    await c.eval(SET_HEAD, 2, keys.head, keys.headHash, "5000", "0", hash)
    const head = { number: 4_998n, hash: `0x${"cd".repeat(32)}`, timestamp: 1n, seenAt: 0 } as Head
    const lagging = { getBlock: async () => { throw new Error("not found") } }
    expect(await storedHeadOffChain(c, keys, lagging, head)).toBe(false)
    expect(await storedHeadOffChain(c, keys, { getBlock: async () => ({ hash: hash as `0x${string}` }) }, { ...head, number: 3n })).toBe(false)
    await c.eval(...setHeadArgs(keys, head))
    expect(await c.get(keys.head)).toBe("5000")
  })
})
