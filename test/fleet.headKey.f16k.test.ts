import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { SET_HEAD } from "../bundler-client/src/keeper/fleet/queueNode"
import { type RedisServer, startRedisServer } from "./redisServer"

// f16k (review rr16g G1): the fleet's shared `<prefix>:head` never moves back to a stale head (a new leader's first
// answer from a lagging backend); only a head the poller proved a reorg or a reset (`Head.moved`) lowers it.
let server: RedisServer
let redis: Redis
beforeAll(async () => {
  server = await startRedisServer()
  redis = new Redis(server.url)
})
afterAll(async () => {
  redis?.disconnect()
  await server?.stop()
})

describe("SET_HEAD on a real Redis", () => {
  test("higher heads set it, a stale lower head does not, a proven reorg does", async () => {
    const key = "f16k:head"
    const set = (n: number, moved: boolean) => redis.eval(SET_HEAD, 1, key, String(n), moved ? "1" : "0")
    expect(await set(110, false)).toBe(1)
    expect(await set(100, false)).toBe(0)
    expect(await redis.get(key)).toBe("110")
    expect(await set(111, false)).toBe(1)
    expect(await set(109, true)).toBe(1)
    expect(await redis.get(key)).toBe("109")
    // 10 and 9 digits: compared as numbers, not strings.
    expect(await set(999_999_999, false)).toBe(1)
    expect(await set(1_000_000_000, false)).toBe(1)
    expect(await redis.get(key)).toBe("1000000000")
  })
})
