import { Redis } from "ioredis"
import type { Address } from "viem"
import { foundry } from "viem/chains"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { FleetNode } from "../bundler-client/src/keeper/fleet/queueNode"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import { FLEET_STORE_REDIS_OPTIONS, RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"
import { fleetStepOf, stateOf, stepConfigOf, stepFixture } from "../bundler-client/src/keeper/fleet/scan.testing"
import type { MemoryFleetStore } from "../bundler-client/src/keeper/fleet/store"
import { StoreUnavailableError } from "../bundler-client/src/keeper/store"
import { SAFE } from "../bundler-client/src/keeper/testing"
import { captureLogs, waitFor } from "./keeperProbes"
import { type RedisServer, redisOnlyFleetConfig, startRedisServer } from "./redisServer"

// Break-it review rr16c of lo16 (6211d62: `RedisFleetStore.acquire` throws StoreUnavailableError when Redis cannot run
// the lease's `SET NX`, and `FleetStep.run` reports it as `store-halted` / `state-store-unavailable`). Real Redis
// (started by the test) where the behaviour depends on the server or on ioredis' connection handling; a stub where a
// reply must be lost after the SET ran.
//
// K1 (finding): the fleet node's connection is `new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false })`
// (queueNode.ts, BullMQ requires it). With it, a command issued while the server cannot be reached is queued by ioredis
// (offline queue, reconnecting for ever) and never rejected, so the lease's SET of a step taken during an outage neither
// fails nor answers: the step hangs (no `store-halted`, no `state-store-unavailable` alert) and, once Redis is back, the
// queued SET runs and the step of the old block goes on. The lo16 tests reach the new path only with a client closed by
// `disconnect()` (status "end"), which the node's client never is; an error reply (OOM, READONLY) does reach it.

/** The tracked-only state of SAFE (paused): a step that acquires the lease reads the in-flight record and returns. */
const paused = { ...stateOf(SAFE as Address), paused: true }
const item = (block: bigint) => ({ safe: SAFE as Address, block, timestamp: 1_000n, state: paused as never, userOps: [] })
const sleep = (ms: number) => new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))

/** A FleetStep of SAFE on `store`, its alerts (`"<block> <kind>"`). */
async function fleetOn(store: RedisFleetStore) {
  const { events, logger, metrics } = await stepFixture()
  const step = fleetStepOf({ config: stepConfigOf(), publicClient: { getBlockNumber: async () => 200n, getLogs: async () => [] }, store: store as unknown as MemoryFleetStore, metrics, logger, events, dryRun: false })
  const alerts = () => events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { step, alerts }
}

let server: RedisServer
const clients: Redis[] = []
/** A client with the fleet node's options (queueNode.ts `connect`). */
async function nodeClient(): Promise<Redis> {
  const redis = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: false })
  redis.on("error", () => {})
  clients.push(redis)
  if (redis.status !== "ready") await new Promise((r) => redis.once("ready", r))
  return redis
}

/** A client with the fleet store's own options (queueNode.ts: `FLEET_STORE_REDIS_OPTIONS`). */
async function storeClient(): Promise<Redis> {
  const redis = new Redis(server.url, { ...FLEET_STORE_REDIS_OPTIONS })
  redis.on("error", () => {})
  clients.push(redis)
  if (redis.status !== "ready") await new Promise((r) => redis.once("ready", r))
  return redis
}

beforeAll(async () => {
  server = await startRedisServer()
})
afterAll(async () => {
  for (const c of clients) c.disconnect()
  await server?.stop()
})

describe("rr16c K1: the lease's SET during a Redis outage, on the fleet node's connection", () => {
  // The finding, gated: what lo16 promises for "Redis could not run the SET" (store-halted, one alert, nothing sent)
  // when the server is unreachable. Fails today: after 2 s the step has no outcome and nothing is alerted.
  // Fixed: the node's store has its own connection (FLEET_STORE_REDIS_OPTIONS: maxRetriesPerRequest 1, commandTimeout).
  test("rr16c K1 (fixed): a step taken while Redis is down is store-halted with one state-store-unavailable alert within 2 s", async () => {
    const redis = await storeClient()
    const store = new RedisFleetStore(redis, { prefix: "rr16c-k1-skip", leaseMs: 30_000 })
    const { step, alerts } = await fleetOn(store)
    await server.kill()
    try {
      const outcome = await Promise.race([step.run(item(101n)), sleep(2_000)])
      expect(outcome).toBe("store-halted")
      expect(alerts()).toEqual(["101 state-store-unavailable"])
    } finally {
      await server.start()
    }
  })

  // Why the store needs its own connection (measured; the node's store used BullMQ's connection until the fix): on
  // BullMQ's options the step waits for Redis, with no outcome and no alert, and the step of block 101 runs once Redis is
  // back (its SET queued by ioredis ran then).
  test("on BullMQ's connection options the step hangs while Redis is down (no outcome, no alert after 2 s) and runs its old block once Redis is back", async () => {
    const redis = await nodeClient()
    const store = new RedisFleetStore(redis, { prefix: "rr16c-k1", leaseMs: 30_000 })
    const { step, alerts } = await fleetOn(store)
    await server.kill()
    // The SET itself (not only the step's earlier newest-step read, which waits the same way): queued, no answer.
    const acquired = store.acquire(SAFE as Address)
    const run = step.run(item(101n))
    try {
      expect(await Promise.race([acquired, sleep(2_000)])).toBe("pending")
      expect(await Promise.race([run, sleep(10)])).toBe("pending")
      expect(alerts()).toEqual([])
    } finally {
      await server.start()
    }
    // Once Redis is back the queued SET takes the lease for the direct call; the step finds it held by this process.
    expect(await acquired).toBe(true)
    expect(await run).toBe("busy")
    await store.release(SAFE as Address)
    expect(await step.run(item(101n))).toBe("tracked-only")
    expect(alerts()).toEqual([])
    // The SET that was queued during the outage took the lease after it (released at the end of the step).
    const probe = await nodeClient()
    expect(await probe.exists(`rr16c-k1:lease:${(SAFE as string).toLowerCase()}`)).toBe(0)
    store.dropLeases()
  })

  // Control (the lo16 tests' client): a client closed by disconnect() rejects at once ("Connection is closed.").
  test("control: a client closed by disconnect() fails the SET at once: store-halted, one alert", async () => {
    const redis = await nodeClient()
    redis.disconnect()
    const store = new RedisFleetStore(redis, { prefix: "rr16c-k1c", leaseMs: 30_000 })
    const { step, alerts } = await fleetOn(store)
    expect(await Promise.race([step.run(item(101n)), sleep(2_000)])).toBe("store-halted")
    expect(alerts()).toEqual(["101 state-store-unavailable"])
  })
})

describe("what held: an error reply to the lease's SET (the path lo16 added, real Redis)", () => {
  test("Redis over its maxmemory (OOM, noeviction) refuses the SET: StoreUnavailableError access write naming OOM; the step is store-halted, one alert for two blocks, no lease left", async () => {
    const admin = await nodeClient()
    const redis = await nodeClient()
    const store = new RedisFleetStore(redis, { prefix: "rr16c-oom", leaseMs: 30_000 })
    const { step, alerts } = await fleetOn(store)
    await admin.config("SET", "maxmemory-policy", "noeviction")
    await admin.config("SET", "maxmemory", "1")
    try {
      const thrown = await store.acquire(SAFE as Address).catch((e: unknown) => e)
      expect(thrown).toBeInstanceOf(StoreUnavailableError)
      expect((thrown as StoreUnavailableError).access).toBe("write")
      expect((thrown as Error).message).toMatch(/could not write the lease of Safe 0x[0-9a-fA-F]{40} \(OOM command not allowed/)
      expect(await step.run(item(101n))).toBe("store-halted")
      expect(await step.run(item(102n))).toBe("store-halted")
      expect(alerts()).toEqual(["101 state-store-unavailable"])
      expect(await admin.exists(`rr16c-oom:lease:${(SAFE as string).toLowerCase()}`)).toBe(0)
    } finally {
      await admin.config("SET", "maxmemory", "0")
    }
    // Redis writable again: the next block steps (tracked-only: paused) and releases its lease.
    expect(await step.run(item(103n))).toBe("tracked-only")
    expect(await admin.exists(`rr16c-oom:lease:${(SAFE as string).toLowerCase()}`)).toBe(0)
  })
})

describe("what held (documented residual): a SET that ran but whose answer was lost", () => {
  test("store-halted and one alert at the lost answer; then busy (no alert, no renewal, no release) until the lease expires after leaseMs; then the Safe steps", async () => {
    let now = 0
    let lose = true
    const keys = new Map<string, { token: string; expires: number }>()
    const evals: string[] = []
    const stub = {
      set: async (key: string, token: string, _px: string, ms: number, _nx: string) => {
        const held = keys.get(key)
        const taken = held === undefined || held.expires <= now
        if (taken) keys.set(key, { token, expires: now + ms })
        if (lose) throw new Error("Connection is closed.") // the SET ran; its answer never came back
        return taken ? "OK" : null
      },
      eval: async (script: string, _n: number, key: string, token: string) => {
        evals.push(/DEL/.test(script) ? "release" : /PEXPIRE/.test(script) ? "renew" : "other")
        const held = keys.get(key)
        if (held?.token !== token || held.expires <= now) return 0
        if (/DEL/.test(script)) keys.delete(key)
        return 1
      },
      hget: async () => null,
    }
    const store = new RedisFleetStore(stub as never, { prefix: "rr16c-lost", leaseMs: 30_000 })
    const { step, alerts } = await fleetOn(store)
    expect(await step.run(item(101n))).toBe("store-halted")
    expect((store as unknown as { held: Map<string, unknown> }).held.size).toBe(0)
    lose = false
    const outcomes: string[] = []
    for (const block of [102n, 103n, 104n]) {
      now += 12_000 // 12 s blocks: 12, 24, 36 s after the lost answer
      outcomes.push(await step.run(item(block)))
    }
    expect(outcomes).toEqual(["busy", "busy", "tracked-only"])
    expect(alerts()).toEqual(["101 state-store-unavailable"])
    // Each busy step checks whether the null answer was its own SET's (the renewal script with its own fresh token,
    // reviews rr16c I1 / rr17a F1): refused both times, so the lost lease is never renewed; one release at 104.
    expect(evals).toEqual(["renew", "renew", "release"])
    expect(keys.size).toBe(0)
  })
})

describe("rr16c I1 (fixed): a lease SET that Redis ran, whose answer was lost and which ioredis sent again on reconnect", () => {
  // ioredis' autoResendUnfulfilledCommands: the SET NX of this attempt's token ran, its answer was lost with the
  // connection, and the same command runs again on the new one. The second run finds the attempt's own token and answers
  // null. Before: acquire returned false, the step was "busy" with no alert until the lease expired (leaseMs, 30 s by
  // default). Real Redis; the client runs the lease's SET twice, as the resend does, and answers the second reply.
  test("the lease is this worker's (acquire true, renewed, released by it); another worker's lease still answers busy", async () => {
    const redis = await storeClient()
    const resending = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop === "set") return async (...args: Parameters<Redis["set"]>) => (await target.set(...args), await target.set(...args))
        const value = Reflect.get(target, prop, receiver) as unknown
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    const store = new RedisFleetStore(resending as never, { prefix: "rr16c-i1", leaseMs: 1_200 })
    const key = `rr16c-i1:lease:${(SAFE as string).toLowerCase()}`
    expect(await store.acquire(SAFE as Address)).toBe(true)
    // Renewed by this worker past its first leaseMs.
    await sleep(1_800)
    expect(await redis.exists(key)).toBe(1)
    await store.release(SAFE as Address)
    expect(await redis.exists(key)).toBe(0)
    // Another worker's lease (another token) is still busy, not taken over.
    await redis.set(key, "another-worker", "PX", 30_000)
    expect(await store.acquire(SAFE as Address)).toBe(false)
    expect(await redis.get(key)).toBe("another-worker")
    await redis.del(key)
  })
})

describe("rr16c K1 (fixed), the fleet node itself: its store fails fast while Redis is down and works again after", () => {
  test("a worker node's store.acquire during an outage rejects with StoreUnavailableError (write) within 2 s; after Redis is back it takes the lease", async () => {
    const config = redisOnlyFleetConfig(server.url, "rr16c-node")
    const { logger } = captureLogs()
    const node = new FleetNode(config, { chain: foundry, logger, metrics: new KeeperMetrics(), lead: false })
    await node.start()
    try {
      await server.kill()
      let thrown: unknown
      try {
        thrown = await Promise.race([node.store.acquire(SAFE as Address).catch((e: unknown) => e), sleep(2_000)])
      } finally {
        await server.start()
      }
      expect(thrown).toBeInstanceOf(StoreUnavailableError)
      expect((thrown as StoreUnavailableError).access).toBe("write")
      // The connection reconnects on its own; the lease is taken once Redis answers again.
      await waitFor("the store answering again", async () => ((await node.store.acquire(SAFE as Address).catch(() => undefined)) === true ? true : undefined))
      await node.store.release(SAFE as Address)
    } finally {
      await node.stop()
    }
  })
})
