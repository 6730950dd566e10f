import { type Server, type Socket, connect, createServer } from "node:net"
import { Redis } from "ioredis"
import type { Address } from "viem"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { FLEET_STORE_REDIS_OPTIONS, RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"
import { StoreFencedError } from "../bundler-client/src/keeper/store"
import { SAFE } from "../bundler-client/src/keeper/testing"
import { type RedisServer, startRedisServer } from "./redisServer"

// Break-it review rr17a of 0b6e6a1 (review rr16c I1's fix: after `SET key token PX NX` answers null,
// `RedisFleetStore.acquire` GETs the key and takes its own token as its lease).
//
// "what held": the fix on ioredis' real resend. A TCP proxy between the store's client (FLEET_STORE_REDIS_OPTIONS) and a
// real redis-server forwards the lease's SET, swallows Redis' answer and closes the client's connection; ioredis
// reconnects and sends the SET again (`autoResendUnfulfilledCommands`), which answers null. The lead's test runs the SET
// twice through a Proxy of the client; this one goes through ioredis' own reconnect and resend.
//
// F1 (finding, fixed: the read-back is the RENEW script, which resets the expiry): the lease taken by the read-back keeps the TTL the SET's first run gave it
// (`leaseMs` counted from that run), not `leaseMs` from the read-back: the store's first renewal comes `leaseMs / 3`
// after acquire returned, so when the resend came more than 2/3 of `leaseMs` after the first run (a reconnect that took
// that long: bounded by `commandTimeout`, 5 s, on the store's connection), the lease expires before it is ever renewed and
// another worker takes it while this one holds it in its `held` map (its fenced writes refused: StoreFencedError).

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

let server: RedisServer
const clients: Redis[] = []
const servers: Server[] = []

beforeAll(async () => {
  server = await startRedisServer()
})
afterAll(async () => {
  for (const c of clients) c.disconnect()
  for (const s of servers) s.close()
  await server?.stop()
})

/**
 * A TCP proxy to the test's redis-server. The first connection forwards everything until a command containing
 * `dropAfter` (the lease key) was forwarded; Redis' next answer on it is swallowed and the client's connection closed
 * (the SET ran; its answer lost). Every later connection is forwarded once `reconnectDelayMs` passed since that drop.
 *
 * @returns The proxy's URL, the time of the drop (ms since epoch, undefined before) and how many commands naming the
 *   key were forwarded to Redis (the SET's runs).
 */
async function lossyProxy(dropAfter: string, reconnectDelayMs: number) {
  const state = { droppedAt: undefined as number | undefined, forwarded: 0, connections: 0 }
  const target = new URL(server.url)
  const proxy = createServer((client: Socket) => {
    const n = ++state.connections
    client.pause()
    const open = () => {
      const upstream = connect(Number(target.port), target.hostname)
      let armed = false
      client.on("data", (chunk: Buffer) => {
        if (chunk.toString("latin1").includes(dropAfter)) {
          state.forwarded++
          if (n === 1) armed = true
        }
        upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        if (armed) {
          state.droppedAt = Date.now()
          client.destroy()
          upstream.destroy()
          return
        }
        client.write(chunk)
      })
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
      client.on("error", () => {})
      upstream.on("error", () => {})
      client.resume()
    }
    if (n === 1) open()
    else setTimeout(open, Math.max(0, (state.droppedAt ?? Date.now()) + reconnectDelayMs - Date.now()))
  })
  servers.push(proxy)
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r))
  const port = (proxy.address() as { port: number }).port
  return { url: `redis://127.0.0.1:${port}`, state }
}

/** A client with the fleet store's own options (queueNode.ts: `FLEET_STORE_REDIS_OPTIONS`). */
async function storeClient(url: string): Promise<Redis> {
  const redis = new Redis(url, { ...FLEET_STORE_REDIS_OPTIONS })
  redis.on("error", () => {})
  clients.push(redis)
  if (redis.status !== "ready") await new Promise((r) => redis.once("ready", r))
  return redis
}

const keyOf = (prefix: string) => `${prefix}:lease:${(SAFE as string).toLowerCase()}`

describe("rr17a, what held: rr16c I1's read-back on ioredis' own resend (real Redis, the SET's answer lost by a proxy)", () => {
  test("the SET runs twice (first run's answer lost, the resend answers null) and acquire takes the lease: this worker's token, renewed, released by it; a second worker is busy", async () => {
    const prefix = "rr17a-held"
    const proxy = await lossyProxy(keyOf(prefix), 0)
    const redis = await storeClient(proxy.url)
    const direct = await storeClient(server.url)
    const store = new RedisFleetStore(redis, { prefix, leaseMs: 1_500 })
    const other = new RedisFleetStore(direct, { prefix, leaseMs: 1_500 })
    expect(await store.acquire(SAFE as Address)).toBe(true)
    // The SET ran twice on the server (the first run's answer was swallowed, ioredis sent it again on reconnect).
    expect(proxy.state.droppedAt).toBeDefined()
    expect(proxy.state.connections).toBe(2)
    expect(proxy.state.forwarded).toBeGreaterThanOrEqual(2)
    const token = await direct.get(keyOf(prefix))
    expect(token).not.toBeNull()
    // Renewed past leaseMs; another worker is busy meanwhile.
    await sleep(2_000)
    expect(await direct.get(keyOf(prefix))).toBe(token)
    expect(await other.acquire(SAFE as Address)).toBe(false)
    // Its fenced writes run; its release deletes the lease.
    await store.saveRuntime(SAFE as Address, { failures: 0 } as never)
    await store.release(SAFE as Address)
    expect(await direct.exists(keyOf(prefix))).toBe(0)
    expect(await other.acquire(SAFE as Address)).toBe(true)
    await other.release(SAFE as Address)
  }, 20_000)
})

describe("rr17a F1: a lease taken by the read-back keeps the TTL of the SET's first run", () => {
  // leaseMs 3,000 (renewed every 1,000 ms); the client reconnects 2,200 ms after the SET ran (within commandTimeout,
  // 5,000 ms, so the resend's null answer reaches acquire). Today: acquire true ~2.2 s after the SET ran with ~0.8 s of
  // TTL left, the first renewal ~1 s later: the key expires in between and the second worker takes the Safe while the
  // first still holds it (measured: other.acquire true, the first worker's fenced write refused).
  // Fixed: the read-back is the renewal script (token checked, expiry reset to leaseMs in one step).
  test("rr17a F1 (fixed): no other worker takes the Safe while the worker whose read-back took its lease still holds it (its first leaseMs / 3)", async () => {
    const prefix = "rr17a-f1"
    const leaseMs = 3_000
    const proxy = await lossyProxy(keyOf(prefix), 2_200)
    const redis = await storeClient(proxy.url)
    const direct = await storeClient(server.url)
    const store = new RedisFleetStore(redis, { prefix, leaseMs })
    const other = new RedisFleetStore(direct, { prefix, leaseMs })
    expect(await store.acquire(SAFE as Address)).toBe(true)
    const acquiredAt = Date.now()
    const left = await direct.pttl(keyOf(prefix))
    // Until just before this worker's first renewal (leaseMs / 3 after acquire), the other worker tries every 50 ms.
    const taken: number[] = []
    while (Date.now() - acquiredAt < leaseMs / 3 - 100) {
      if (await other.acquire(SAFE as Address)) taken.push(Date.now() - acquiredAt)
      await sleep(50)
    }
    // What the first worker then finds: its fenced write refused when the other took the lease.
    const write = await store.saveRuntime(SAFE as Address, { failures: 0 } as never).then(
      () => "written",
      (e: unknown) => (e instanceof StoreFencedError ? "fenced" : String(e)),
    )
    store.dropLeases()
    other.dropLeases()
    await direct.del(keyOf(prefix))
    expect({ taken, write, ttlAtAcquire: left >= leaseMs - 500 ? "full" : `${left} ms` }).toEqual({ taken: [], write: "written", ttlAtAcquire: "full" })
  }, 20_000)
})
